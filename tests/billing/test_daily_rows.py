"""Daily rows as data (billing/daily_rows.py): published runs only, scoped,
filtered, sorted, paged, aggregated by month, summed exactly; the rows follow
the published run when UseOverlapUsageSelection changes, and the change is
reported stale."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.service import get_user_by_email, principal_for
from rerate.billing import daily_rows
from rerate.billing.daily_rows import RowQuery, RowScope, check_range, months_touched
from rerate.billing.runs import current_run
from rerate.kit.db import Database
from rerate.kit.errors import Invalid, NotFound
from rerate.kit.periods import Month
from rerate.models import BillingCacheRow, BillingRun
from rerate.usage.schema import USAGE_SCHEMA
from tests.billing.fixtures import Billing, import_table
from tests.billing.test_billing_utilities import drain, submit
from tests.billing.test_stale import add_version, bill, bill_both, stale

AUG = (date(2026, 8, 1), date(2026, 9, 1))
AUG_SEP = (date(2026, 8, 1), date(2026, 10, 1))


@contextmanager
def scoped(
    database: Database, data_dir: Path, billing: Billing, who: str
) -> Iterator[tuple[Session, RowScope]]:
    with database.session() as s:
        user = get_user_by_email(s, billing.world.users[who].email)
        yield s, daily_rows.scope_for(s, principal_for(s, user, via="api_key"), data_dir)


def _all(s: Session, scope: RowScope, **kw: object) -> list[dict]:
    return list(daily_rows.iter_rows(s, scope, RowQuery(*AUG_SEP, **kw)))  # type: ignore[arg-type]


def _net(rows: list[dict]) -> Decimal:
    return sum((Decimal(r["net_amount"]) for r in rows), Decimal(0))


def test_rows_are_the_published_runs_daily_rows_and_sum_to_the_cache(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    bill_both(client, database, data_dir, billing.world)
    n = billing.world.nodes
    with scoped(database, data_dir, billing, "partner_admin") as (s, scope):
        rows = _all(s, scope)
        # Two customers, two SKUs a day: acc-x all along for a1x, acc-mover
        # with a1y up to Aug 15 and with a1x from Aug 16 (moved at 12:00 UTC).
        assert len(rows) == (31 + 30) * 2 * 2
        assert {r["customer"]["name"] for r in rows} == {"Cust A1x", "Cust A1y"}
        mover_a1y = {r["day"] for r in rows if r["customer"]["id"] == n["cust_a1y"].id}
        assert min(mover_a1y) == "2026-08-01"
        assert max(mover_a1y) == "2026-08-15"
        for customer in ("cust_a1x", "cust_a1y"):
            for period in ("2026-08", "2026-09"):
                cache = s.scalars(
                    select(BillingCacheRow.net_amount).where(
                        BillingCacheRow.customer_id == n[customer].id,
                        BillingCacheRow.period == period,
                    )
                ).all()
                mine = [
                    r
                    for r in rows
                    if r["customer"]["id"] == n[customer].id and r["day"].startswith(period)
                ]
                assert _net(mine) == sum(cache, Decimal(0))
                # a1y no longer owns an account in September: a run without rows.
                assert bool(mine) == ((customer, period) != ("cust_a1y", "2026-09"))
        first = next(
            r for r in rows if r["sku"] == "vm.small" and r["customer"]["name"] == "Cust A1x"
        )
        assert first["quantity"] == "24.0000000000"
        assert first["list_amount"] == "1.2000000000"
        assert first["net_amount"] == "1.0800000000"  # the contract's 10% Compute discount
        assert first["included_quantity"] == "0.0000000000"
        assert first["rules"] == "discount:1"
        run = current_run(s, n["cust_a1x"].id, "2026-08")
        assert run is not None
        assert first["run_id"] == run.id
        total = daily_rows.summarise(s, scope, RowQuery(*AUG_SEP))
        assert [t.currency for t in total.totals] == ["EUR"]
        assert total.totals[0].net_amount == _net(rows)
        assert total.totals[0].lines == len(rows)


def test_a_dry_run_changes_nothing_read_until_a_recalculation_publishes(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    bill(client, database, data_dir, billing.world, "cust_a1y", ["2026-08"])
    with scoped(database, data_dir, billing, "partner_admin") as (s, scope):
        before = _all(s, scope)
    add_version(database, billing.price_book_id, datetime(2026, 8, 1, tzinfo=UTC), "0.10")
    r = submit(client, billing.world, "recalculations", "cust_a1y", ["2026-08"], dry_run=True)
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    with scoped(database, data_dir, billing, "partner_admin") as (s, scope):
        assert _all(s, scope) == before  # a dry run is computed, never published
    bill(client, database, data_dir, billing.world, "cust_a1y", ["2026-08"])
    with scoped(database, data_dir, billing, "partner_admin") as (s, scope):
        after = _all(s, scope)
        assert len(after) == len(before)
        assert _net(after) > _net(before)
        assert {r["run_id"] for r in after} != {r["run_id"] for r in before}
        # Only the current version is read: the superseded run is not summed too.
        assert s.scalar(select(BillingRun.id).where(BillingRun.status == "superseded"))


def test_scope_partner_customer_distributor_and_platform(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    bill_both(client, database, data_dir, billing.world)
    n = billing.world.nodes
    seen = {}
    for who in ("platform_admin", "distributor", "partner_admin", "partner_user", "customer_user"):
        with scoped(database, data_dir, billing, who) as (s, scope):
            seen[who] = {r["customer"]["id"] for r in _all(s, scope)}
    both = {n["cust_a1x"].id, n["cust_a1y"].id}
    assert seen["platform_admin"] == seen["distributor"] == seen["partner_admin"] == both
    assert seen["partner_user"] == both
    assert seen["customer_user"] == {n["cust_a1x"].id}
    with scoped(database, data_dir, billing, "customer_user") as (s, scope):
        with pytest.raises(NotFound):
            _all(s, scope, customer_ids=(n["cust_a1y"].id,))
        with pytest.raises(NotFound):  # a partner is no customer
            _all(s, scope, customer_ids=(n["partner_a1"].id,))
        with pytest.raises(NotFound):
            _all(s, scope, account_ids=(99_999,))
        # acc-mover belonged to a1x from mid-August: its rows there, not a1y's.
        mover = _all(s, scope, account_ids=(billing.accounts["acc-mover"],))
        assert mover
        assert {r["customer"]["id"] for r in mover} == {n["cust_a1x"].id}
        assert min(r["day"] for r in mover) == "2026-08-16"


def test_filters_half_open_days_sorting_and_paging(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    bill_both(client, database, data_dir, billing.world)
    n = billing.world.nodes
    with scoped(database, data_dir, billing, "partner_admin") as (s, scope):
        # [Aug 14, Aug 15): the end day is excluded, the start day included.
        one_day = list(
            daily_rows.iter_rows(s, scope, RowQuery(date(2026, 8, 14), date(2026, 8, 15)))
        )
        assert {r["day"] for r in one_day} == {"2026-08-14"}
        assert len(one_day) == 4
        # A range across a month boundary reads both runs.
        across = list(daily_rows.iter_rows(s, scope, RowQuery(date(2026, 8, 31), date(2026, 9, 2))))
        assert {r["day"] for r in across} == {"2026-08-31", "2026-09-01"}
        assert len({r["run_id"] for r in across}) == 2  # a1x: August and September runs
        compute = _all(s, scope, services=("Compute",))
        assert compute
        assert {r["sku"] for r in compute} == {"vm.small"}
        assert _all(s, scope, skus=("disk.gb",), customer_ids=(n["cust_a1y"].id,))
        assert _all(s, scope, regions=("nowhere",)) == []
        assert len(_all(s, scope, regions=("westeurope",))) == len(_all(s, scope))

        ordered = _all(s, scope, sort="-net_amount,customer")
        nets = [Decimal(r["net_amount"]) for r in ordered]
        assert nets == sorted(nets, reverse=True)
        by_account = _all(s, scope, sort="account,-day")
        assert [r["account"]["ref"] for r in by_account] == sorted(
            r["account"]["ref"] for r in by_account
        )
        with pytest.raises(Invalid, match="sort: unknown column 'price'"):
            _all(s, scope, sort="price")
        with pytest.raises(Invalid, match="sort"):
            _all(s, scope, sort="day; DROP TABLE x")

        everything = _all(s, scope, sort="sku")
        pages, offset = [], 0
        while True:
            page = daily_rows.query_rows(
                s, scope, RowQuery(*AUG_SEP, sort="sku", limit=37, offset=offset)
            )
            assert page.total == len(everything)
            if not page.items:
                break
            pages += page.items
            offset += 37
        assert pages == everything  # pages neither overlap nor skip (a total order)
        with pytest.raises(Invalid, match="limit"):
            daily_rows.query_rows(s, scope, RowQuery(*AUG, limit=0))
        with pytest.raises(Invalid, match="end"):
            daily_rows.query_rows(s, scope, RowQuery(date(2026, 8, 2), date(2026, 8, 2)))


def test_monthly_aggregation_sums_the_days_exactly(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    bill_both(client, database, data_dir, billing.world)
    with scoped(database, data_dir, billing, "partner_admin") as (s, scope):
        daily = _all(s, scope)
        monthly = _all(s, scope, monthly=True, sort="period,customer,account,sku")
        assert len(monthly) == 10  # a1x: 2 accounts x 2 SKUs in Aug and Sep; a1y: Aug only
        for m in monthly:
            days = [
                r
                for r in daily
                if r["day"].startswith(m["period"])
                and r["customer"]["id"] == m["customer"]["id"]
                and r["account"]["id"] == m["account"]["id"]
                and r["sku"] == m["sku"]
            ]
            assert m["usage_rows"] == sum(r["usage_rows"] for r in days)
            assert Decimal(m["net_amount"]) == _net(days)
            assert m["first_day"] == min(r["day"] for r in days)
            assert m["last_day"] == max(r["day"] for r in days)
            assert "day" not in m
        assert _net(monthly) == _net(daily)
        page = daily_rows.query_rows(s, scope, RowQuery(*AUG, monthly=True, limit=2))
        assert page.total == 6
        assert len(page.items) == 2


def test_an_unreadable_run_is_left_out_and_named(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    bill_both(client, database, data_dir, billing.world)
    n = billing.world.nodes
    with database.session() as s:
        run = current_run(s, n["cust_a1y"].id, "2026-08")
        assert run is not None
        shutil.rmtree(Path(run.path) / "daily")
    with scoped(database, data_dir, billing, "partner_admin") as (s, scope):
        page = daily_rows.query_rows(s, scope, RowQuery(*AUG))
        assert {r["customer"]["id"] for r in page.items} == {n["cust_a1x"].id}
        assert [(u.customer_id, u.period, u.run_id) for u in page.unreadable] == [
            (n["cust_a1y"].id, "2026-08", run.id)
        ]
        assert "daily/part-00000.parquet is missing" in page.unreadable[0].problem
        assert str(data_dir) not in page.unreadable[0].problem  # no server path


def _straddling_row(database: Database, data_dir: Path, account_id: int, ref: str) -> None:
    """A 24-hour vm.small row from 2026-08-31 20:00 UTC (22:00 in Paris):
    2 hours in August, 22 in September (billing time zone Europe/Paris)."""
    start = datetime(2026, 8, 31, 20, tzinfo=UTC)
    rid = f"{ref}-straddle"
    values = {
        "record_id": rid,
        "content_hash": hashlib.sha256(rid.encode()).hexdigest(),
        "import_id": 0,
        "source": "focus",
        "kind": "cloud",
        "account_ref": ref,
        "account_id": account_id,
        "usage_start": start,
        "usage_end": start + timedelta(hours=24),
        "service": "Compute",
        "sku": "vm.small",
        "region": "northeurope",
        "quantity": Decimal("24"),
        "unit": "h",
        "currency": "EUR",
    }
    import_table(
        database,
        data_dir,
        pa.table({k: [values.get(k)] for k in USAGE_SCHEMA.names}, schema=USAGE_SCHEMA),
    )


def test_overlap_selection_rows_follow_the_published_run_and_the_change_is_stale(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    """UseOverlapUsageSelection decides which run a boundary-spanning row
    belongs to; what is read is the published run, computed under the value
    in force then. Changing the setting marks the runs stale (reason
    "selection"); their recalculation moves the row."""
    w = billing.world
    _straddling_row(database, data_dir, billing.accounts["acc-x"], "acc-x")
    bill(client, database, data_dir, w, "cust_a1x", ["2026-08", "2026-09"])

    def straddle() -> list[dict]:
        with scoped(database, data_dir, billing, "partner_admin") as (s, scope):
            return _all(s, scope, regions=("northeurope",))

    # Off (the default): the row starts in August (22:00 Paris on the 31st).
    assert [r["day"] for r in straddle()] == ["2026-08-31"]
    assert stale(client, w)["items"] == []

    r = client.put(
        "/api/v1/settings/UseOverlapUsageSelection",
        json={"value": "true", "node_id": w.nodes["partner_a1"].id, "reason": "overlap"},
        headers=w.headers("partner_admin"),
    )
    assert r.status_code == 200, r.text
    assert [r["day"] for r in straddle()] == ["2026-08-31"]  # still the published run
    items = stale(client, w)["items"]
    a1x = [i for i in items if i["customer"]["id"] == w.nodes["cust_a1x"].id]
    assert sorted(i["period"] for i in a1x) == ["2026-08", "2026-09"]
    reason = next(x for x in a1x[0]["reasons"] if x["component"] == "selection")
    assert reason["code"] == "contract_rule_update"
    assert reason["text"].startswith("UseOverlapUsageSelection changed from false to true")
    assert reason["causes"]
    assert reason["causes"][0]["summary"].startswith("insert settings")

    bill(client, database, data_dir, w, "cust_a1x", ["2026-08", "2026-09"])
    # Overlap: 22 of its 24 hours lie in September, so September's run takes
    # it, on September's first billing day.
    assert [r["day"] for r in straddle()] == ["2026-09-01"]
    assert not [
        i for i in stale(client, w)["items"] if i["customer"]["id"] == w.nodes["cust_a1x"].id
    ]


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 1, 1)),
    length=st.integers(min_value=1, max_value=400),
)
def test_months_touched_are_exactly_the_months_of_the_range(start: date, length: int):
    end = start + timedelta(days=length)
    if length > daily_rows.MAX_RANGE_DAYS:
        with pytest.raises(Invalid, match="at most 366"):
            check_range(start, end)
        return
    check_range(start, end)
    months = months_touched(start, end)
    days = [start + timedelta(days=i) for i in range(length)]
    assert months == sorted({Month.of(d) for d in days})
    assert all(months[i].next() == months[i + 1] for i in range(len(months) - 1))
