"""Credits never make an invoice negative; the rest is carried to the next
invoice once, and a refresh recomputes the balance instead of doubling it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from rerate.invoicing.credits import Available, NegativeInvoice, settle
from rerate.kit.db import Database
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER
from tests.invoicing.ledger_helpers import (
    add_credit,
    add_one_off,
    drop_rule,
    generate,
    issue,
    lines_of,
    recalc,
)
from tests.world import World

cents = st.integers(min_value=0, max_value=10**9).map(lambda c: Decimal(c) / 100)


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


@given(
    charges=st.lists(cents, max_size=5),
    credits=st.lists(cents, max_size=3),
    brought=st.lists(cents, max_size=3),
)
def test_settlement_never_goes_negative_and_loses_no_cent(
    charges: list[Decimal], credits: list[Decimal], brought: list[Decimal]
) -> None:
    amounts = [("usage", c) for c in charges] + [("credit", -c) for c in credits]
    available = [Available(i + 1, f"N{i}", a) for i, a in enumerate(brought)]
    settled = settle(amounts, available)
    subtotal = sum((a for _k, a in amounts), Decimal(0)) + sum(
        (a for _k, _d, a in settled.extra), Decimal(0)
    )
    assert subtotal >= 0
    # what the period's credits could not absorb is carried, exactly
    assert settled.carried == max(Decimal(0), sum(credits) - sum(charges))
    applied = sum((a for _s, a in settled.applied), Decimal(0))
    assert applied <= sum(brought)
    by_source = {b.source_id: b.amount for b in available}
    assert all(0 < a <= by_source[source] for source, a in settled.applied)
    # brought-forward credit is used up to what is left to pay, no more
    assert subtotal == max(Decimal(0), sum(charges) - sum(credits)) - applied
    assert subtotal == 0 or applied == sum(brought)


def test_negative_charges_are_refused_for_a_credit_note() -> None:
    with pytest.raises(NegativeInvoice, match="credit note"):
        settle([("usage", Decimal("10.00")), ("custom", Decimal("-25.00"))], [])


def test_credit_larger_than_the_invoice_is_carried_to_the_next_one_once(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    rule = add_credit(database, billing, "cust_a1x", "500")
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-08")
    aug = generate(client, billing, "cust_a1x", "2026-08")
    assert aug.status_code == 201, aug.text
    aug_body = aug.json()
    charges = sum(
        Decimal(ln["amount"]) for ln in aug_body["lines"] if ln["kind"] not in ("credit", "tax")
    ) - sum(Decimal(ln["amount"]) for ln in lines_of(aug_body, "credit_carried_forward"))
    carried = Decimal(500) - charges
    # Credit applied up to the amount, the rest carried; no negative base for tax.
    assert aug_body["subtotal"] == "0.00"
    assert aug_body["tax"] == "0.00"
    assert aug_body["total"] == "0.00"
    [carry] = lines_of(aug_body, "credit_carried_forward")
    assert carry["description"] == "Credit carried forward to next invoice"
    assert Decimal(carry["amount"]) == carried
    number = issue(client, billing, aug_body["id"])["number"]
    balance = client.get(
        f"/api/v1/customers/{w.nodes['cust_a1x'].id}/balance", headers=w.headers(PARTNER)
    ).json()["items"]
    assert [(b["currency"], Decimal(b["credit"])) for b in balance] == [("EUR", carried)]

    # September without the credit rule: the balance pays its 84.80 (see
    # test_billing_utilities: 2 accounts x 30 days x 1.41333333), tax on 0.
    drop_rule(database, rule)
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-09")
    sep = generate(client, billing, "cust_a1x", "2026-09").json()
    [brought] = lines_of(sep, "credit_brought_forward")
    assert brought["description"] == f"Credit brought forward from {number}"
    assert brought["amount"] == "-84.80"
    assert (sep["subtotal"], sep["tax"], sep["total"]) == ("0.00", "0.00", "0.00")
    left = carried - Decimal("84.80")

    def credit() -> Decimal:
        items = client.get(
            f"/api/v1/customers/{w.nodes['cust_a1x'].id}/balance", headers=w.headers(PARTNER)
        ).json()["items"]
        return Decimal(items[0]["credit"])

    assert credit() == left
    # Regenerating September (a new Ready version, after a one-off charge) spends
    # the balance again from scratch: the superseded version's use is freed.
    add_one_off(database, billing, "cust_a1x", "10", date(2026, 9, 10))
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-09")
    again = generate(client, billing, "cust_a1x", "2026-09")
    assert again.status_code == 201, again.text
    [brought2] = lines_of(again.json(), "credit_brought_forward")
    assert brought2["amount"] == "-94.80"
    assert credit() == carried - Decimal("94.80")  # not 84.80 + 94.80 spent


def test_tax_is_computed_after_credits(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    add_credit(database, billing, "cust_a1x", "4.80")
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-09")
    sep = generate(client, billing, "cust_a1x", "2026-09").json()
    # 84.80 - 4.80 = 80.00; 20 % tax on 80.00 = 16.00 (not on 84.80)
    assert (sep["subtotal"], sep["tax"], sep["total"]) == ("80.00", "16.00", "96.00")
    assert not lines_of(sep, "credit_carried_forward")
