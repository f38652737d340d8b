"""Telling a lost database connection from every other database error.

A PostgreSQL restart (or a failover, or a network cut) kills the connections
a process holds: the statement running fails, and later ones cannot connect
until the server is back. That is no fault of the work being done, so the job
worker retries it; any other error is the job's own and is reported as such.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError

# SQLSTATE class 08 is "connection exception"; 57P01-57P03 are the server
# shutting down (admin_shutdown, crash_shutdown) or not yet accepting
# connections (cannot_connect_now): all say "the connection went away".
_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _pg_disconnect(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    # No SQLSTATE: libpq's own failures (refused, closed, reset, timed out).
    return state is None or state.startswith("08") or state in _SHUTDOWN_STATES


def _lost(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or (exc.orig is not None and _pg_disconnect(exc.orig))
    return _pg_disconnect(exc)


def connection_lost(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a lost or refused database
    connection; False for every other error, SQLite's "database is locked"
    and PostgreSQL's serialisation failures included."""
    return any(_lost(e) for e in _chain(exc))


def describe(exc: BaseException) -> str:
    """`database connection lost: <driver error>: <first line of its message>`."""
    cause = next((e for e in _chain(exc) if _lost(e)), exc)
    orig = cause.orig if isinstance(cause, DBAPIError) and cause.orig is not None else cause
    message = (str(orig).strip().splitlines() or [""])[0]
    return f"database connection lost: {type(orig).__name__}: {message}"[:500]
