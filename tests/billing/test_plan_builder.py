"""The rating plan built from the database: a contract with both a cloud
price book and a VoIP deck rates each kind of usage with its own book."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rerate.billing.plan_builder import build_plan
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models.tenancy import Node
from rerate.rating.engine import rate
from tests.billing.fixtures import Billing, add_voip_deck, build_billing
from tests.rating.helpers import usage_table
from tests.world import World

AUG = datetime(2026, 8, 1, tzinfo=UTC)
SEP = datetime(2026, 9, 1, tzinfo=UTC)


def test_a_contract_with_a_cloud_book_and_a_voip_deck_rates_cdrs_with_the_deck(
    database: Database, data_dir: Path, world: World
) -> None:
    billing: Billing = build_billing(database, data_dir, world)
    contract_id = billing.contract_ids["cust_a1x"]
    deck_id, deck_version, _ = add_voip_deck(database, world, contract_id)
    with database.session() as s:
        customer = s.get(Node, world.nodes["cust_a1x"].id)
        assert customer is not None
        plan, _ = build_plan(s, customer, AUG, SEP)
    assert plan.price_book is not None
    assert plan.price_book.id == billing.price_book_id
    assert plan.tariff_book is not None
    assert plan.tariff_book.id == deck_id
    account = billing.accounts["acc-x"]
    start = datetime(2026, 8, 3, 10, tzinfo=UTC)
    usage = usage_table(
        [
            {
                "kind": "cdr",
                "account_id": account,
                "usage_start": start,
                "destination": "33123456",
                "billable_seconds": 120,
            },
            {
                "kind": "cloud",
                "account_id": account,
                "usage_start": start,
                "usage_end": start.replace(hour=12),
                "service": "Compute",
                "sku": "vm.small",
                "quantity": Decimal(2),
                "unit": "h",
                "currency": "EUR",
            },
        ]
    )
    rows = rate(usage, plan, Month(2026, 8).in_zone("Europe/Paris")).rated.to_pylist()
    cdr, cloud = rows
    assert (cdr["status"], cdr["version_id"], cdr["list_amount"]) == (
        "rated",
        deck_version,
        Decimal("1.2"),  # 2 min at 0.60
    )
    assert cloud["status"] == "rated"
    assert cloud["version_id"] != deck_version
    assert cloud["list_amount"] == Decimal("0.1")  # 2 h at 0.05
