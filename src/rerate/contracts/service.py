"""Contracts between a seller node and a customer, and their rule versions.

A contract names what a customer's usage is priced with (the cloud price
book, the VoIP deck, the timetable), its currency, billing time zone, coverage
in whole months, rounding mode and payment terms. Its rules (discount,
markup, unit-price override, support fee, minimum commitment, credit) are
written as a whole new version each time: `rules_version` names the one in
force and earlier versions stay readable, each with who wrote it and why.
At most one contract per customer is active; the database enforces it
(uq_contracts_one_active) and the service answers 409 naming the active one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.catalog import owned
from rerate.kit import bounds
from rerate.kit.audit import session_actor
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.kit.money import RoundingMode, UnknownCurrency, minor_units
from rerate.models import (
    Contract,
    ContractRule,
    ContractRuleSet,
    Node,
    PriceBook,
    Timetable,
)
from rerate.models.enums import CorrectionPolicy, InvoiceCadence
from rerate.rating import plan as p
from rerate.tenancy.service import get_customer, in_scope

MAX_RULES = 500
RULE_KINDS = tuple(k.value for k in p.RuleKind)


@dataclass(frozen=True, slots=True)
class RuleIn:
    kind: str
    service: str | None = None
    sku: str | None = None
    region: str | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    unit_price: Decimal | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class ContractIn:
    customer_id: int
    seller_id: int
    currency: str
    coverage_start: date
    name: str = ""
    billing_tz: str = "UTC"
    coverage_end: date | None = None
    rounding_mode: str = RoundingMode.HALF_UP.value
    payment_terms_days: int = 30
    correction_policy: str = CorrectionPolicy.REPLACE.value
    invoice_type: str = InvoiceCadence.MONTHLY.value
    cloud_price_book_id: int | None = None
    voip_price_book_id: int | None = None
    timetable_id: int | None = None
    passthrough_unpriced: bool = False


def create_contract(
    session: Session,
    principal: Principal,
    data: ContractIn,
    *,
    rules: tuple[RuleIn, ...] = (),
    activate: bool = False,
    reason: str = "",
) -> Contract:
    customer = get_customer(session, principal, data.customer_id, Permission.MANAGE_CATALOG)
    seller = _seller(session, principal, customer, data.seller_id)
    currency = data.currency.strip().upper()
    try:
        minor_units(currency)
    except UnknownCurrency:
        raise Invalid(f"currency: {data.currency[:8]!r} is not a currency rerate knows") from None
    try:
        ZoneInfo(data.billing_tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"billing_tz: {data.billing_tz[:64]!r} is not an IANA time zone (e.g. Europe/Paris)"
        ) from None
    _check_coverage(data.coverage_start, data.coverage_end)
    if data.rounding_mode not in {m.value for m in RoundingMode}:
        names = ", ".join(m.value for m in RoundingMode)
        raise Invalid(f"rounding_mode: one of {names}, got {data.rounding_mode[:32]!r}")
    if not 0 <= data.payment_terms_days <= 365:
        raise Invalid("payment_terms_days: 0 to 365 days")
    _check_policy(data.correction_policy)
    _check_invoice_type(data.invoice_type)
    _book(session, principal, data.cloud_price_book_id, "cloud", currency, "cloud_price_book_id")
    _book(session, principal, data.voip_price_book_id, "voip", currency, "voip_price_book_id")
    if data.timetable_id is not None:
        _timetable(session, principal, data.timetable_id)
    name = data.name.strip()[:200] or f"{customer.name} {data.coverage_start:%Y-%m}"
    contract = Contract(
        customer_id=customer.id,
        seller_id=seller.id,
        name=name,
        currency=currency,
        billing_tz=data.billing_tz,
        coverage_start=data.coverage_start,
        coverage_end=data.coverage_end,
        active=False,
        rounding_mode=data.rounding_mode,
        payment_terms_days=data.payment_terms_days,
        correction_policy=data.correction_policy,
        invoice_type=data.invoice_type,
        passthrough_unpriced=data.passthrough_unpriced,
        cloud_price_book_id=data.cloud_price_book_id,
        voip_price_book_id=data.voip_price_book_id,
        timetable_id=data.timetable_id,
        rules_version=0,
    )
    session.add(contract)
    session.flush()
    _write_rules(session, contract, rules, reason or "contract created")
    if activate:
        _activate(session, contract)
    return contract


# --------------------------------------------------------------------------- terms


def _check_policy(policy: str | None) -> None:
    if policy not in {p.value for p in CorrectionPolicy}:
        names = ", ".join(p.value for p in CorrectionPolicy)
        raise Invalid(f"correction_policy: one of {names}, got {str(policy)[:32]!r}")


def _check_invoice_type(kind: str | None) -> None:
    if kind not in {c.value for c in InvoiceCadence}:
        names = ", ".join(c.value for c in InvoiceCadence)
        raise Invalid(f"invoice_type: one of {names}, got {str(kind)[:32]!r}")


# The terms that may change after creation. The customer, seller, currency,
# billing zone, coverage start and rounding mode define what was billed and
# how: a different one is a different contract. (The correction policy says
# how a future correction is made, not what was billed: it may change; so
# does the invoice type, which decides how months not invoiced yet are.)
EDITABLE_TERMS = (
    "name",
    "coverage_end",
    "payment_terms_days",
    "correction_policy",
    "invoice_type",
    "cloud_price_book_id",
    "voip_price_book_id",
    "timetable_id",
)


def edit_terms(
    session: Session,
    principal: Principal,
    contract_id: int,
    changes: Mapping[str, Any],
    *,
    reason: str,
) -> list[str]:
    """Change some of EDITABLE_TERMS (a None clears an optional one); answers
    the names of the terms that changed. Every check runs before anything is
    written; a billed period whose terms change is then marked stale."""
    contract = get_contract(session, principal, contract_id, Permission.MANAGE_CATALOG)
    unknown = sorted(set(changes) - set(EDITABLE_TERMS))
    if unknown:
        raise Invalid(
            f"{unknown[0]}: not a term that can change after creation "
            f"(these can: {', '.join(EDITABLE_TERMS)})"
        )
    if not reason.strip():
        raise Invalid("reason: say why the terms change (it goes to the audit log)")
    wanted = dict(changes)
    if "name" in wanted:
        wanted["name"] = owned.check_name(wanted["name"] or "")
    if "coverage_end" in wanted:
        _check_coverage(contract.coverage_start, wanted["coverage_end"])
    if "payment_terms_days" in wanted:
        days = wanted["payment_terms_days"]
        if days is None or not 0 <= days <= 365:
            raise Invalid("payment_terms_days: 0 to 365 days")
    if "correction_policy" in wanted:
        _check_policy(wanted["correction_policy"])
    if "invoice_type" in wanted:
        _check_invoice_type(wanted["invoice_type"])
    for field, kind in (("cloud_price_book_id", "cloud"), ("voip_price_book_id", "voip")):
        if field in wanted:
            _book(session, principal, wanted[field], kind, contract.currency, field)
    if wanted.get("timetable_id") is not None:
        _timetable(session, principal, wanted["timetable_id"])
    changed = [f for f in EDITABLE_TERMS if f in wanted and getattr(contract, f) != wanted[f]]
    for field in changed:
        setattr(contract, field, wanted[field])
    session.flush()
    return changed


def _timetable(session: Session, principal: Principal, timetable_id: int) -> None:
    tt = session.get(Timetable, timetable_id)
    if tt is None or not _visible(session, principal, tt.owner_node_id):
        raise Invalid(f"timetable_id: no timetable {timetable_id} that you can see")


def _seller(session: Session, principal: Principal, customer: Node, seller_id: int) -> Node:
    seller = session.get(Node, seller_id)
    if seller is None or not principal.can_see(seller.path):
        raise Invalid(f"seller_id: no node {seller_id} that you can see")
    if seller.id == customer.id or not customer.path.startswith(seller.path):
        raise Invalid(
            f"seller_id: {seller.name} does not sell to {customer.name}: the seller is the "
            "customer's reseller, distributor or the platform"
        )
    return seller


def _visible(session: Session, principal: Principal, node_id: int) -> bool:
    node = session.get(Node, node_id)
    return node is not None and principal.has(Permission.VIEW, node.path)


def _book(
    session: Session,
    principal: Principal,
    book_id: int | None,
    kind: str,
    currency: str,
    field: str,
) -> None:
    if book_id is None:
        return
    book = session.get(PriceBook, book_id)
    if book is None or not _visible(session, principal, book.owner_node_id):
        raise Invalid(f"{field}: no price book {book_id} that you can see")
    if book.kind != kind:
        raise Invalid(f"{field}: {book.name} is a {book.kind} book, not a {kind} one")
    if book.currency != currency:
        raise Invalid(
            f"{field}: {book.name} prices in {book.currency}, the contract bills in {currency}; "
            "rerate does not convert currencies"
        )


def _check_coverage(start: date, end: date | None) -> None:
    for name, day in (("coverage_start", start), ("coverage_end", end)):
        if day is None:
            continue
        try:
            bounds.check_year(day, name)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if day.day != 1:
            raise Invalid(f"{name}: coverage is in whole months, give the 1st of a month")
    if end is not None and end <= start:
        raise Invalid("coverage_end: must be after coverage_start (the end is exclusive)")


def get_contract(
    session: Session,
    principal: Principal,
    contract_id: int,
    permission: Permission = Permission.VIEW,
) -> Contract:
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound("not found")
    get_customer(session, principal, contract.customer_id, permission)
    return contract


def list_contracts(
    session: Session,
    principal: Principal,
    *,
    customer_id: int | None = None,
    q: str = "",
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Contract], int]:
    from sqlalchemy import func, or_

    stmt = (
        select(Contract)
        .join(Node, Node.id == Contract.customer_id)
        .where(in_scope(principal.scope_paths(Permission.VIEW)))
    )
    if customer_id is not None:
        get_customer(session, principal, customer_id, Permission.VIEW)
        stmt = stmt.where(Contract.customer_id == customer_id)
    if active is not None:
        stmt = stmt.where(Contract.active.is_(active))
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(or_(Contract.name.ilike(pattern), Node.name.ilike(pattern)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Node.name, Contract.id).limit(limit).offset(offset))
    return list(rows), total


# --------------------------------------------------------------------------- rules


def set_rules(
    session: Session,
    principal: Principal,
    contract_id: int,
    rules: tuple[RuleIn, ...],
    *,
    reason: str,
) -> Contract:
    """Write `rules` as the contract's next rules version; the previous stays readable."""
    contract = get_contract(session, principal, contract_id, Permission.MANAGE_CATALOG)
    if not reason.strip():
        raise Invalid("reason: say why the rules change (it goes to the audit log)")
    _write_rules(session, contract, rules, reason)
    return contract


