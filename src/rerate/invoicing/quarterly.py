"""Quarterly invoices: a quarter invoiced in advance from the three months
before it, then trued up to what the quarter actually cost.

Rules (docs/invoicing.md, "Quarterly invoices"):
- A customer whose contract's `invoice_type` is `quarterly` gets no monthly
  invoices: monthly generation refuses its months (`eligibility.
  check_monthly_cadence`), and a month already covered by a live quarterly
  invoice is refused whatever the contract says now.
- The *billed amount* of a month is the sum of the lines a monthly invoice
  of it would carry before tax and before any carried credit: the month's
  current billing run grouped into invoice lines (`invoice_groups`), each line
  rounded to the minor unit. A month with nothing billable counts 0.00; a
  month with something billable but no published run is refused (recalculate
  it first).
- Projection, method `average_3_months_x3`: the monthly figure is the
  average of the three completed months before the quarter, rounded to the
  minor unit with the contract's mode; the quarter is charged three times it.
  (Rounding the average first keeps the three months equal on the invoice;
  the quarter may differ from the basis sum by up to 1.5 minor units with
  the half modes, 3 with the directed ones.)
- An override replaces the projection with an amount (positive, at the minor
  unit) and needs a reason; both are printed and audited.
- True-up, once the quarter's three months have closed and been billed:
  difference = actual - charged (the override if any, else the projection).
  A positive difference is a true-up invoice (type `true_up`, Ready, issued
  like any invoice from the same series); a negative one a credit note for
  the difference (`credit_notes.credit_part`), which first settles what is
  still owed on the quarterly invoice; 0.00 records the true-up with no
  document. Either way the quarterly invoice and the document name each
  other, and projection + difference = actual to the cent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.billing.aggregates import invoice_groups
from rerate.billing.eligibility import (
    EARLIEST_PERIOD,
    Ineligible,
    active_contract,
    has_billable,
    has_linked_account,
    is_closed,
)
from rerate.billing.runs import current_run, read_daily, read_period_lines
from rerate.invoicing import credit_notes, service
from rerate.invoicing.generate import lock_customer
from rerate.kit import bounds
from rerate.kit.audit import record
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.kit.money import RoundingMode, round_money
from rerate.kit.periods import Month
from rerate.kit.present import money_plain, money_text
from rerate.models import Contract, Invoice, Node
from rerate.models.base import utcnow
from rerate.models.enums import (
    LIVE_INVOICE_STATUSES,
    InvoiceCadence,
    InvoiceStatus,
    InvoiceType,
)

METHOD = "average_3_months_x3"
METHODS = {METHOD: "average of the 3 completed months before the quarter × 3"}
MAX_REASON = 400
PROJECTION_KIND = "projection"
TRUE_UP_KIND = "true_up"
_QUARTER_RE = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, slots=True, order=True)
class Quarter:
    """A calendar quarter, e.g. Quarter(2026, 3) for "2026-Q3" (July-September)."""

    year: int
    quarter: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        m = _QUARTER_RE.match(text.strip())
        if not m:
            raise ValueError(f"quarter must look like YYYY-Qn (n 1 to 4), got {text[:16]!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, month: Month) -> Quarter:
        return cls(month.year, (month.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-Q{self.quarter}"

    def months(self) -> tuple[Month, Month, Month]:
        first = Month(self.year, 3 * self.quarter - 2)
        return (first, first.next(), first.next().next())

    def previous(self) -> Quarter:
        return (
            Quarter(self.year - 1, 4) if self.quarter == 1 else Quarter(self.year, self.quarter - 1)
        )


def parse_quarter(text: str) -> Quarter:
    try:
        quarter = Quarter.parse(text)
    except ValueError as exc:
        raise Invalid(f"quarter: {exc}") from None
    if not bounds.MIN_YEAR <= quarter.year <= bounds.MAX_YEAR:
        raise Invalid(f"quarter: the year must be {bounds.MIN_YEAR} to {bounds.MAX_YEAR}")
    if quarter.months()[0] < EARLIEST_PERIOD:
        raise Invalid(f"quarter: {quarter} is before {EARLIEST_PERIOD}, the earliest period billed")
    return quarter


# ----------------------------------------------------------------- pure math


@dataclass(frozen=True, slots=True)
class Projection:
    monthly: Decimal  # the average, rounded to the minor unit
    quarter: Decimal  # monthly times 3: what the quarterly invoice charges


def project(basis: Sequence[Decimal], currency: str, mode: RoundingMode) -> Projection:
    """The `average_3_months_x3` projection of three monthly billed amounts."""
    if len(basis) != 3:
        raise ValueError("the projection takes exactly three months")
    monthly = round_money(sum(basis, Decimal(0)) / 3, currency, mode)
    return Projection(monthly=monthly, quarter=monthly * 3)


def difference(actual: Decimal, charged: Decimal) -> Decimal:
    """What the true-up invoices (positive) or credits (negative): both
    amounts are at the minor unit, so the difference is exact."""
    return actual - charged


# ----------------------------------------------------------------- amounts


def month_amount(session: Session, contract: Contract, month: Month) -> Decimal:
    """The billed amount of `month`: its current run's invoice lines, each
    rounded to the minor unit, before tax and carried credits."""
    run = current_run(session, contract.customer_id, str(month))
    if run is None:
        if not has_billable(session, contract, month):
            return Decimal(0)
        raise Conflict(
            f"{month} has no published billing run; run a recalculation of {month} first"
        )
    mode = RoundingMode(contract.rounding_mode)
    return sum(
        (
            round_money(amount, contract.currency, mode)
            for _kind, _label, _unit, _qty, amount in invoice_groups(
                read_daily(run), read_period_lines(run)
            )
        ),
        Decimal(0),
    )


def _amounts_json(amounts: Sequence[tuple[Month, Decimal]], currency: str) -> str:
    return json.dumps([{"period": str(m), "amount": money_plain(a, currency)} for m, a in amounts])


def basis_of(invoice: Invoice) -> list[tuple[str, Decimal]]:
    """The stored basis (or actuals) of a quarterly invoice: (period, amount)."""
    return [
        (b["period"], Decimal(b["amount"])) for b in json.loads(invoice.projection_basis or "[]")
    ]


def actuals_of(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [
        (b["period"], Decimal(b["amount"])) for b in json.loads(invoice.true_up_actuals or "[]")
    ]


def charged(invoice: Invoice) -> Decimal:
    """What the quarterly invoice charged for the quarter (before tax)."""
    if invoice.override_amount is not None:
        return invoice.override_amount
    if invoice.projected_amount is None:
        raise Conflict(f"invoice {invoice.id} is not a quarterly invoice")
    return invoice.projected_amount


# ----------------------------------------------------------------- checks


def _contract(session: Session, customer: Node, now: datetime) -> Contract:
    contract = active_contract(session, customer.id)
    if contract is None or not has_linked_account(session, contract, now):
        raise Ineligible(
            f"{customer.name} is not eligible: it needs an active contract and a linked "
            "account affected by it"
        )
    return contract


def _in_coverage(contract: Contract, quarter: Quarter, customer: Node) -> None:
    first, *_, last = quarter.months()
    covered_from = Month.of(contract.coverage_start)
    if last < covered_from or (
        contract.coverage_end is not None and first.first_day >= contract.coverage_end
    ):
        raise Ineligible(f"{quarter} is outside the contract coverage of {customer.name}")


def check_issue(session: Session, customer: Node, invoice: Invoice) -> None:
    """A quarterly or true-up invoice may be issued while the customer is
    still eligible (an active contract with a linked account)."""
    _contract(session, customer, utcnow())


# ----------------------------------------------------------------- generate


@dataclass(frozen=True, slots=True)
class Generated:
    invoice: Invoice
    previous: Invoice | None  # a Ready version it superseded


def _check_override(
    override: Decimal | None, reason: str | None, currency: str
) -> tuple[Decimal | None, str | None]:
    text = (reason or "").strip()
    if override is None:
        if text:
            raise Invalid("reason: only with override_amount (why the projection is overridden)")
        return None, None
    if not isinstance(override, Decimal) or not override.is_finite():
        raise Invalid("override_amount: a decimal amount")
    if override <= 0:
        raise Invalid("override_amount: must be above 0.00")
    if round_money(override, currency) != override:
        raise Invalid(f"override_amount: at most the minor unit of {currency} ({override})")
    if not text:
        raise Invalid("reason: required with override_amount (it is printed and audited)")
    if len(text) > MAX_REASON or not text.isprintable():
        raise Invalid(f"reason: at most {MAX_REASON} printable characters")
    return override, text


def generate_quarterly(
    session: Session,
    customer: Node,
    quarter_text: str,
    *,
    override_amount: Decimal | None = None,
    reason: str | None = None,
    now: datetime | None = None,
    job_id: int | None = None,
) -> Generated:
    """A Ready quarterly invoice for `quarter` (e.g. "2026-Q3"), projected
    from the three months before it; a live Ready version is superseded by
    the new one, an issued one is refused (its true-up corrects it).

    Refused: a contract invoiced monthly (422, `invoice_type`), a basis month
    still open (422), a month of the quarter with a live monthly invoice
    (409: it would be billed twice), a projection that is not positive and no
    override (422)."""
    now = now or utcnow()
    quarter = parse_quarter(quarter_text)
    contract = _contract(session, customer, now)
    if contract.invoice_type != InvoiceCadence.QUARTERLY.value:
        raise Invalid(
            f"invoice_type: {customer.name}'s contract is invoiced {contract.invoice_type}; "
            "set its invoice type to quarterly first"
        )
    _in_coverage(contract, quarter, customer)
    basis_months = quarter.previous().months()
    for month in basis_months:
        if not is_closed(month, contract.billing_tz, now):
            raise Ineligible(
                f"{month} has not closed yet: the quarterly invoice for {quarter} is projected "
                f"from {basis_months[0]} to {basis_months[-1]}, so it can be made once they "
                "have closed"
            )
    override, why = _check_override(override_amount, reason, contract.currency)
    lock_customer(session, customer)
    monthly = session.scalars(
        select(Invoice.period).where(
            Invoice.customer_id == customer.id,
            Invoice.type == InvoiceType.MONTHLY.value,
            Invoice.period.in_([str(m) for m in quarter.months()]),
            Invoice.status.in_([s.value for s in LIVE_INVOICE_STATUSES]),
        )
    ).all()
    if monthly:
        raise Conflict(
            f"{customer.name} has monthly invoices for {', '.join(sorted(monthly))}; "
            f"{quarter} would be billed twice (credit them first)"
        )
    previous = service.live_invoice(
        session, customer.id, str(quarter), InvoiceType.QUARTERLY, for_update=True
    )
    if previous is not None and previous.status not in (
        InvoiceStatus.READY.value,
        InvoiceStatus.DRAFT.value,
    ):
        raise Conflict(
            f"{customer.name}'s quarterly invoice for {quarter} is {previous.status} "
            f"({previous.number}); its true-up corrects it, or credit it in full"
        )
    basis = [(m, month_amount(session, contract, m)) for m in basis_months]
    mode = RoundingMode(contract.rounding_mode)
    projection = project([a for _m, a in basis], contract.currency, mode)
    amount = override if override is not None else projection.quarter
    if amount <= 0:
        raise Invalid(
            f"override_amount: the projection for {quarter} is "
            f"{money_plain(projection.quarter, contract.currency)}; a quarterly invoice needs a "
            "positive amount, so give an override amount and its reason"
        )
    months = f"{quarter.months()[0]} to {quarter.months()[-1]}"
    if override is None:
        line = service.LineInput(
            PROJECTION_KIND,
            f"Projected charges {quarter} ({months}): average of "
            f"{basis_months[0]} to {basis_months[-1]} × 3",
            Decimal(3),
            "month",
            projection.quarter,
        )
    else:
        line = service.LineInput(
            PROJECTION_KIND,
            f"Charges {quarter} ({months}), agreed amount: {why}",
            Decimal(1),
            "quarter",
            override,
        )
    composed = service.compose(
        session,
        customer=customer,
        contract=contract,
        period=str(quarter.months()[0]),
        lines=[line],
        exclude_invoice_id=previous.id if previous is not None else None,
    )
    if previous is not None:
        service.retire(previous)
        session.flush()
    invoice = service.build_invoice(
        session,
        customer=customer,
        contract=contract,
        period=str(quarter),
        composed=composed,
        run_ids=[],
        job_id=job_id,
        type_=InvoiceType.QUARTERLY,
    )
    invoice.projection_method = METHOD
    invoice.projection_basis = _amounts_json(basis, contract.currency)
    invoice.projected_amount = projection.quarter
    invoice.override_amount = override
    invoice.override_reason = why
    if previous is not None:
        service.link(previous, invoice)
    session.flush()
    record(
        session,
        "projection",
        "invoices",
        invoice.id,
        quarter=str(quarter),
        method=METHOD,
        basis=invoice.projection_basis,
        projected=money_plain(projection.quarter, contract.currency),
        override=money_plain(override, contract.currency) if override is not None else None,
        reason=why,
    )
    return Generated(invoice=invoice, previous=previous)


# ----------------------------------------------------------------- true-up


@dataclass(frozen=True, slots=True)
class TrueUp:
    invoice: Invoice  # the quarterly invoice, now trued up
    actual: Decimal
    charged: Decimal
    difference: Decimal
    document: Invoice | None  # the true-up invoice or credit note; None for 0.00


def true_up(
    session: Session,
    invoice_id: int,
    *,
    now: datetime | None = None,
    job_id: int | None = None,
) -> TrueUp:
    """True up an issued quarterly invoice once its quarter's three months
    have closed and been billed (module docstring). Written once: a second
    call is refused (409) and the database refuses any change to it."""
    now = now or utcnow()
    invoice = session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found")
    if invoice.type != InvoiceType.QUARTERLY.value:
        raise Conflict(
            f"invoice {invoice.id} is a {invoice.type} invoice; only quarterly ones are trued up"
        )
    if invoice.trued_up_at is not None:
        raise Conflict(
            f"quarterly invoice {invoice.number} was trued up on {invoice.trued_up_at:%Y-%m-%d}"
        )
    if invoice.status not in (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value):
        raise Conflict(
            f"only an Issued or Paid quarterly invoice is trued up; this one is {invoice.status}"
        )
    customer = session.get(Node, invoice.customer_id)
    if customer is None:  # pragma: no cover - a foreign key
        raise NotFound("customer not found")
    contract = active_contract(session, customer.id)
    if contract is None or contract.currency != invoice.currency:
        raise Ineligible(
            f"{customer.name} has no active contract in {invoice.currency} to bill the true-up"
        )
    quarter = Quarter.parse(invoice.period)
    for month in quarter.months():
        if not is_closed(month, contract.billing_tz, now):
            raise Ineligible(
                f"{month} has not closed yet: {quarter} is trued up once its three months "
                "have been billed"
            )
    lock_customer(session, customer)
    actuals = [(m, month_amount(session, contract, m)) for m in quarter.months()]
    actual = sum((a for _m, a in actuals), Decimal(0))
    was = charged(invoice)
    diff = difference(actual, was)
    cur = invoice.currency
    description = (
        f"True-up {quarter}: actual charges {money_text(actual, cur)} "
        f"({', '.join(f'{m} {money_text(a, cur)}' for m, a in actuals)}) less "
        f"{money_text(was, cur)} invoiced on {invoice.number}"
    )
    document: Invoice | None = None
    if diff > 0:
        composed = service.compose(
            session,
            customer=customer,
            contract=contract,
            period=str(quarter.months()[0]),
            lines=[service.LineInput(TRUE_UP_KIND, description, Decimal(1), "", diff)],
        )
        document = service.build_invoice(
            session,
            customer=customer,
            contract=contract,
            period=str(quarter),
            composed=composed,
            run_ids=[],
            job_id=job_id,
            type_=InvoiceType.TRUE_UP,
        )
    elif diff < 0:
        document = credit_notes.credit_part(
            session,
            invoice,
            kind=TRUE_UP_KIND,
            description=description,
            amount=-diff,
            reason=f"true-up of {quarter}: actual below the amount invoiced",
            job_id=job_id,
            true_up_of=True,
        )
    if document is not None:
        document.true_up_of_id = invoice.id  # a Ready invoice, or set on the note already
        invoice.trued_up_by_id = document.id
    invoice.trued_up_at = now
    invoice.true_up_actuals = _amounts_json(actuals, cur)
    invoice.true_up_actual = actual
    session.flush()
    record(
        session,
        "true_up",
        "invoices",
        invoice.id,
        quarter=str(quarter),
        actual=money_plain(actual, cur),
        charged=money_plain(was, cur),
        difference=money_plain(diff, cur),
        document_id=document.id if document is not None else None,
    )
    return TrueUp(invoice=invoice, actual=actual, charged=was, difference=diff, document=document)


def projection_view(invoice: Any) -> dict[str, Any] | None:
    """The projection and true-up facts of a quarterly invoice for the API
    (money as strings at the minor unit); None for other invoices. `invoice`
    is an `Invoice` or a row with the same columns."""
    method = invoice.projection_method
    if method is None:
        return None
    cur = invoice.currency
    override = invoice.override_amount
    actual = invoice.true_up_actual
    chg = override if override is not None else invoice.projected_amount
    return {
        "method": method,
        "method_text": METHODS.get(method, method),
        "basis": json.loads(invoice.projection_basis or "[]"),
        "projected_amount": money_plain(invoice.projected_amount, cur),
        "override_amount": money_plain(override, cur) if override is not None else None,
        "override_reason": invoice.override_reason,
        "charged_amount": money_plain(chg, cur),
        "trued_up_at": invoice.trued_up_at,
        "actuals": json.loads(invoice.true_up_actuals or "[]"),
        "actual_amount": money_plain(actual, cur) if actual is not None else None,
        "difference": money_plain(actual - chg, cur) if actual is not None else None,
    }
