"""Alembic environment: runs against the URL given by rerate.kit.migrate."""

from __future__ import annotations

import warnings

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.exc import SAWarning

from rerate.kit.db import make_engine
from rerate.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction(), warnings.catch_warnings():
        # The unique index on tariff entries (migration 0015) folds NULLs with
        # coalesce(); SQLAlchemy cannot reflect such an index, so the drift
        # check skips it (and says so): expected, not a drift.
        warnings.filterwarnings(
            "ignore",
            message="Skipped unsupported reflection of expression-based index",
            category=SAWarning,
        )
        warnings.filterwarnings(
            "ignore", message="autogenerate skipping metadata-specified expression-based index"
        )
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
