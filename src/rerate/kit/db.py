"""Database engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # WAL lets readers go on while one writer commits; foreign keys are off by
    # default in SQLite. We issue BEGIN ourselves (pysqlite's implicit BEGIN is
    # deferred) so that `begin_immediate` can take the write lock up front,
    # which is how job claiming serialises on SQLite.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.info.pop("sqlite_begin", "BEGIN")
        if conn.get_execution_options().get("sqlite_immediate"):
            mode = "BEGIN IMMEDIATE"
        conn.exec_driver_sql(mode)


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "sqlite"


class Database:
    """An engine plus its session factory; one per process."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Sessions that will write: on SQLite their transaction begins
        # IMMEDIATE, but only when they first touch the database (a request
        # that never queries holds no connection and no lock).
        self.writing_sessions = sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on error (commit at the edge)."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def writing_session(self) -> Iterator[Session]:
        """Like `session`, for units of work that will write: on SQLite the
        transaction begins IMMEDIATE when it first uses a connection (see
        `write_session` for why); no connection is taken before that."""
        with self.writing_sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """Like `session`, but takes SQLite's write lock at BEGIN (BEGIN IMMEDIATE).

        Used where two processes race for the same rows (job claiming,
        publishing a run): on SQLite a deferred transaction that reads then
        writes can fail with "database is locked" instead of waiting; an
        immediate one queues on the busy timeout. On PostgreSQL row locks
        (`FOR UPDATE`) do that job and this is a plain session.
        """
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.info["sqlite_begin"] = "BEGIN IMMEDIATE"
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise

    def dispose(self) -> None:
        self.engine.dispose()