def _write_rules(
    session: Session, contract: Contract, rules: tuple[RuleIn, ...], reason: str
) -> None:
    checked = [_checked_rule(i, r) for i, r in enumerate(rules, start=1)]
    if len(checked) > MAX_RULES:
        raise Invalid(f"rules: at most {MAX_RULES}")
    version = contract.rules_version + 1
    session.add(
        ContractRuleSet(
            contract_id=contract.id,
            version=version,
            reason=reason.strip()[:400],
            created_by=session_actor(session).label[:400],
        )
    )
    session.add_all(
        ContractRule(
            contract_id=contract.id,
            version=version,
            position=i,
            kind=r.kind,
            scope_service=r.service,
            scope_sku=r.sku,
            scope_region=r.region,
            percent=r.percent,
            amount=r.amount,
            unit_price=r.unit_price,
            description=r.description,
        )
        for i, r in enumerate(checked, start=1)
    )
    contract.rules_version = version
    session.flush()
    session.expire(contract, ["rules"])


def _checked_rule(i: int, r: RuleIn) -> RuleIn:
    what = f"rules[{i}]"
    if r.kind not in RULE_KINDS:
        raise Invalid(f"{what}.kind: one of {', '.join(RULE_KINDS)}, got {r.kind[:40]!r}")

    def scope(value: str | None, name: str, size: int) -> str | None:
        text = (value or "").strip()
        if len(text) > size:
            raise Invalid(f"{what}.{name}: at most {size} characters")
        return text or None

    try:
        if r.percent is not None:
            if not r.percent.is_finite() or abs(r.percent) >= 1_000_000:
                raise ValueError(f"{what}.percent: a number below 1000000")
            if r.percent != r.percent.quantize(Decimal("0.000001")):
                raise ValueError(f"{what}.percent: at most 6 decimal places")
        for name in ("amount", "unit_price"):
            value = getattr(r, name)
            if value is not None:
                bounds.check_row_amount(value, f"{what}.{name}")
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    clean = RuleIn(
        kind=r.kind,
        service=scope(r.service, "service", 200),
        sku=scope(r.sku, "sku", 200),
        region=scope(r.region, "region", 64),
        percent=r.percent,
        amount=r.amount,
        unit_price=r.unit_price,
        description=(r.description or "").strip()[:400],
    )
    # The engine's own checks (what each kind needs), so every stored version rates.
    try:
        p.ContractRule(
            id=i,
            kind=p.RuleKind(clean.kind),
            service=clean.service,
            sku=clean.sku,
            region=clean.region,
            percent=clean.percent,
            amount=clean.amount,
            unit_price=clean.unit_price,
        )
    except p.PlanError as exc:
        detail = str(exc).replace(f"contract rule {i} ({clean.kind})", f"{what} ({clean.kind})")
        raise Invalid(detail) from None
    return clean


