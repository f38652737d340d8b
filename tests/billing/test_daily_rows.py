"""Daily rows as data (billing/daily_rows.py): published runs only, scoped,
filtered, sorted, paged, aggregated by month, summed exactly."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from rerate.auth.service import get_user_by_email, principal_for
from rerate.billing import daily_rows
from rerate.billing.daily_rows import RowQuery
from rerate.kit.db import Database
from tests.billing.fixtures import Billing
from tests.billing.test_stale import bill_both


def _scope(database: Database, data_dir: Path, billing: Billing, who: str):
    with database.session() as s:
        user = get_user_by_email(s, billing.world.users[who].email)
        principal = principal_for(s, user, via="api_key")
        return s, daily_rows.scope_for(s, principal, data_dir)


def test_smoke(client: TestClient, database: Database, data_dir: Path, billing: Billing):
    bill_both(client, database, data_dir, billing.world)
    with database.session() as s:
        user = get_user_by_email(s, billing.world.users["partner_admin"].email)
        scope = daily_rows.scope_for(s, principal_for(s, user, via="api_key"), data_dir)
        page = daily_rows.query_rows(s, scope, RowQuery(date(2026, 8, 14), date(2026, 8, 17), limit=5))
        print(page.total, page.unreadable)
        for i in page.items:
            print(i)
        print(daily_rows.summarise(s, scope, RowQuery(date(2026, 8, 1), date(2026, 10, 1))))
        page = daily_rows.query_rows(s, scope, RowQuery(date(2026, 8, 1), date(2026, 10, 1), monthly=True, sort="-net_amount"))
        for i in page.items:
            print(i)
    assert False
