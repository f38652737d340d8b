"""Custom line items added, changed and deleted retroactively, then billed by
recalculating the periods the answer names."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.billing.runs import current_run, read_period_lines
from rerate.kit.db import Database
from rerate.models import AuditEntry
from tests.billing.fixtures import build_billing
from tests.billing.test_billing_utilities import PARTNER, drain, submit
from tests.world import World


def _custom_lines(database: Database, world: World, period: str) -> list[tuple[str, Decimal]]:
    with database.session() as s:
        run = current_run(s, world.nodes["cust_a1x"].id, period)
        assert run is not None
        lines = read_period_lines(run).to_pylist()
    return [(ln["description"], ln["amount"]) for ln in lines if ln["kind"] == "custom"]


def _recalculate(client: TestClient, database: Database, data_dir: Path, world: World, periods):
    r = submit(client, world, "recalculations", "cust_a1x", periods, reason="custom_line_item")
    assert r.status_code == 202, r.text
    drain(database, data_dir)


def test_items_added_changed_and_deleted_for_a_billed_period_reach_it_when_recalculated(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    build_billing(database, data_dir, world)
    customer = world.nodes["cust_a1x"].id
    admin = world.headers(PARTNER)
    _recalculate(client, database, data_dir, world, ["2026-08"])
    assert _custom_lines(database, world, "2026-08") == []

    made = client.post(
        f"/api/v1/customers/{customer}/custom-line-items",
        json={"description": "Onboarding", "amount": "250.005", "one_off_date": "2026-08-20"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    item = made.json()
    assert (item["amount"], item["currency"]) == ("250.005", "EUR")
    assert item["recalculate_periods"] == ["2026-08"]
    _recalculate(client, database, data_dir, world, item["recalculate_periods"])
    # Rounded at the period-line boundary, ROUND_HALF_UP.
    assert _custom_lines(database, world, "2026-08") == [("Onboarding", Decimal("250.01"))]

    changed = client.patch(
        f"/api/v1/custom-line-items/{item['id']}",
        json={"amount": "-40", "description": "Goodwill credit"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    _recalculate(client, database, data_dir, world, changed.json()["recalculate_periods"])
    assert _custom_lines(database, world, "2026-08") == [("Goodwill credit", Decimal(-40))]

    # Moved to a recurring charge over two months: both are named.
    moved = client.patch(
        f"/api/v1/custom-line-items/{item['id']}",
        json={"one_off_date": None, "recurring_from": "2026-08-01", "recurring_to": "2026-09-30"},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["recalculate_periods"] == ["2026-08", "2026-09"]

    gone = client.delete(f"/api/v1/custom-line-items/{item['id']}", headers=admin)
    assert gone.status_code == 200
    _recalculate(client, database, data_dir, world, ["2026-08"])
    assert _custom_lines(database, world, "2026-08") == []
    listed = client.get(f"/api/v1/customers/{customer}/custom-line-items", headers=admin).json()
    assert listed["total"] == 0
    kept = client.get(
        f"/api/v1/customers/{customer}/custom-line-items",
        params={"include_deleted": "true"},
        headers=admin,
    ).json()
    assert [i["deleted"] for i in kept["items"]] == [True]
    with database.session() as s:
        actions = [
            e.action
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.object_type == "custom_line_items")
            )
        ]
    assert actions == ["insert", "update", "update", "update"]


def test_bad_items_and_callers_without_the_permission_are_refused(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    build_billing(database, data_dir, world)
    url = f"/api/v1/customers/{world.nodes['cust_a1x'].id}/custom-line-items"
    admin = world.headers(PARTNER)
    for body, message in (
        ({"description": "x", "amount": "1"}, "either one_off_date or recurring_from"),
        (
            {
                "description": "x",
                "amount": "1",
                "one_off_date": "2026-08-01",
                "recurring_from": "2026-08-01",
            },
            "either one_off_date or recurring_from",
        ),
        (
            {
                "description": "x",
                "amount": "1",
                "recurring_from": "2026-08-01",
                "recurring_to": "2026-07-31",
            },
            "must not be before",
        ),
        ({"description": " ", "amount": "1", "one_off_date": "2026-08-01"}, "description"),
        (
            {"description": "x", "amount": "0.00000000001", "one_off_date": "2026-08-01"},
            "at most 10 decimal places",
        ),
    ):
        r = client.post(url, json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert message in r.text, (body, r.text)
    ok = {"description": "x", "amount": "1", "one_off_date": "2026-08-01"}
    assert client.post(url, json=ok, headers=world.headers("partner_user")).status_code == 403
    assert client.get(url, headers=world.headers("partner_user")).status_code == 200
    # A customer outside the caller's subtree does not exist for it.
    other = f"/api/v1/customers/{world.nodes['cust_b1x'].id}/custom-line-items"
    assert client.post(other, json=ok, headers=admin).status_code == 404


def test_an_item_reads_the_same_amount_on_create_change_and_list(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    """Issue 14: "-250.00" on create was "-250.0000000000" in the list (the
    column's scale); now every answer shows the minor unit, and the digits an
    amount carries beyond it (rounded only when billed) are kept."""
    build_billing(database, data_dir, world)
    url = f"/api/v1/customers/{world.nodes['cust_a1x'].id}/custom-line-items"
    admin = world.headers(PARTNER)
    shown = {}
    for sent, expected in (("-250.00", "-250.00"), ("-250", "-250.00"), ("0.125", "0.125")):
        made = client.post(
            url,
            json={"description": f"item {sent}", "amount": sent, "one_off_date": "2026-08-20"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        assert made.json()["amount"] == expected
        shown[made.json()["id"]] = expected
    listed = client.get(url, headers=admin).json()["items"]
    assert {i["id"]: i["amount"] for i in listed} == shown
    first = next(iter(shown))
    changed = client.patch(
        f"/api/v1/custom-line-items/{first}", json={"amount": "-40.5"}, headers=admin
    )
    assert changed.json()["amount"] == "-40.50"
    listed = client.get(url, headers=admin).json()["items"]
    assert {i["id"]: i["amount"] for i in listed}[first] == "-40.50"
