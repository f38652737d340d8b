"""Only a lost or refused connection counts as "database connection lost"."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rerate.kit.db import Database, is_sqlite
from rerate.kit.disconnect import connection_lost, describe


def _error(db: Database, sql: str) -> Exception:
    with pytest.raises(Exception) as info, db.engine.connect() as conn:  # noqa: PT011 - any
        conn.execute(text(sql))
    return info.value


def test_ordinary_database_errors_are_not_a_lost_connection(database: Database) -> None:
    # SQLite reports a syntax error as OperationalError: still the statement's fault.
    assert not connection_lost(_error(database, "SELEC 1"))
    assert not connection_lost(_error(database, "SELECT * FROM no_such_table"))
    if not is_sqlite(database.engine):
        assert not connection_lost(_error(database, "SELECT 1/0"))


def test_a_refused_connection_is_a_lost_connection(database: Database) -> None:
    if is_sqlite(database.engine):
        pytest.skip("an SQLite file is opened, not connected to")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = make_url(database.url).set(host="127.0.0.1", port=port)
    engine = create_engine(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(Exception) as info, engine.connect():  # noqa: PT011 - any
            pass
    finally:
        engine.dispose()
    assert connection_lost(info.value)
    assert describe(info.value).startswith("database connection lost: OperationalError: ")
