"""Billing status: what is overdue, issued, uninvoiced and paid, per tenant
(customer) and subscription (account), over four windows around a month.

Windows, for a selected month M (the current month by default):
`last_month` (M-1), `last_quarter` (the three months of the calendar quarter
before M's), `month` (M) and `quarter_to_date` (from the first month of M's
quarter through M). A period counts in every window that holds it.

Per customer and period (a billing month):

- An **Issued or Paid** invoice (monthly or quarterly; credit notes are not
  counted: they settle other invoices) splits its total into **paid** (money
  received and credit notes applied to it), and what is still owed: **overdue**
  when the invoice is past its due date in the customer's billing zone
  (`payments.is_overdue`), **issued** otherwise. So paid + issued + overdue is
  what was invoiced, with tax.
- A period with a published run (`current_runs`) and no Issued or Paid
  invoice is **uninvoiced** for the run's billed amount (`net_total`: usage net
  rounded plus the period lines, before tax). A Draft or Ready invoice (the
  seed's "preview" and "generated") does not change that: it is not sent yet.
  A Credited or Cancelled invoice's period is uninvoiced again until a new
  invoice is issued.

Per subscription (account), the billed usage of the account in the period
(`billing_cache.net_amount` of the current run, before tax and period lines)
is filed under the state of its period's invoice: uninvoiced, overdue (the
invoice has an overdue amount), issued (something is still owed) or paid.
Invoices are per customer, so a subscription's amount is not split by
partial payments.

Amounts are exact Decimals per currency; nothing in different currencies is
ever added. Who sees what: the customers the caller may read invoices of
(`view_invoices` on their subtree) that the invoice visibility settings show
the caller (invoicing/visibility.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, lazyload

from rerate.auth.permissions import Permission, Principal
from rerate.invoicing import payments, visibility
from rerate.kit.periods import Month
from rerate.models import Account, BillingCacheRow, BillingRun, CurrentRun, Invoice, Node
from rerate.models.enums import InvoiceStatus, InvoiceType, NodeKind
from rerate.tenancy.service import get_customer, in_scope

BUCKETS = ("overdue", "issued", "uninvoiced", "paid")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    label: str
    first: str  # YYYY-MM, inclusive
    last: str  # YYYY-MM, inclusive

    def holds(self, period: str) -> bool:
        return self.first <= period <= self.last


def _month(index: int) -> str:
    """Month number `index` (year * 12 + month - 1) as YYYY-MM. Plain
    arithmetic, not `Month`: the windows of 1900-01 reach back into 1899,
    a month no period has, and must not be an error."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _quarters(lo: str, hi: str) -> list[str]:
    """The quarters (YYYY-Qn, as quarterly and true-up invoices name their
    period) that months `lo` to `hi` touch."""
    first = int(lo[:4]) * 12 + int(lo[5:7]) - 1
    last = int(hi[:4]) * 12 + int(hi[5:7]) - 1
    return sorted({f"{m // 12:04d}-Q{m % 12 // 3 + 1}" for m in range(first, last + 1)})


def covered_months(period: str) -> list[str]:
    """The billing months an invoice's period covers: itself for a month,
    the quarter's three months for a quarterly or true-up invoice."""
    if "-Q" not in period:
        return [period]
    first = int(period[:4]) * 12 + (int(period[-1]) - 1) * 3
    return [_month(first + k) for k in range(3)]


def windows_for(month: Month) -> list[Window]:
    """The four windows around `month`, in the order they are shown."""
    m = month.year * 12 + month.month - 1
    quarter_first = m - m % 3
    return [
        Window("last_month", "Last month", _month(m - 1), _month(m - 1)),
        Window(
            "last_quarter", "Last quarter", _month(quarter_first - 3), _month(quarter_first - 1)
        ),
        Window("month", "Month", _month(m), _month(m)),
        Window("quarter_to_date", "Quarter to date", _month(quarter_first), _month(m)),
    ]


@dataclass(slots=True)
class Amounts:
    overdue: Decimal = ZERO
    issued: Decimal = ZERO
    uninvoiced: Decimal = ZERO
    paid: Decimal = ZERO

    def add(self, bucket: str, amount: Decimal) -> None:
        setattr(self, bucket, getattr(self, bucket) + amount)

    def as_dict(self) -> dict[str, Decimal]:
        return {b: getattr(self, b) for b in BUCKETS}


