"""Commission rules and what they earn (docs/commissions.md).

Basis: the **invoiced net** of the node's customers, i.e. the invoice lines
other than tax of every document that was issued, dated by its issue day
(UTC): an invoice counts when it is issued, a credit note (negative lines)
when it is issued, and an issued invoice later *cancelled* by a refresh
counts negatively on the day it was cancelled. So a month's statement never
changes once the month is over (a correction lands in the month it is made),
and a partner can check every figure against documents it holds.

Rule choice, per line: the node's rule for the line's service (its invoice
heading, `invoicing.pdf.group_of`: "Compute", "Calls", "Support", ...)
valid on the document's day, else the node's overall rule (service ""), else
no commission (the line still shows, at rate "-", so the basis adds up to the
invoices).

Rounding boundary (one): a statement line is (customer, service, currency,
rule); its commission is basis x rate rounded once to the currency's minor
unit with ROUND_HALF_UP (the project's default, symmetric for credit notes).
Totals, summaries and charts add rounded statement lines and never round again.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.invoicing.pdf import group_of
from rerate.kit import bounds
from rerate.kit.audit import set_reason
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.kit.money import DEFAULT_ROUNDING, round_money
from rerate.kit.periods import Month
from rerate.models import CommissionRule, Invoice, Node
from rerate.models.enums import InvoiceStatus, InvoiceType, NodeKind
from rerate.tenancy.service import in_scope

ROUNDING = DEFAULT_ROUNDING
RATE_PLACES = 6
MAX_SERVICE = 100
MAX_REASON = 400
MAX_MONTHS = 36  # a summary spans at most three years
EARNING_KINDS = (NodeKind.DISTRIBUTOR.value, NodeKind.PARTNER.value)
ALL_SERVICES = ""


# --- nodes ------------------------------------------------------------------------------------


def commission_node(
    session: Session,
    principal: Principal,
    node_id: int,
    permission: Permission = Permission.VIEW_COMMISSIONS,
) -> Node:
    """The partner or distributor `node_id`, if the caller may see its
    commissions: 404 when it is outside the caller's subtrees or is not a
    partner or distributor (nothing is disclosed), 403 when the caller sees it
    but lacks `permission`."""
    node = session.get(Node, node_id)
    if node is None or not principal.can_see(node.path) or node.kind not in EARNING_KINDS:
        raise NotFound(f"partner or distributor {node_id} not found")
    principal.require(permission, node.path)
    return node


def visible_nodes(session: Session, principal: Principal) -> list[Node]:
    """Partners and distributors whose commissions the caller sees: a partner
    its own node, a distributor itself and its partners, the platform all."""
    stmt = (
        select(Node)
        .where(in_scope(principal.scope_paths(Permission.VIEW_COMMISSIONS)))
        .where(Node.kind.in_(EARNING_KINDS))
        .order_by(Node.path)
    )
    return list(session.scalars(stmt))


# --- rules ------------------------------------------------------------------------------------


def check_rate(rate: Decimal) -> Decimal:
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise Invalid("rate: a decimal number such as 0.05 (5 %)")
    if not Decimal(0) < rate < Decimal(1):
        raise Invalid(f"rate: must be above 0 and below 1 (0.05 is 5 %), got {rate}")
    if rate != rate.quantize(Decimal(1).scaleb(-RATE_PLACES), rounding=decimal.ROUND_DOWN):
        raise Invalid(f"rate: at most {RATE_PLACES} decimal places, got {rate}")
    return rate


def check_service(service: str) -> str:
    service = service.strip()
    if len(service) > MAX_SERVICE or not service.isprintable():
        raise Invalid(f"service: at most {MAX_SERVICE} printable characters (empty = all services)")
    return service


def check_range(valid_from: date, valid_to: date | None) -> None:
    try:
        bounds.check_year(valid_from, "valid_from")
        if valid_to is not None:
            bounds.check_year(valid_to, "valid_to")
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    if valid_to is not None and valid_to <= valid_from:
        raise Invalid(
            f"valid_to: must be after valid_from ({valid_from}); the range is half-open, "
            "valid_to is the first day the rule no longer applies"
        )


def _reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise Invalid(f"reason: at most {MAX_REASON} printable characters")
    return reason


def describe(rule: CommissionRule) -> str:
    until = rule.valid_to.isoformat() if rule.valid_to else "open-ended"
    return (
        f"rule #{rule.id} ({rule.service or 'all services'}, {rule.valid_from.isoformat()} "
        f"to {until})"
    )


def overlapping(
    session: Session,
    node_id: int,
    service: str,
    valid_from: date,
    valid_to: date | None,
    *,
    exclude_id: int | None = None,
) -> CommissionRule | None:
    """A rule of (node, service) whose half-open range meets [valid_from, valid_to)."""
    stmt = select(CommissionRule).where(
        CommissionRule.node_id == node_id,
        CommissionRule.service == service,
        or_(CommissionRule.valid_to.is_(None), CommissionRule.valid_to > valid_from),
    )
    if valid_to is not None:
        stmt = stmt.where(CommissionRule.valid_from < valid_to)
    if exclude_id is not None:
        stmt = stmt.where(CommissionRule.id != exclude_id)
    return session.scalars(stmt.order_by(CommissionRule.valid_from).limit(1)).first()


def _same_service(session: Session, node_id: int, service: str) -> str:
    """Services compare case-insensitively ("compute" is "Compute"): the
    spelling of an existing rule of the node wins, so two rules for one
    service can never sit side by side under two spellings."""
    if not service:
        return service
    for existing in session.scalars(
        select(CommissionRule.service).where(CommissionRule.node_id == node_id).distinct()
    ):
        if existing.casefold() == service.casefold():
            return existing
    return service


def _lock(session: Session, node: Node) -> None:
    """Serialise rule writes per node (the node row is the mutex): two
    overlapping rules created at once cannot both pass the overlap check."""
    session.execute(select(Node.id).where(Node.id == node.id).with_for_update())


def create_rule(
    session: Session,
    principal: Principal,
    *,
    node_id: int,
    rate: Decimal,
    valid_from: date,
    valid_to: date | None = None,
    service: str = ALL_SERVICES,
    reason: str = "",
) -> CommissionRule:
    node = commission_node(session, principal, node_id, Permission.MANAGE_COMMISSIONS)
    rate = check_rate(rate)
    service = check_service(service)
    check_range(valid_from, valid_to)
    reason = _reason(reason)
    _lock(session, node)
    service = _same_service(session, node.id, service)
    clash = overlapping(session, node.id, service, valid_from, valid_to)
    if clash is not None:
        raise Conflict(
            f"valid_from: overlaps {describe(clash)} of {node.name}; end that rule first "
            "(rules of one node and service never overlap)"
        )
    set_reason(session, reason or "commission rule created")
    rule = CommissionRule(
        node_id=node.id,
        service=service,
        rate=rate,
        valid_from=valid_from,
        valid_to=valid_to,
        reason=reason,
        created_by=principal.user_id,
    )
    session.add(rule)
    session.flush()
    return rule


def get_rule(
    session: Session,
    principal: Principal,
    rule_id: int,
    permission: Permission = Permission.VIEW_COMMISSIONS,
) -> CommissionRule:
    rule = session.get(CommissionRule, rule_id)
    if rule is None:
        raise NotFound(f"commission rule {rule_id} not found")
    try:
        commission_node(session, principal, rule.node_id, permission)
    except NotFound:
        raise NotFound(f"commission rule {rule_id} not found") from None
    return rule


def end_rule(
    session: Session, principal: Principal, rule_id: int, *, valid_to: date, reason: str = ""
) -> CommissionRule:
    """Set (or move) the first day the rule no longer applies."""
    rule = get_rule(session, principal, rule_id, Permission.MANAGE_COMMISSIONS)
    node = session.get(Node, rule.node_id)
    assert node is not None  # the foreign key holds
    check_range(rule.valid_from, valid_to)
    reason = _reason(reason)
    _lock(session, node)
    clash = overlapping(
        session, rule.node_id, rule.service, rule.valid_from, valid_to, exclude_id=rule.id
    )
    if clash is not None:
        raise Conflict(f"valid_to: the rule would overlap {describe(clash)}")
    set_reason(session, reason or "commission rule ended")
    rule.valid_to = valid_to
    session.flush()
    return rule


def list_rules(
    session: Session, principal: Principal, *, node_id: int | None = None
) -> list[CommissionRule]:
    if node_id is not None:
        node = commission_node(session, principal, node_id)
        ids = [node.id]
    else:
        ids = [n.id for n in visible_nodes(session, principal)]
    if not ids:
        return []
    stmt = (
        select(CommissionRule)
        .where(CommissionRule.node_id.in_(ids))
        .order_by(CommissionRule.node_id, CommissionRule.service, CommissionRule.valid_from)
    )
    return list(session.scalars(stmt))


def rule_for(rules: Sequence[CommissionRule], service: str, day: date) -> CommissionRule | None:
    """The node's rule for `service` on `day`: its own service's, else the overall one."""
    overall = None
    for rule in rules:
        if not (rule.valid_from <= day and (rule.valid_to is None or day < rule.valid_to)):
            continue
        if rule.service and rule.service.casefold() == service.casefold():
            return rule
        if not rule.service:
            overall = rule
    return overall


# --- the basis ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BasisItem:
    """One invoice line's net as it counts for commissions."""

    customer_id: int
    service: str
    currency: str
    day: date  # the UTC day the document was issued (or cancelled)
    amount: Decimal
    document_id: int


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def basis(session: Session, node: Node, start: date, end: date) -> list[BasisItem]:
    """The invoiced net of `node`'s customers from `start` to `end` (exclusive)."""
    lo, hi = _utc(start), _utc(end)
    issued = and_(Invoice.issued_at >= lo, Invoice.issued_at < hi)
    cancelled = and_(
        Invoice.status == InvoiceStatus.CANCELLED.value,
        Invoice.type != InvoiceType.CREDIT_NOTE.value,
        Invoice.issued_at.is_not(None),
        Invoice.cancelled_at >= lo,
        Invoice.cancelled_at < hi,
    )
    stmt = (
        select(Invoice)
        .join(Node, Node.id == Invoice.customer_id)
        .where(Node.path.startswith(node.path, autoescape=True), Node.kind == "customer")
        .where(or_(issued, cancelled))
        .order_by(Invoice.id)
    )
    items: list[BasisItem] = []
    for inv in session.scalars(stmt):
        events: list[tuple[datetime, int]] = []
        if inv.issued_at is not None and lo <= inv.issued_at < hi:
            events.append((inv.issued_at, 1))
        if (
            inv.status == InvoiceStatus.CANCELLED.value
            and inv.type != InvoiceType.CREDIT_NOTE.value
            and inv.cancelled_at is not None
            and lo <= inv.cancelled_at < hi
        ):
            events.append((inv.cancelled_at, -1))
        for at, sign in events:
            for line in inv.lines:
                if line.kind == "tax":
                    continue
                items.append(
                    BasisItem(
                        customer_id=inv.customer_id,
                        service=group_of(line),
                        currency=inv.currency,
                        day=at.astimezone(UTC).date(),
                        amount=line.amount * sign,
                        document_id=inv.id,
                    )
                )
    return items


