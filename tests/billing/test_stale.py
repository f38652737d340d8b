"""Stale periods: bill closed months, change what they were computed from, and
see exactly the affected (customer, period) pairs listed with their reasons;
a recalculation clears them, a dry run does not. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts.service import move_account
from rerate.auth import service as auth
from rerate.auth.permissions import Principal
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models import (
    Account,
    BillingRun,
    Contract,
    ContractRule,
    CurrentRun,
    Node,
    PriceBookVersion,
    PriceEntry,
    User,
)
from rerate.models.enums import Role
from rerate.pricebooks.service import mark_published
from rerate.profiles import service as profile_service
from rerate.timetables import service as tt_service
from rerate.usage.schema import USAGE_SCHEMA
from tests.billing.fixtures import Billing, build_billing, import_table
from tests.billing.test_billing_utilities import PARTNER, drain, submit
from tests.world import World

STALE = "/api/v1/billing-utilities/stale"


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def bill(
    client: TestClient,
    database: Database,
    data_dir: Path,
    world: World,
    customer: str,
    periods: list[str],
) -> None:
    r = submit(client, world, "recalculations", customer, periods)
    assert r.status_code == 202, r.text
    drain(database, data_dir)


def stale(client: TestClient, world: World, who: str = PARTNER, **params: Any) -> dict:
    r = client.get(STALE, params=params, headers=world.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def marked(client: TestClient, world: World) -> dict[tuple[str, str], list[dict]]:
    """(customer name, period) -> reasons."""
    return {
        (i["customer"]["name"], i["period"]): i["reasons"] for i in stale(client, world)["items"]
    }


def texts(reasons: list[dict]) -> list[str]:
    return [r["text"] for r in reasons]


def bill_both(client: TestClient, database: Database, data_dir: Path, world: World) -> None:
    bill(client, database, data_dir, world, "cust_a1x", ["2026-08", "2026-09"])
    bill(client, database, data_dir, world, "cust_a1y", ["2026-08", "2026-09"])


def add_version(
    database: Database,
    book_id: int,
    effective: datetime,
    price: str,
    prices: dict[str, str] | None = None,
) -> int:
    """A published version pricing every SKU at `price` (or its `prices` entry)."""
    with database.session() as s:
        latest = max(
            v.version
            for v in s.scalars(
                select(PriceBookVersion).where(PriceBookVersion.price_book_id == book_id)
            )
        )
        v = PriceBookVersion(price_book_id=book_id, version=latest + 1, effective_from=effective)
        s.add(v)
        s.flush()
        for sku, service, unit in (("vm.small", "Compute", "h"), ("disk.gb", "Storage", "GB-day")):
            s.add(
                PriceEntry(
                    version_id=v.id,
                    sku=sku,
                    service=service,
                    unit=unit,
                    unit_price=Decimal((prices or {}).get(sku, price)),
                )
            )
        s.flush()
        mark_published(s, v, by=None)  # a draft prices nothing and marks nothing
        return v.version


def test_a_version_effective_inside_a_billed_period_marks_it_with_its_reason(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    assert stale(client, w) == {"items": [], "total": 0, "limit": 50, "offset": 0}

    add_version(database, billing.price_book_id, datetime(2026, 9, 15, tzinfo=UTC), "0.06")
    found = marked(client, w)
    # Both customers use the book; August ended before the version took effect.
    assert set(found) == {("Cust A1x", "2026-09"), ("Cust A1y", "2026-09")}
    reasons = found[("Cust A1x", "2026-09")]
    assert texts(reasons) == [
        "price book 'Cloud EUR' version 2 effective 2026-09-15 00:00 UTC was published "
        "after this period was billed"
    ]
    assert reasons[0]["code"] == "price_book_update"
    cause = reasons[0]["causes"][0]
    assert cause["kind"] == "audit"
    # The newest change of the version: its publication (a draft marks nothing).
    assert cause["summary"].startswith("update price_book_versions ")


def test_a_version_effective_after_the_period_marks_nothing(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    add_version(database, billing.price_book_id, datetime(2026, 10, 1, tzinfo=UTC), "0.06")
    assert marked(client, w) == {}


def test_a_contract_rule_change_marks_that_customers_periods(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    with database.session() as s:
        contract = s.get(Contract, billing.contract_ids["cust_a1x"])
        assert contract is not None
        contract.rules_version = 2
        s.add(
            ContractRule(
                contract_id=contract.id,
                version=2,
                position=1,
                kind="discount",
                scope_service="Compute",
                percent=Decimal("20"),
            )
        )
    found = marked(client, w)
    assert set(found) == {("Cust A1x", "2026-08"), ("Cust A1x", "2026-09")}
    assert texts(found[("Cust A1x", "2026-08")]) == ["contract rules changed to version 2"]
    assert found[("Cust A1x", "2026-08")][0]["code"] == "contract_rule_update"
    assert found[("Cust A1x", "2026-08")][0]["causes"]  # the contract's audit entries


def test_a_custom_line_item_marks_only_the_periods_it_applies_to(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    made = client.post(
        f"/api/v1/customers/{w.nodes['cust_a1x'].id}/custom-line-items",
        json={"description": "Support", "amount": "49", "one_off_date": "2026-08-20"},
        headers=w.headers(PARTNER),
    )
    assert made.status_code == 201, made.text
    found = marked(client, w)
    assert set(found) == {("Cust A1x", "2026-08")}
    reason = found[("Cust A1x", "2026-08")][0]
    assert reason["text"] == "custom line item 'Support' was added"
    assert reason["code"] == "custom_line_item"
    assert reason["causes"][0]["actor"] == "partner_admin@test.example"


def test_an_account_move_marks_both_owners_periods(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    with database.session() as s:
        account = s.get(Account, billing.accounts["acc-x"])
        assert account is not None
        move_account(
            s,
            account,
            customer=s.merge(w.nodes["cust_a1y"]),
            valid_from=datetime(2026, 9, 10, tzinfo=UTC),
        )
    found = marked(client, w)
    assert set(found) == {("Cust A1x", "2026-09"), ("Cust A1y", "2026-09")}
    assert texts(found[("Cust A1x", "2026-09")]) == [
        "account 'acc-x' moved to Cust A1y on 2026-09-10 00:00 UTC"
    ]
    assert texts(found[("Cust A1y", "2026-09")]) == [
        "account 'acc-x' belongs to this customer from 2026-09-10 00:00 UTC"
    ]
    assert found[("Cust A1y", "2026-09")][0]["code"] == "data_correction"


def _usage_row(ref: str, account_id: int, day: date, content: str) -> dict[str, Any]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    rid = f"{ref}-vm.small-{day.isoformat()}"
    return {
        "record_id": rid,
        "content_hash": hashlib.sha256(content.encode()).hexdigest(),
        "import_id": 0,
        "source": "focus",
        "kind": "cloud",
        "account_ref": ref,
        "account_id": account_id,
        "usage_start": start,
        "usage_end": start + timedelta(days=1),
        "service": "Compute",
        "sku": "vm.small",
        "region": "westeurope",
        "quantity": Decimal(content),
        "unit": "h",
        "currency": "EUR",
    }


def _import(database: Database, data_dir: Path, rows: list[dict[str, Any]]) -> None:
    table = pa.table({n: [r.get(n) for r in rows] for n in USAGE_SCHEMA.names}, schema=USAGE_SCHEMA)
    import_table(database, data_dir, table)


def test_a_corrected_usage_record_marks_its_period(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    # The fixture's row of 10 Sep for acc-x, sent again with another quantity.
    _import(
        database,
        data_dir,
        [_usage_row("acc-x", billing.accounts["acc-x"], date(2026, 9, 10), "30")],
    )
    found = marked(client, w)
    assert set(found) == {("Cust A1x", "2026-09")}
    reason = found[("Cust A1x", "2026-09")][0]
    assert reason["text"] == "1 usage row corrected or late since billing"
    assert reason["code"] == "data_correction"
    assert reason["causes"][0]["kind"] == "usage_import"


def test_a_late_usage_row_marks_its_period_and_the_same_row_again_does_not(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    account = billing.accounts["acc-x"]
    late = _usage_row("acc-x-late", account, date(2026, 8, 20), "5")
    _import(database, data_dir, [late])
    assert texts(marked(client, w)[("Cust A1x", "2026-08")]) == [
        "1 usage row corrected or late since billing"
    ]
    bill(client, database, data_dir, w, "cust_a1x", ["2026-08"])
    assert marked(client, w) == {}
    _import(database, data_dir, [late])  # unchanged: the store writes nothing
    assert marked(client, w) == {}


def _platform(s: Session, world: World) -> Principal:
    return auth.principal_for(s, s.get(User, world.users["platform_admin"].id), via="cli")


def test_a_timetable_change_marks(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    peak = tt_service.RuleIn(band="peak", weekdays="01234", start=time(8), end=time(20))
    with database.session() as s:
        tt = tt_service.new_timetable(
            s,
            s.get(Node, w.nodes["partner_a1"].id),
            name="Paris peak",
            tz="Europe/Paris",
            version=tt_service.VersionIn(
                default_band="offpeak",
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                rules=(peak,),
            ),
        )
        contract = s.get(Contract, billing.contract_ids["cust_a1y"])
        assert contract is not None
        contract.timetable_id = tt.id
        tt_id = tt.id
    bill_both(client, database, data_dir, w)
    with database.session() as s:
        # Peak ends at 19:00 from 10 August on: August has both versions, September the new one.
        tt_service.add_version(
            s,
            _platform(s, w),
            tt_id,
            tt_service.VersionIn(
                default_band="offpeak",
                effective_from=datetime(2026, 8, 10, tzinfo=UTC),
                rules=(
                    tt_service.RuleIn(band="peak", weekdays="01234", start=time(8), end=time(19)),
                ),
            ),
        )
    found = marked(client, w)
    assert set(found) == {("Cust A1y", "2026-08"), ("Cust A1y", "2026-09")}
    reason = found[("Cust A1y", "2026-08")][0]
    assert reason["text"] == "timetable 'Paris peak' has a new version in force in this period"
    assert reason["causes"][0]["summary"].startswith("insert timetable_versions ")


def test_a_profile_change_marks(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    with database.session() as s:
        profile = profile_service.new_profile(
            s,
            s.get(Node, w.nodes["partner_a1"].id),
            name="Free compute",
            unit="units",
            version=profile_service.VersionIn(
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                included_quantity=Decimal("10"),
                scope="vm.small",
            ),
        )
        profile_service.assign(
            s,
            _platform(s, w),
            profile.id,
            account_id=billing.accounts["acc-x"],
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        )
        profile_id = profile.id
    bill_both(client, database, data_dir, w)
    with database.session() as s:
        # 20 included from mid-July: both billed periods start under the new version.
        profile_service.add_version(
            s,
            _platform(s, w),
            profile_id,
            profile_service.VersionIn(
                effective_from=datetime(2026, 7, 15, tzinfo=UTC),
                included_quantity=Decimal("20"),
                scope="vm.small",
            ),
        )
    found = marked(client, w)
    assert set(found) == {("Cust A1x", "2026-08"), ("Cust A1x", "2026-09")}
    assert texts(found[("Cust A1x", "2026-09")]) == ["consumption profile 'Free compute' changed"]


def _current_run(database: Database, world: World, customer: str, period: str) -> BillingRun:
    with database.session() as s:
        pointer = s.get(CurrentRun, (world.nodes[customer].id, period))
        assert pointer is not None
        run = s.get(BillingRun, pointer.run_id)
        assert run is not None
        return run


def test_a_recalculation_clears_and_a_dry_run_does_not(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    add_version(database, billing.price_book_id, datetime(2026, 9, 15, tzinfo=UTC), "0.06")
    assert len(marked(client, w)) == 2

    dry = client.post(f"{STALE}/recalculations", json={"dry_run": True}, headers=w.headers(PARTNER))
    assert dry.status_code == 202, dry.text
    body = dry.json()
    assert body["periods"] == 2
    assert {(j["customer_id"], j["period"], j["dry_run"]) for j in body["jobs"]} == {
        (w.nodes["cust_a1x"].id, "2026-09", True),
        (w.nodes["cust_a1y"].id, "2026-09", True),
    }
    assert {j["reason"] for j in body["jobs"]} == {"price_book_update"}
    assert all("version 2 effective 2026-09-15" in j["explanation"] for j in body["jobs"])
    drain(database, data_dir)
    assert len(marked(client, w)) == 2  # a dry run publishes nothing

    one = client.post(
        f"{STALE}/recalculations",
        json={"periods": [{"customer_id": w.nodes["cust_a1x"].id, "period": "2026-09"}]},
        headers=w.headers(PARTNER),
    )
    assert one.status_code == 202, one.text
    assert [j["period"] for j in one.json()["jobs"]] == ["2026-09"]
    drain(database, data_dir)
    assert set(marked(client, w)) == {("Cust A1y", "2026-09")}

    again = client.post(
        f"{STALE}/recalculations",
        json={"periods": [{"customer_id": w.nodes["cust_a1x"].id, "period": "2026-09"}]},
        headers=w.headers(PARTNER),
    )
    assert again.status_code == 422
    assert "not out of date" in again.json()["detail"]


def test_an_unchanged_recalculation_clears_the_mark_without_a_new_version(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    """A version with the same prices changes the inputs but not the bill: the
    recalculation keeps the run (no new version) and records the new inputs."""
    w = billing.world
    bill_both(client, database, data_dir, w)
    before = _current_run(database, w, "cust_a1y", "2026-09")
    add_version(  # the prices of version 1, again
        database,
        billing.price_book_id,
        datetime(2026, 9, 15, tzinfo=UTC),
        "0.05",
        prices={"disk.gb": "0.0033333333"},
    )
    assert ("Cust A1y", "2026-09") in marked(client, w)
    r = client.post(
        f"{STALE}/recalculations",
        json={"customer_id": w.nodes["cust_a1y"].id},
        headers=w.headers(PARTNER),
    )
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    after = _current_run(database, w, "cust_a1y", "2026-09")
    assert after.id == before.id
    assert ("Cust A1y", "2026-09") not in marked(client, w)


def test_rebilling_with_unchanged_inputs_marks_nothing(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    bill_both(client, database, data_dir, w)
    assert marked(client, w) == {}
    # A change to another customer's contract leaves these alone.
    with database.session() as s:
        contract = s.get(Contract, billing.contract_ids["cust_a1y"])
        assert contract is not None
        contract.passthrough_unpriced = True
    assert set(marked(client, w)) == {("Cust A1y", "2026-08"), ("Cust A1y", "2026-09")}


def test_runs_without_recorded_inputs_and_open_periods_are_never_listed(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    current = Month.of(datetime.now(UTC).date())
    with database.session() as s:
        # A run recorded before inputs were tracked.
        old = s.get(BillingRun, s.get(CurrentRun, (w.nodes["cust_a1x"].id, "2026-08")).run_id)  # type: ignore[union-attr]
        assert old is not None
        old.inputs = None
        # A current run of the open month (as a demo or an import of runs could leave).
        run = s.get(BillingRun, s.get(CurrentRun, (w.nodes["cust_a1x"].id, "2026-09")).run_id)  # type: ignore[union-attr]
        assert run is not None
        opened = BillingRun(
            customer_id=run.customer_id,
            period=str(current),
            version=1,
            status="published",
            path=run.path,
            fingerprint=run.fingerprint,
            currency="EUR",
            net_total=Decimal(0),
            list_total=Decimal(0),
            inputs=run.inputs.replace('"period": "2026-09"', f'"period": "{current}"')  # type: ignore[union-attr]
            if run.inputs
            else None,
        )
        s.add(opened)
        s.flush()
        s.add(CurrentRun(customer_id=run.customer_id, period=str(current), run_id=opened.id))
    add_version(database, billing.price_book_id, datetime(2026, 8, 10, tzinfo=UTC), "0.07")
    add_version(
        database,
        billing.price_book_id,
        datetime.combine(current.first_day, time(12), tzinfo=UTC),
        "0.08",
    )
    found = marked(client, w)
    assert ("Cust A1x", "2026-08") not in found  # no recorded inputs
    assert ("Cust A1x", str(current)) not in found  # open
    assert ("Cust A1x", "2026-09") in found  # version 2 is in force from its start now
    assert texts(found[("Cust A1x", "2026-09")]) == [
        "price book 'Cloud EUR' version 2 effective 2026-08-10 00:00 UTC now applies from "
        "the start of this period",
        "price book 'Cloud EUR' version 1 no longer applies to this period",
    ]


def test_another_tenants_stale_periods_are_invisible(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    bill_both(client, database, data_dir, w)
    add_version(database, billing.price_book_id, datetime(2026, 9, 15, tzinfo=UTC), "0.06")
    assert stale(client, w)["total"] == 2
    assert stale(client, w, who="platform_admin")["total"] == 2
    assert stale(client, w, q="a1y")["total"] == 1
    # The admin of the sibling reseller sees none of them.
    with database.session() as s:
        user = auth.create_user(s, "a2@test.example", name="a2", password=None)
        auth.assign_role(s, user, role=Role.PARTNER_ADMIN, node=s.merge(w.nodes["partner_a2"]))
        _key, secret = auth.create_api_key(s, user)
    sibling = {"Authorization": f"Bearer {secret}"}
    listed = client.get(STALE, headers=sibling)
    assert listed.status_code == 200
    assert listed.json()["total"] == 0
    one = client.get(STALE, params={"customer_id": w.nodes["cust_a1x"].id}, headers=sibling)
    assert one.status_code == 404
    recalc = client.post(
        f"{STALE}/recalculations", json={"customer_id": w.nodes["cust_a1x"].id}, headers=sibling
    )
    assert recalc.status_code == 404
    everything = client.post(f"{STALE}/recalculations", json={}, headers=sibling)
    assert everything.status_code == 202
    assert everything.json()["jobs"] == []
    # Without the billing-utilities permission at all: 403.
    assert client.get(STALE, headers=w.headers("customer_user")).status_code == 403
    assert (
        client.post(
            f"{STALE}/recalculations", json={}, headers=w.headers("distributor")
        ).status_code
        == 403
    )
    assert len(marked(client, w)) == 2  # nothing was queued for them
