"""Listing the eligible customers costs the same few queries however many there are.

It used to ask, one query per customer, whether an account was linked during
the contract's coverage: the list is read on every visit of the billing
utilities and was among the main reads under load.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from rerate.accounts.service import create_account, move_account
from rerate.kit.db import Database
from rerate.models import Contract, Node
from rerate.models.enums import AccountKind, NodeKind
from rerate.tenancy.service import create_node
from tests.billing.fixtures import START, Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER
from tests.world import World

URL = "/api/v1/billing-utilities/customers"


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def _statements(client: TestClient, database: Database, headers: dict[str, str]) -> tuple[int, int]:
    """(items listed, SQL statements the listing ran), once credentials are cached."""
    assert client.get(URL, headers=headers).status_code == 200
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        listed = client.get(URL, headers=headers).json()
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    return listed["total"], len(seen)


def _more_customers(database: Database, billing: Billing, n: int) -> None:
    with database.session() as s:
        partner = s.get(Node, billing.world.nodes["partner_a1"].id)
        for i in range(n):
            customer = create_node(s, NodeKind.CUSTOMER, name=f"Extra {i}", parent=partner)
            s.add(
                Contract(
                    customer_id=customer.id,
                    seller_id=partner.id if partner else None,
                    currency="EUR",
                    billing_tz="Europe/Paris",
                    coverage_start=date(2026, 1, 1),
                    active=True,
                    cloud_price_book_id=billing.price_book_id,
                )
            )
            account = create_account(s, AccountKind.MANAGEMENT_ACCOUNT, external_ref=f"extra-{i}")
            move_account(s, account, customer=customer, valid_from=START)


def test_eligible_customers_take_a_fixed_number_of_queries(
    client: TestClient, billing: Billing, database: Database
) -> None:
    headers = billing.world.headers(PARTNER)
    listed, before = _statements(client, database, headers)
    assert listed == 2
    _more_customers(database, billing, 4)
    listed, after = _statements(client, database, headers)
    assert listed == 6
    assert after == before
