"""Who and what the billing utilities may be run for.

Eligible customer: an active contract, and at least one account it owned
during the contract's coverage ("a linked management account affected by that
contract"). Eligible period: a closed month — its end, in the customer's
billing time zone, is in the past — inside the contract coverage, and not
before `EARLIEST_PERIOD`. The current, open month is never eligible: its usage
is still arriving (the VoIP seed forbids recalculating the present day for the
same reason).

`check_period` is the one gate: every path that creates billing work (the API,
the console, the CLI, schedules, cascades) calls it before queueing, the job
handlers call it again when the job runs, and invoice generation and issue call
it too. A rule added here therefore holds everywhere at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit.errors import Invalid
from rerate.kit.periods import Month, local_day
from rerate.models import (
    AccountOwnership,
    BillingRun,
    Contract,
    CurrentRun,
    CustomLineItem,
    Invoice,
    Node,
)
from rerate.models.base import utcnow
from rerate.models.enums import (
    LIVE_INVOICE_STATUSES,
    InvoiceCadence,
    InvoiceType,
    JobType,
    NodeKind,
)
from rerate.tenancy.service import in_scope

# No usage source rerate imports predates it; a typo such as 1900-01 would
# otherwise queue work over an empty month, or invoice one.
EARLIEST_PERIOD = Month(2000, 1)


class Operation(StrEnum):
    """What is asked for a (customer, period): the three job types, and invoices."""

    RECALCULATION = "recalculation"
    INVOICE_REFRESH = "invoice_refresh"
    CACHE_SYNC = "cache_sync"
    INVOICE_GENERATION = "invoice_generation"
    INVOICE_ISSUE = "invoice_issue"


_DONE_TO_A_PERIOD = {
    Operation.RECALCULATION: "recalculated",
    Operation.INVOICE_REFRESH: "refreshed",
    Operation.CACHE_SYNC: "cache-synced",
    Operation.INVOICE_GENERATION: "invoiced",
    Operation.INVOICE_ISSUE: "invoiced",
}


class Ineligible(Invalid):
    """The operation may not run for this (customer, period); the detail says why."""


def active_contract(session: Session, customer_id: int) -> Contract | None:
    return session.scalar(
        select(Contract).where(Contract.customer_id == customer_id, Contract.active.is_(True))
    )


def _coverage_utc(contract: Contract, now: datetime) -> tuple[datetime, datetime]:
    start = datetime.combine(contract.coverage_start, time(0), tzinfo=UTC)
    end = (
        datetime.combine(contract.coverage_end, time(0), tzinfo=UTC)
        if contract.coverage_end
        else now
    )
    return start, end


def has_linked_account(session: Session, contract: Contract, now: datetime) -> bool:
    start, end = _coverage_utc(contract, now)
    return (
        session.scalar(
            select(AccountOwnership.id)
            .where(
                AccountOwnership.customer_id == contract.customer_id,
                AccountOwnership.valid_from < end,
                (AccountOwnership.valid_to.is_(None)) | (AccountOwnership.valid_to > start),
            )
            .limit(1)
        )
        is not None
    )


def eligible_customers(
    session: Session, principal: Principal, *, now: datetime | None = None
) -> list[tuple[Node, Contract]]:
    now = now or utcnow()
    rows = session.execute(
        select(Node, Contract)
        .join(Contract, (Contract.customer_id == Node.id) & Contract.active.is_(True))
        .where(
            Node.kind == NodeKind.CUSTOMER,
            in_scope(principal.scope_paths(Permission.BILLING_UTILITIES)),
        )
        .order_by(Node.name)
    ).all()
    # `has_linked_account` for every contract at once: one query, not one per
    # customer (the list is read on every visit of the billing utilities).
    spans: dict[int, list[tuple[datetime, datetime | None]]] = {}
    for customer_id, valid_from, valid_to in session.execute(
        select(
            AccountOwnership.customer_id, AccountOwnership.valid_from, AccountOwnership.valid_to
        ).where(AccountOwnership.customer_id.in_([c.customer_id for _n, c in rows]))
    ):
        spans.setdefault(customer_id, []).append((valid_from, valid_to))

    def linked(contract: Contract) -> bool:
        start, end = _coverage_utc(contract, now)
        return any(
            valid_from < end and (valid_to is None or valid_to > start)
            for valid_from, valid_to in spans.get(contract.customer_id, ())
        )

    return [(node, contract) for node, contract in rows if linked(contract)]


def is_closed(month: Month, tz: str, now: datetime) -> bool:
    return month.in_zone(tz).end_utc <= now


def eligible_periods(contract: Contract, *, now: datetime | None = None) -> list[Month]:
    """Closed months inside the coverage (from `EARLIEST_PERIOD` on), newest first."""
    now = now or utcnow()
    first = max(Month.of(contract.coverage_start), EARLIEST_PERIOD)
    months: list[Month] = []
    month = first
    while is_closed(month, contract.billing_tz, now):
        if contract.coverage_end is not None and month.first_day >= contract.coverage_end:
            break
        months.append(month)
        month = month.next()
    return months[::-1]


# The operations that make an invoice: they also need something to bill.
_INVOICING = frozenset({Operation.INVOICE_GENERATION, Operation.INVOICE_REFRESH})


def has_billable(session: Session, contract: Contract, month: Month) -> bool:
    """Whether (customer, month) has anything billable, so deserves an invoice.

    Billable: an account owned by the customer at some instant of the month
    (its billing time zone), or usage lines in the month's published run, or a
    one-off custom line item dated in the month. Contract credits, support
    fees, minimum commitments and recurring custom items alone are not: they
    follow from having accounts, so a month before the customer owned any (or
    after it gave them all up) gets no invoice rather than one of -300.00.
    """
    window = month.in_zone(contract.billing_tz)
    customer_id = contract.customer_id
    owned = session.scalar(
        select(AccountOwnership.id)
        .where(
            AccountOwnership.customer_id == customer_id,
            AccountOwnership.valid_from < window.end_utc,
            (AccountOwnership.valid_to.is_(None)) | (AccountOwnership.valid_to > window.start_utc),
        )
        .limit(1)
    )
    if owned is not None:
        return True
    usage = session.scalar(
        select(BillingRun.row_count)
        .join(CurrentRun, CurrentRun.run_id == BillingRun.id)
        .where(CurrentRun.customer_id == customer_id, CurrentRun.period == str(month))
    )
    if usage:
        return True
    one_off = session.scalar(
        select(CustomLineItem.id)
        .where(
            CustomLineItem.customer_id == customer_id,
            CustomLineItem.deleted.is_(False),
            CustomLineItem.one_off_date >= month.first_day,
            CustomLineItem.one_off_date < month.next().first_day,
        )
        .limit(1)
    )
    return one_off is not None


def invoiced_periods(session: Session, customer_id: int) -> set[str]:
    """The periods with a live monthly invoice (Draft, Ready, Issued, Paid):
    the ones an invoice refresh can correct."""
    return set(
        session.scalars(
            select(Invoice.period).where(
                Invoice.customer_id == customer_id,
                Invoice.type == InvoiceType.MONTHLY.value,
                Invoice.status.in_([s.value for s in LIVE_INVOICE_STATUSES]),
            )
        )
    )


def refresh_periods(session: Session, contract: Contract) -> list[Month]:
    """The periods an invoice refresh is offered for, newest first: closed,
    inside the coverage, something billable and an invoice to correct (a
    period's first invoice is invoice generation's, not a refresh's)."""
    invoiced = invoiced_periods(session, contract.customer_id)
    return [
        m
        for m in eligible_periods(contract)
        if str(m) in invoiced and has_billable(session, contract, m)
    ]


def check_monthly_cadence(
    session: Session, customer: Node, contract: Contract, month: Month
) -> None:
    """A month's first monthly invoice is refused for a customer invoiced
    quarterly, and for a month a live quarterly invoice covers (a customer
    switched back to monthly): the quarter's invoice and its true-up bill it
    (docs/invoicing.md, "Quarterly invoices"). A refresh of a monthly invoice
    made before the switch still corrects it."""
    if contract.invoice_type == InvoiceCadence.QUARTERLY.value:
        raise Ineligible(
            f"{customer.name} is invoiced quarterly (its contract's invoice type): {month} is "
            "billed by the quarterly invoice and its true-up, not by a monthly invoice"
        )
    quarter = f"{month.year:04d}-Q{(month.month - 1) // 3 + 1}"
    covered = session.execute(
        select(Invoice.id, Invoice.number)
        .where(
            Invoice.customer_id == customer.id,
            Invoice.type == InvoiceType.QUARTERLY.value,
            Invoice.period == quarter,
            Invoice.status.in_([s.value for s in LIVE_INVOICE_STATUSES]),
        )
        .limit(1)
    ).first()
    if covered is not None:
        raise Ineligible(
            f"{month} is covered by {customer.name}'s quarterly invoice for {quarter} "
            f"({covered.number or 'not issued yet'}); it gets no monthly invoice"
        )


@dataclass(frozen=True, slots=True)
class Known:
    """What `check_period` reads about a customer, loaded for many at once
    (`known_for`): its active contract and whether it has a linked account."""

    contract: Contract | None
    linked: bool


def known_for(session: Session, customer_ids: Sequence[int], now: datetime) -> dict[int, Known]:
    """`Known` of every customer in two queries (plus one per 500 customers),
    for the submissions and batches that check thousands of periods."""
    ids = sorted(set(customer_ids))
    contracts: dict[int, Contract] = {}
    spans: dict[int, list[tuple[datetime, datetime | None]]] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        contracts.update(
            (c.customer_id, c)
            for c in session.scalars(
                select(Contract).where(Contract.customer_id.in_(chunk), Contract.active.is_(True))
            )
        )
        for customer_id, valid_from, valid_to in session.execute(
            select(
                AccountOwnership.customer_id,
                AccountOwnership.valid_from,
                AccountOwnership.valid_to,
            ).where(AccountOwnership.customer_id.in_(chunk))
        ):
            spans.setdefault(customer_id, []).append((valid_from, valid_to))
    out: dict[int, Known] = {}
    for customer_id in ids:
        contract = contracts.get(customer_id)
        linked = False
        if contract is not None:
            start, end = _coverage_utc(contract, now)
            linked = any(
                valid_from < end and (valid_to is None or valid_to > start)
                for valid_from, valid_to in spans.get(customer_id, ())
            )
        out[customer_id] = Known(contract, linked)
    return out


def check_period(
    session: Session,
    customer: Node,
    period: str,
    operation: Operation | JobType,
    *,
    now: datetime | None = None,
    invoice_needed: bool = True,
    known: Known | None = None,
) -> Month:
    """The month `period` if `operation` may run for (`customer`, `period`) at
    `now`; otherwise `Ineligible` (422) with a message a person can act on.

    A refresh needs an invoice to correct; `invoice_needed=False` when a
    schedule is created for a period whose first invoice is still to come
    (each occurrence is checked again, with it, when it fires).

    `known`: the contract and linked-account answer already loaded with
    `known_for` at the same `now` (the rules are the same; only the reads are
    shared)."""
    now = now or utcnow()
    verb = _DONE_TO_A_PERIOD[Operation(operation.value)]
    try:
        month = Month.parse(period)
    except ValueError as exc:
        raise Ineligible(str(exc)) from None
    if month < EARLIEST_PERIOD:
        raise Ineligible(f"{month} is before {EARLIEST_PERIOD}, the earliest period rerate bills")
    if known is None:
        contract = active_contract(session, customer.id)
        linked = contract is not None and has_linked_account(session, contract, now)
    else:
        contract, linked = known.contract, known.linked
    if contract is None or not linked:
        raise Ineligible(
            f"{customer.name} is not eligible: it needs an active contract and a linked "
            "account affected by it"
        )
    current = Month.of(local_day(now, contract.billing_tz))
    if month == current:
        raise Ineligible(
            f"{month} is the current, open billing period of {customer.name} "
            f"({contract.billing_tz}); only closed periods can be {verb}"
        )
    if month > current or not is_closed(month, contract.billing_tz, now):
        raise Ineligible(f"{month} has not closed yet; only past periods can be {verb}")
    if month.first_day < date(contract.coverage_start.year, contract.coverage_start.month, 1) or (
        contract.coverage_end is not None and month.first_day >= contract.coverage_end
    ):
        raise Ineligible(f"{month} is outside the contract coverage of {customer.name}")
    if Operation(operation.value) in _INVOICING and not has_billable(session, contract, month):
        raise Ineligible(
            f"{customer.name} has nothing billable in {month}: no account owned, no usage and "
            "no one-off item that month, so it gets no invoice"
        )
    if (
        invoice_needed
        and Operation(operation.value) == Operation.INVOICE_REFRESH
        and str(month) not in invoiced_periods(session, customer.id)
    ):
        raise Ineligible(
            f"{customer.name} has no invoice for {month} to refresh; a period's first invoice "
            "is made by invoice generation"
        )
    return month
