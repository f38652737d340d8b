"""The database itself refuses overlapping ownership intervals of one account
(an exclusion constraint on PostgreSQL, triggers on SQLite), whatever the code
in front of it does; adjacent half-open intervals are fine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from rerate.accounts.service import create_account
from rerate.kit.db import Database
from rerate.models.enums import AccountKind
from tests.world import World

INSERT = text(
    "INSERT INTO account_ownerships (account_id, customer_id, valid_from, valid_to) "
    "VALUES (:a, :c, :f, :t)"
)


def _at(month: int) -> datetime:
    return datetime(2026, month, 1, tzinfo=UTC)


def _bind(database: Database, value: datetime | None) -> object:
    if value is None or database.url.startswith("postgresql"):
        return value
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _insert(database: Database, account: int, customer: int, start: int, end: int | None) -> None:
    with database.session() as s:
        s.execute(
            INSERT,
            {
                "a": account,
                "c": customer,
                "f": _bind(database, _at(start)),
                "t": _bind(database, _at(end) if end else None),
            },
        )


def test_raw_overlapping_rows_are_refused(database: Database, world: World):
    with database.session() as s:
        account = create_account(s, AccountKind.VOIP_PEER, external_ref="trunk-1").id
        other = create_account(s, AccountKind.VOIP_PEER, external_ref="trunk-2").id
    a1x, a1y = world.nodes["cust_a1x"].id, world.nodes["cust_a1y"].id
    _insert(database, account, a1x, 1, 3)
    _insert(database, account, a1y, 3, None)  # adjacent: [1, 3) then [3, inf)
    _insert(database, other, a1y, 2, None)  # another account may overlap in time
    for start, end in ((2, 4), (5, None), (1, 2), (12, None)):
        with pytest.raises(DatabaseError, match=r"overlap|conflicting key"):
            _insert(database, account, a1x, start, end)
    # An update that stretches one interval into the next is refused too.
    with pytest.raises(DatabaseError, match=r"overlap|conflicting key"), database.session() as s:
        s.execute(
            text(
                "UPDATE account_ownerships SET valid_to = :t "
                "WHERE account_id = :a AND valid_to IS NOT NULL"
            ),
            {"a": account, "t": _bind(database, _at(4))},
        )
    with database.session() as s:
        count = s.scalar(
            text("SELECT count(*) FROM account_ownerships WHERE account_id = :a"), {"a": account}
        )
    assert count == 2
