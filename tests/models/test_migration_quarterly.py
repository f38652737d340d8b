"""Migration 0020 (quarterly invoices) goes down to 0017 and up again on both
databases, and the guards it recreates still protect issued invoices after
each step (SQLite's table rebuild drops every trigger on `invoices`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from rerate.kit import migrate
from tests.conftest import DIALECTS, PG_URL, _sqlalchemy_pg_url, skip_or_fail_without_postgres


@pytest.fixture(params=DIALECTS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each dialect, for migrations to build."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/updown.db"
        return
    skip_or_fail_without_postgres()
    import psycopg

    name = f"rerate_updown_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _sqlalchemy_pg_url(PG_URL).rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _issued_invoice(url: str, invoice_id: int, *, quarterly: bool) -> None:
    """An issued invoice (a quarterly one with a projection when the schema
    has the columns), then the edits the guards must refuse."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO nodes (id, kind, name, path, parent_id, created_at) "
                    f"VALUES ({invoice_id}, 'customer', 'C', '/{invoice_id}/', NULL, "
                    "CURRENT_TIMESTAMP)"
                )
            )
            extra = ", projection_method, projected_amount" if quarterly else ""
            values = ", 'average_3_months_x3', 90" if quarterly else ""
            conn.execute(
                text(
                    "INSERT INTO invoices (id, customer_id, period, type, status, version, "
                    "series, number, currency, subtotal, tax_rate, tax, total, rounding_mode, "
                    f"run_ids, created_at, issued_at{extra}) VALUES ({invoice_id}, "
                    f"{invoice_id}, '2026-Q2', 'quarterly', 'issued', 1, 'S1', "
                    f"'P-{invoice_id}', 'EUR', 90, 0, 0, 90, 'ROUND_HALF_UP', '[]', "
                    f"CURRENT_TIMESTAMP, CURRENT_TIMESTAMP{values})"
                )
            )
        edits = [f"UPDATE invoices SET total = 1 WHERE id = {invoice_id}"]
        if quarterly:
            edits.append(f"UPDATE invoices SET projected_amount = 1 WHERE id = {invoice_id}")
        for edit in edits:
            with pytest.raises(DBAPIError, match="never edited"), engine.begin() as conn:
                conn.execute(text(edit))
        with pytest.raises(DBAPIError, match="never edited"), engine.begin() as conn:
            conn.execute(text(f"DELETE FROM invoices WHERE id = {invoice_id}"))
        if quarterly:  # the true-up is written once, then never changed
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE invoices SET trued_up_at = CURRENT_TIMESTAMP, "
                        f"true_up_actual = 90 WHERE id = {invoice_id}"
                    )
                )
            with pytest.raises(DBAPIError, match="written once"), engine.begin() as conn:
                conn.execute(
                    text(f"UPDATE invoices SET true_up_actual = 5 WHERE id = {invoice_id}")
                )
    finally:
        engine.dispose()


def _rows(url: str) -> list[tuple[int, str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, type, status FROM invoices ORDER BY id")).all()
        return [(r.id, r.type, r.status) for r in rows]
    finally:
        engine.dispose()


def test_0020_downgrades_and_upgrades_with_the_guards_intact(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    _issued_invoice(empty_url, 1, quarterly=True)  # 0020's guards
    cfg = migrate.alembic_config(empty_url)
    command.downgrade(cfg, "0017")
    _issued_invoice(empty_url, 2, quarterly=False)  # 0017's guards, recreated by the downgrade
    command.upgrade(cfg, "head")
    _issued_invoice(empty_url, 3, quarterly=True)  # and 0020's again
    assert _rows(empty_url) == [(i, "quarterly", "issued") for i in (1, 2, 3)]