def rule_versions(session: Session, contract: Contract) -> list[dict[str, Any]]:
    sets = session.scalars(
        select(ContractRuleSet)
        .where(ContractRuleSet.contract_id == contract.id)
        .order_by(ContractRuleSet.version.desc())
    ).all()
    by_version: dict[int, list[ContractRule]] = {}
    for rule in contract.rules:
        by_version.setdefault(rule.version, []).append(rule)
    return [
        {
            "version": s.version,
            "current": s.version == contract.rules_version,
            "reason": s.reason,
            "created_by": s.created_by,
            "created_at": s.created_at,
            "rules": [
                rule_view(r)
                for r in sorted(by_version.get(s.version, []), key=lambda r: r.position)
            ],
        }
        for s in sets
    ]


# --------------------------------------------------------------------------- activation


def activate(session: Session, principal: Principal, contract_id: int) -> Contract:
    contract = get_contract(session, principal, contract_id, Permission.MANAGE_CATALOG)
    if not contract.active:
        _activate(session, contract)
    return contract


def deactivate(session: Session, principal: Principal, contract_id: int) -> Contract:
    contract = get_contract(session, principal, contract_id, Permission.MANAGE_CATALOG)
    contract.active = False
    session.flush()
    return contract


def _activate(session: Session, contract: Contract) -> None:
    other = session.scalar(
        select(Contract).where(
            Contract.customer_id == contract.customer_id,
            Contract.active.is_(True),
            Contract.id != contract.id,
        )
    )
    if other is not None:
        raise _one_active(other)
    contract.active = True
    try:
        # The partial unique index decides between two activations at once.
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        contract.active = False
        other = session.scalar(
            select(Contract).where(
                Contract.customer_id == contract.customer_id, Contract.active.is_(True)
            )
        )
        raise _one_active(other) from None