# --- statements -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementLine:
    customer_id: int
    customer: str
    service: str
    currency: str
    rule_id: int | None
    rate: Decimal | None
    basis: Decimal  # invoiced net, already at the minor unit (invoice lines are)
    commission: Decimal  # basis x rate, rounded once here


@dataclass(frozen=True, slots=True)
class Totals:
    currency: str
    basis: Decimal
    commission: Decimal


@dataclass(frozen=True, slots=True)
class Statement:
    node: Node
    period: str
    start: date
    end: date  # exclusive
    lines: list[StatementLine]
    documents: int

    def totals(self) -> list[Totals]:
        return _totals(self.lines)


def _totals(lines: Iterable[StatementLine]) -> list[Totals]:
    per: dict[str, list[Decimal]] = {}
    for ln in lines:
        acc = per.setdefault(ln.currency, [Decimal(0), Decimal(0)])
        acc[0] += ln.basis
        acc[1] += ln.commission
    return [Totals(cur, b, c) for cur, (b, c) in sorted(per.items())]


def parse_period(text: str, what: str = "period") -> Month:
    try:
        month = Month.parse(text)
    except ValueError:
        raise Invalid(f"{what}: a month YYYY-MM, got {text[:20]!r}") from None
    if not bounds.MIN_YEAR <= month.year <= bounds.MAX_YEAR:
        raise Invalid(f"{what}: the year must be {bounds.MIN_YEAR} to {bounds.MAX_YEAR}")
    return month