@dataclass(slots=True)
class Row:
    """One currency's amounts per window, for a customer, an account or all."""

    currency: str
    windows: dict[str, Amounts]


@dataclass(slots=True)
class Subscription:
    account_id: int
    external_ref: str
    name: str
    rows: list[Row] = field(default_factory=list)


@dataclass(slots=True)
class Tenant:
    customer_id: int
    name: str
    rows: list[Row] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)


@dataclass(slots=True)
class Status:
    month: Month
    windows: list[Window]
    tenants: list[Tenant]
    totals: list[Row]  # per currency, over every tenant shown


class _Sums:
    """Amounts per (key, currency, window), added period by period."""

    def __init__(self, windows: list[Window]) -> None:
        self.windows = windows
        self.by: dict[object, dict[str, dict[str, Amounts]]] = {}

    def add(self, key: object, currency: str, period: str, bucket: str, amount: Decimal) -> None:
        if not amount:
            return
        per_currency = self.by.setdefault(key, {})
        slot = per_currency.setdefault(currency, {w.key: Amounts() for w in self.windows})
        for w in self.windows:
            if w.holds(period):
                slot[w.key].add(bucket, amount)

    def rows(self, key: object) -> list[Row]:
        found = self.by.get(key, {})
        return [Row(currency, found[currency]) for currency in sorted(found)]


def visible_customers(
    session: Session, principal: Principal, customer_id: int | None = None
) -> list[Node]:
    """The customers whose billing status the caller sees: in its
    `view_invoices` scope (404 for a named one outside it) and shown by the
    visibility settings (403 `InvoicesHidden` for a named hidden one, and when
    the caller sees invoices nowhere)."""
    if customer_id is not None:
        customer = get_customer(session, principal, customer_id, Permission.VIEW_INVOICES)
        visibility.require_visible(session, principal, customer)
        return [customer]
    principal.require(Permission.VIEW_INVOICES)
    if not visibility.sees_any(session, principal):
        raise visibility.InvoicesHidden()
    visible = visibility.visibility(session, principal)
    nodes = session.scalars(
        select(Node)
        .where(
            in_scope(principal.scope_paths(Permission.VIEW_INVOICES)),
            Node.kind == NodeKind.CUSTOMER.value,
        )
        .order_by(Node.name, Node.id)
    )
    return [n for n in nodes if visible(n)]


_INVOICED = (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value)
# The worst state wins when a period has several invoices (monthly and quarterly).
_RANK = {"paid": 0, "issued": 1, "overdue": 2}


def billing_status(
    session: Session,
    principal: Principal,
    month: Month,
    *,
    customer_id: int | None = None,
    today: Callable[[int], date] | None = None,
) -> Status:
    """The billing status of the caller's visible customers (or one of them)
    around `month`. `today(customer_id)`: the day overdue is judged on, by
    default today in the customer's billing zone."""
    today = today or (lambda cid: payments.billing_today(session, cid))
    windows = windows_for(month)
    lo = min(w.first for w in windows)
    hi = max(w.last for w in windows)
    customers = visible_customers(session, principal, customer_id)
    ids = [c.id for c in customers]
    tenant_sums, account_sums = _Sums(windows), _Sums(windows)
    state = _invoiced(session, ids, lo, hi, today, tenant_sums)
    _uninvoiced(session, ids, lo, hi, state, tenant_sums)
    accounts = _subscriptions(session, ids, lo, hi, state, account_sums)

    tenants = []
    for customer in customers:
        tenant = Tenant(customer.id, customer.name, tenant_sums.rows(customer.id))
        for account in accounts.get(customer.id, []):
            rows = account_sums.rows((customer.id, account.id))
            if rows:
                tenant.subscriptions.append(
                    Subscription(account.id, account.external_ref, account.name, rows)
                )
        tenants.append(tenant)
    return Status(month, windows, tenants, _totals(windows, tenants))