def _one_active(other: Contract | None) -> Conflict:
    if other is None:
        return Conflict("the customer already has an active contract; deactivate it first")
    named = f" ({other.name})" if other.name else ""
    return Conflict(
        f"the customer already has an active contract: {other.id}{named}; deactivate it first"
    )


# --------------------------------------------------------------------------- views


def view(contract: Contract) -> dict[str, Any]:
    return {
        "id": contract.id,
        "customer_id": contract.customer_id,
        "seller_id": contract.seller_id,
        "name": contract.name,
        "currency": contract.currency,
        "billing_tz": contract.billing_tz,
        "coverage_start": contract.coverage_start.isoformat(),
        "coverage_end": contract.coverage_end.isoformat() if contract.coverage_end else None,
        "active": contract.active,
        "rounding_mode": contract.rounding_mode,
        "payment_terms_days": contract.payment_terms_days,
        "correction_policy": contract.correction_policy,
        "invoice_type": contract.invoice_type,
        "passthrough_unpriced": contract.passthrough_unpriced,
        "cloud_price_book_id": contract.cloud_price_book_id,
        "voip_price_book_id": contract.voip_price_book_id,
        "timetable_id": contract.timetable_id,
        "rules_version": contract.rules_version,
        "rules": [rule_view(r) for r in contract.current_rules()],
        "created_at": contract.created_at,
    }


def _dec(value: Decimal | None) -> str | None:
    return owned.decimal_str(value) if value is not None else None


def rule_view(rule: ContractRule) -> dict[str, Any]:
    return {
        "position": rule.position,
        "kind": rule.kind,
        "service": rule.scope_service,
        "sku": rule.scope_sku,
        "region": rule.scope_region,
        "percent": _dec(rule.percent),
        "amount": _dec(rule.amount),
        "unit_price": _dec(rule.unit_price),
        "description": rule.description,
    }