def _rules_of(session: Session, node_id: int) -> list[CommissionRule]:
    return list(
        session.scalars(
            select(CommissionRule)
            .where(CommissionRule.node_id == node_id)
            .order_by(CommissionRule.valid_from)
        )
    )


def statement_lines(
    items: Iterable[BasisItem],
    rules: Sequence[CommissionRule],
    names: dict[int, str],
) -> list[StatementLine]:
    """Group the basis per (customer, service, currency, rule) and round each
    group's commission once: the one rounding boundary (module docstring)."""
    groups: dict[tuple[int, str, str, int | None], Decimal] = defaultdict(Decimal)
    by_id = {r.id: r for r in rules}
    for item in items:
        rule = rule_for(rules, item.service, item.day)
        key = (item.customer_id, item.service, item.currency, rule.id if rule else None)
        groups[key] += item.amount
    lines = []
    for (customer_id, service, currency, rule_id), amount in groups.items():
        rule = by_id.get(rule_id) if rule_id is not None else None
        commission = round_money(amount * rule.rate if rule else Decimal(0), currency, ROUNDING)
        lines.append(
            StatementLine(
                customer_id=customer_id,
                customer=names.get(customer_id, f"#{customer_id}"),
                service=service,
                currency=currency,
                rule_id=rule_id,
                rate=rule.rate if rule is not None else None,
                # Invoice lines are at the minor unit already: this only
                # normalises the scale ("73.4500000000" -> "73.45").
                basis=round_money(amount, currency, ROUNDING),
                commission=commission,
            )
        )
    lines.sort(key=lambda ln: (ln.customer.casefold(), ln.customer_id, ln.service, ln.rate or 0))
    return lines


