"""Database engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

# Connections per process: what `Database` uses when not told otherwise
# (workers, the CLI); the server takes them from its settings.
DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_OVERFLOW = 10
DEFAULT_POOL_TIMEOUT_S = 10.0
DEFAULT_BUSY_TIMEOUT_S = 30.0


def make_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
    pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    **kwargs: Any,
) -> Engine:
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout_s}
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
            **({} if in_memory else pool),
            **kwargs,
        )
        _configure_sqlite(engine, busy_timeout_s)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    # WAL lets readers go on while one writer commits; foreign keys are off by
    # default in SQLite. We issue BEGIN ourselves (pysqlite's implicit BEGIN is
    # deferred) so that a session can take the write lock up front (BEGIN
    # IMMEDIATE, see `Database.session`).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "sqlite"


# SQLSTATEs that mean "the database is busy, the same request may succeed in a
# moment": lock_not_available (lock_timeout), too_many_connections,
# serialization_failure, deadlock_detected.
_PG_BUSY_STATES = frozenset({"55P03", "53300", "40001", "40P01"})


def is_busy(exc: BaseException) -> bool:
    """True for errors that mean "busy, try again shortly", not "broken": no
    free pooled connection in time, SQLite's write lock not obtained within the
    busy timeout, a PostgreSQL lock or connection limit."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _PG_BUSY_STATES:
        return True
    message = str(orig).lower()
    return "database is locked" in message or "database table is locked" in message


class Database:
    """An engine plus its session factories; one per process."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # On SQLite a deferred transaction that reads, then writes, is refused
        # at once ("database is locked", whatever the busy timeout) when
        # another connection committed since its read: the upgrade from read
        # to write lock cannot wait. A transaction that begins IMMEDIATE takes
        # the write lock up front and so queues on the busy timeout instead.
        # PostgreSQL has no such upgrade: one factory serves both there.
        self._write_sessions = (
            sessionmaker(
                self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"),
                expire_on_commit=False,
            )
            if self.engine.dialect.name == "sqlite"
            else self.sessions
        )

    def new_session(self, *, write: bool = False) -> Session:
        """A session whose transactions begin IMMEDIATE on SQLite when `write`
        (each of them, lazily, at its first statement); the caller closes it."""
        return (self._write_sessions if write else self.sessions)()

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on error (commit at the edge).

        `write=True` for a unit that writes after reading: see `new_session`.
        """
        with self.new_session(write=write) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """`session(write=True)`: takes SQLite's write lock at BEGIN.

        Used where two processes race for the same rows (job claiming,
        publishing a run): on SQLite a deferred transaction that reads then
        writes can fail with "database is locked" instead of waiting; an
        immediate one queues on the busy timeout. On PostgreSQL row locks
        (`FOR UPDATE`) do that job and this is a plain session.
        """
        with self.session(write=True) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
