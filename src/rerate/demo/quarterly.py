"""The demo's quarterly tenant: one customer invoiced quarterly, not monthly.

`make_quarterly` (called by the loader once the contracts exist) switches the
contract of `QUARTERLY_CUSTOMER` to `invoice_type` quarterly through the
contract service, as a reseller would edit the term. Its accounts, usage and
price book are the demo's like any other customer's, so its months are
recalculated with the others; monthly invoicing refuses them
(`eligibility.check_monthly_cadence`), and `bill_demo` skips the customer.

`invoice_current_quarter` (called by `bill_demo` after the monthly invoices)
makes and issues the quarterly invoice for the quarter holding the demo's
`today`, through `invoicing.quarterly.generate_quarterly`. Its basis is the
three months before that quarter; the ones before the contract's coverage
count 0.00, so when some do the projection understates a customer that has
just started: the demo then overrides it with the average of the covered
basis months x 3, with the reason printed on the invoice ("ramp-up: ...").
When all three basis months are covered (today in a quarter's first month),
the plain projection is charged; and since the previous quarter's months have
then all been billed, the demo first invoices that quarter too (an agreed
amount below what it cost: there was nothing before it to project from) and
trues it up, so the console shows a true-up invoice.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Principal
from rerate.billing.eligibility import active_contract
from rerate.contracts import service as contracts
from rerate.invoicing import quarterly
from rerate.invoicing import service as invoices
from rerate.kit.money import RoundingMode, round_money
from rerate.kit.periods import Month
from rerate.models import AuditEntry, Contract, Invoice, Node
from rerate.models.enums import InvoiceCadence

# A cloud customer of Acme (Azure Stack) with no commitment, no credit-note
# policy and no moving peer: nothing else the demo shows depends on its
# monthly invoices. Billed in UTC, where its accounts' links (from the
# window's first midnight UTC) start exactly with its coverage, so no month
# before the contract has anything billable (a customer west of UTC would own
# its accounts during the last hours of the month before).
QUARTERLY_CUSTOMER = "proseware"
SWITCH_REASON = "demo dataset: invoiced quarterly in advance"
# Used only when the covered basis months billed nothing at all (a tiny scale).
FALLBACK_AMOUNT = Decimal("1000.00")


def make_quarterly(session: Session, principal: Principal, nodes: dict[str, Node]) -> Contract:
    """Switch the quarterly tenant's contract to `invoice_type` quarterly."""
    contract = active_contract(session, nodes[QUARTERLY_CUSTOMER].id)
    assert contract is not None, "the quarterly tenant has an active contract"
    contracts.edit_terms(
        session,
        principal,
        contract.id,
        {"invoice_type": InvoiceCadence.QUARTERLY.value},
        reason=SWITCH_REASON,
    )
    return contract


def quarterly_customers(session: Session) -> set[int]:
    """Customer ids whose active contract is invoiced quarterly."""
    return set(
        session.scalars(
            select(Contract.customer_id).where(
                Contract.active.is_(True),
                Contract.invoice_type == InvoiceCadence.QUARTERLY.value,
            )
        )
    )


def demo_today(session: Session) -> date | None:
    """The `today` the demo was loaded for (its `demo_load` audit entry)."""
    changes = session.scalar(
        select(AuditEntry.changes)
        .where(AuditEntry.action == "demo_load")
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    if changes is None:
        return None
    return date.fromisoformat(json.loads(changes)["today"])


def invoice_current_quarter(session: Session, today: date) -> list[Invoice]:
    """Make and issue the quarterly invoice of every quarterly customer for
    the quarter holding `today` (first, when its contract covers all of the
    previous quarter, that quarter's and its true-up); answers the invoices
    issued."""
    quarter = quarterly.Quarter.of(Month(today.year, today.month))
    issued: list[Invoice] = []
    for customer_id in sorted(quarterly_customers(session)):
        customer = session.get(Node, customer_id)
        contract = active_contract(session, customer_id)
        assert customer is not None
        assert contract is not None
        issued += _previous_quarter_trued_up(session, customer, contract, quarter)
        override, reason = _ramp_up(session, contract, quarter)
        made = quarterly.generate_quarterly(
            session, customer, str(quarter), override_amount=override, reason=reason
        )
        # Sent on the quarter's first morning, as the monthly ones are on the 1st.
        issued.append(invoices.issue(session, made.invoice, at=_morning(quarter.months()[0])))
    return issued


def _ramp_up(
    session: Session, contract: Contract, quarter: quarterly.Quarter
) -> tuple[Decimal | None, str | None]:
    """No override when the contract covers all three basis months; else
    the average of the covered ones x 3, and why."""
    started = Month.of(contract.coverage_start)
    basis = quarter.previous().months()
    covered = [m for m in basis if m >= started]
    if len(covered) == len(basis):
        return None, None
    amounts = [quarterly.month_amount(session, contract, m) for m in covered]
    if covered and sum(amounts, Decimal(0)) > 0:
        monthly = round_money(
            sum(amounts, Decimal(0)) / len(covered),
            contract.currency,
            RoundingMode(contract.rounding_mode),
        )
        return monthly * 3, (
            f"ramp-up: the contract started in {started}, so {quarter} is projected from "
            f"{covered[0]} to {covered[-1]} only (average × 3)"
        )
    return FALLBACK_AMOUNT, (
        f"ramp-up: the contract started in {started}, nothing billed yet; agreed amount"
    )


# The previous quarter's agreed amount, as a share of what it actually cost:
# below it, so its true-up is an invoice (a credit note would be a second one
# in the demo, whose Wingtip correction is the credit note it shows).
AGREED_SHARE = Decimal("0.9")


def _previous_quarter_trued_up(
    session: Session, customer: Node, contract: Contract, quarter: quarterly.Quarter
) -> list[Invoice]:
    """When the contract covers all of the previous quarter (and so the demo
    billed its three months), its quarterly invoice at an agreed amount,
    issued on its first morning, then trued up and the true-up invoice
    issued on this quarter's first morning. Answers the invoices issued."""
    previous = quarter.previous()
    months = previous.months()
    if months[0] < Month.of(contract.coverage_start):
        return []
    actual = sum((quarterly.month_amount(session, contract, m) for m in months), Decimal(0))
    agreed = round_money(actual * AGREED_SHARE, contract.currency)
    if agreed <= 0:
        return []
    made = quarterly.generate_quarterly(
        session,
        customer,
        str(previous),
        override_amount=agreed,
        reason="first quarter of the contract: nothing billed before it to project from",
    )
    out = [invoices.issue(session, made.invoice, at=_morning(months[0]))]
    trued = quarterly.true_up(session, made.invoice.id)
    if trued.document is not None and trued.document.type != "credit_note":
        out.append(invoices.issue(session, trued.document, at=_morning(quarter.months()[0])))
    return out


def _morning(month: Month) -> datetime:
    """9:00 UTC on the month's first day (never later than now)."""
    return min(datetime.combine(month.first_day, time(9), tzinfo=UTC), datetime.now(UTC))