def compute(session: Session, node: Node, month: Month) -> Statement:
    """The node's statement for one month (no scope check: callers do it)."""
    start, end = month.first_day, month.next().first_day
    rules = _rules_of(session, node.id)
    items = basis(session, node, start, end)
    names = _names(session, {i.customer_id for i in items})
    return Statement(
        node=node,
        period=str(month),
        start=start,
        end=end,
        lines=statement_lines(items, rules, names),
        documents=len({i.document_id for i in items}),
    )


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Node.id, Node.name).where(Node.id.in_(ids))).all()
    return {node_id: name for node_id, name in rows}


def statement(session: Session, principal: Principal, node_id: int, period: str) -> Statement:
    node = commission_node(session, principal, node_id)
    return compute(session, node, parse_period(period))


# --- summaries and charts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    key: str  # the month, customer id or service
    basis: Decimal
    commission: Decimal


@dataclass(slots=True)
class CurrencySummary:
    currency: str
    basis: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    by_month: list[Point] = field(default_factory=list)
    by_customer: list[Point] = field(default_factory=list)
    by_service: list[Point] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Summary:
    node: Node
    start: str
    end: str  # the last month included
    currencies: list[CurrencySummary]


def months_between(start: Month, end: Month) -> list[Month]:
    if (end.year, end.month) < (start.year, start.month):
        raise Invalid(f"to: must not be before from ({start})")
    months = [start]
    while months[-1] != end:
        months.append(months[-1].next())
        if len(months) > MAX_MONTHS:
            raise Invalid(f"to: a summary spans at most {MAX_MONTHS} months")
    return months


def summarise(session: Session, node: Node, months: Sequence[Month]) -> Summary:
    """Statements of each month added up: the summary always equals the sum
    of the statements (it adds their rounded lines)."""
    per: dict[str, CurrencySummary] = {}
    month_acc: dict[tuple[str, str], list[Decimal]] = {}
    customer_acc: dict[tuple[str, str], list[Decimal]] = {}
    service_acc: dict[tuple[str, str], list[Decimal]] = {}
    names: dict[int, str] = {}
    for month in months:
        st = compute(session, node, month)
        for ln in st.lines:
            cs = per.setdefault(ln.currency, CurrencySummary(ln.currency))
            cs.basis += ln.basis
            cs.commission += ln.commission
            names[ln.customer_id] = ln.customer
            for acc, key in (
                (month_acc, (ln.currency, str(month))),
                (customer_acc, (ln.currency, str(ln.customer_id))),
                (service_acc, (ln.currency, ln.service)),
            ):
                pair = acc.setdefault(key, [Decimal(0), Decimal(0)])
                pair[0] += ln.basis
                pair[1] += ln.commission
    for currency, cs in per.items():
        for month in months:
            b, c = month_acc.get((currency, str(month)), [Decimal(0), Decimal(0)])
            cs.by_month.append(
                Point(str(month), str(month), round_money(b, currency), round_money(c, currency))
            )
        cs.by_customer = sorted(
            (
                Point(names[int(cid)], cid, b, c)
                for (cur, cid), (b, c) in customer_acc.items()
                if cur == currency
            ),
            key=lambda p: (-p.commission, -p.basis, p.label),
        )
        cs.by_service = sorted(
            (
                Point(svc, svc, b, c)
                for (cur, svc), (b, c) in service_acc.items()
                if cur == currency
            ),
            key=lambda p: (-p.commission, -p.basis, p.label),
        )
    return Summary(
        node=node,
        start=str(months[0]),
        end=str(months[-1]),
        currencies=[per[c] for c in sorted(per)],
    )


def summary(session: Session, principal: Principal, node_id: int, start: str, end: str) -> Summary:
    node = commission_node(session, principal, node_id)
    months = months_between(parse_period(start, "from"), parse_period(end, "to"))
    return summarise(session, node, months)