def _invoiced(
    session: Session,
    ids: list[int],
    lo: str,
    hi: str,
    today: Callable[[int], date],
    sums: _Sums,
) -> dict[tuple[int, str], str]:
    """File Issued and Paid invoices; answer each invoiced (customer, period)'s
    state: overdue, issued or paid."""
    if not ids:
        return {}
    invoices = session.scalars(
        select(Invoice)
        .options(lazyload(Invoice.lines))  # totals only: the lines are never read here
        .where(
            Invoice.customer_id.in_(ids),
            # Quarterly and true-up invoices name a quarter (YYYY-Qn), which
            # sorts after every month of its year: fetched by name.
            or_(
                and_(Invoice.period >= lo, Invoice.period <= hi),
                Invoice.period.in_(_quarters(lo, hi)),
            ),
            Invoice.status.in_(_INVOICED),
            Invoice.type != InvoiceType.CREDIT_NOTE.value,
        )
    ).all()
    settled = payments.settlements(session, [inv.id for inv in invoices])
    days: dict[int, date] = {}
    state: dict[tuple[int, str], str] = {}
    for inv in invoices:
        s = settled[inv.id]
        done = s.paid + s.credited
        owed = inv.total - done
        if inv.customer_id not in days:
            days[inv.customer_id] = today(inv.customer_id)
        late = payments.is_overdue(inv, owed, days[inv.customer_id])
        # A quarterly invoice's money counts in its quarter's first month (it
        # is charged in advance); all three months are invoiced by it.
        months = covered_months(inv.period)
        sums.add(inv.customer_id, inv.currency, months[0], "paid", done)
        sums.add(inv.customer_id, inv.currency, months[0], "overdue" if late else "issued", owed)
        mine = "overdue" if late else ("issued" if owed > 0 else "paid")
        for period in months:
            key = (inv.customer_id, period)
            if _RANK[mine] >= _RANK.get(state.get(key, "paid"), 0):
                state[key] = mine
    return state


def _current_runs(ids: list[int], lo: str, hi: str) -> list[ColumnElement[bool]]:
    return [
        CurrentRun.customer_id.in_(ids),
        CurrentRun.period >= lo,
        CurrentRun.period <= hi,
    ]


def _uninvoiced(
    session: Session,
    ids: list[int],
    lo: str,
    hi: str,
    state: dict[tuple[int, str], str],
    sums: _Sums,
) -> None:
    if not ids:
        return
    runs = session.execute(
        select(BillingRun.customer_id, BillingRun.period, BillingRun.currency, BillingRun.net_total)
        .join(CurrentRun, CurrentRun.run_id == BillingRun.id)
        .where(*_current_runs(ids, lo, hi))
    )
    for customer_id, period, currency, net_total in runs:
        if (customer_id, period) not in state:
            sums.add(customer_id, currency, period, "uninvoiced", net_total)


def _subscriptions(
    session: Session,
    ids: list[int],
    lo: str,
    hi: str,
    state: dict[tuple[int, str], str],
    sums: _Sums,
) -> dict[int, list[Account]]:
    """File each account's billed usage of the current runs under its
    period's state; answer the accounts seen, per customer, by reference."""
    if not ids:
        return {}
    rows = session.execute(
        select(
            BillingCacheRow.customer_id,
            BillingCacheRow.period,
            BillingCacheRow.currency,
            BillingCacheRow.net_amount,
            Account,
        )
        .join(
            CurrentRun,
            (CurrentRun.customer_id == BillingCacheRow.customer_id)
            & (CurrentRun.period == BillingCacheRow.period)
            # The cache of the published run only: a stale cache row is not billing.
            & (CurrentRun.run_id == BillingCacheRow.run_id),
        )
        .join(Account, Account.id == BillingCacheRow.account_id)
        .where(*_current_runs(ids, lo, hi))
    )
    accounts: dict[int, dict[int, Account]] = {}
    for customer_id, period, currency, net_amount, account in rows:
        bucket = state.get((customer_id, period), "uninvoiced")
        sums.add((customer_id, account.id), currency, period, bucket, net_amount)
        accounts.setdefault(customer_id, {})[account.id] = account
    return {
        cid: sorted(found.values(), key=lambda a: (a.external_ref, a.id))
        for cid, found in accounts.items()
    }


def _totals(windows: list[Window], tenants: list[Tenant]) -> list[Row]:
    out: dict[str, dict[str, Amounts]] = {}
    for tenant in tenants:
        for row in tenant.rows:
            into = out.setdefault(row.currency, {w.key: Amounts() for w in windows})
            for key, amounts in row.windows.items():
                for bucket in BUCKETS:
                    into[key].add(bucket, getattr(amounts, bucket))
    return [Row(currency, out[currency]) for currency in sorted(out)]
