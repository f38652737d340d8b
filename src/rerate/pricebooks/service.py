"""Price books and their versions: create, read, draft, edit, publish.

Who sees what: a price book belongs to a platform, distributor or reseller
node (never a customer) and is visible to the roles held on that node or
above it; a customer's users never see price books. Reading needs `view`,
every change `manage_catalog`, both on the owner node (404 outside the
caller's subtrees, 403 without the permission).

A version is a draft until published. A draft prices nothing and is edited
freely (entry by entry, or replaced wholesale from CSV, see csv_io); a
published version never changes (409 here, database triggers below that).
A book has at most one draft at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit import audit, bounds
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.kit.money import DEFAULT_ROUNDING
from rerate.models import Node, PriceBook, PriceBookVersion, PriceEntry, PriceTier, TariffEntry
from rerate.models.enums import NodeKind, PriceBookKind, VersionStatus
from rerate.pricebooks import bulk, terms
from rerate.tenancy.service import in_scope

MAX_NAME = 200
MAX_NOTE = 400
CURRENCY_LENGTH = 3


# --------------------------------------------------------------------- books


def create_book(
    session: Session,
    principal: Principal,
    *,
    name: str,
    kind: PriceBookKind,
    currency: str,
    owner_node_id: int,
) -> PriceBook:
    owner = session.get(Node, owner_node_id)
    if owner is None:
        raise NotFound("not found")
    principal.require(Permission.MANAGE_CATALOG, owner.path)
    if owner.kind == NodeKind.CUSTOMER:
        raise Invalid("owner_node_id: a price book belongs to a platform, distributor or reseller")
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise Invalid(f"name: 1 to {MAX_NAME} characters")
    currency = currency.strip().upper()
    if len(currency) != CURRENCY_LENGTH or not currency.isalpha() or not currency.isascii():
        raise Invalid("currency: an ISO 4217 code such as EUR")
    taken = session.scalar(
        select(PriceBook.id).where(PriceBook.owner_node_id == owner.id, PriceBook.name == name)
    )
    if taken is not None:
        raise Conflict(f"name: {owner.name} already has a price book named {name!r}")
    book = PriceBook(name=name, kind=kind.value, currency=currency, owner_node_id=owner.id)
    session.add(book)
    session.flush()
    return book


def get_book(
    session: Session, principal: Principal, book_id: int, permission: Permission
) -> PriceBook:
    book = session.get(PriceBook, book_id)
    if book is None:
        raise NotFound("not found")
    owner = session.get(Node, book.owner_node_id)
    assert owner is not None  # a foreign key
    principal.require(permission, owner.path)
    return book


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    total: int


def list_books(
    session: Session,
    principal: Principal,
    *,
    q: str = "",
    kind: PriceBookKind | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """The books whose owner lies in the caller's `view` subtrees, by name."""
    stmt = (
        select(PriceBook, Node.name)
        .join(Node, Node.id == PriceBook.owner_node_id)
        .where(in_scope(principal.scope_paths(Permission.VIEW)))
    )
    if q.strip():
        stmt = stmt.where(
            or_(
                PriceBook.name.icontains(q.strip(), autoescape=True),
                Node.name.icontains(q.strip(), autoescape=True),
            )
        )
    if kind is not None:
        stmt = stmt.where(PriceBook.kind == kind.value)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(PriceBook.name, PriceBook.id).limit(limit).offset(offset)
    ).all()
    return Page([book_view(session, b, owner_name=n) for b, n in rows], total)


def book_view(
    session: Session, book: PriceBook, *, owner_name: str | None = None
) -> dict[str, Any]:
    if owner_name is None:
        owner = session.get(Node, book.owner_node_id)
        owner_name = owner.name if owner else ""
    return {
        "id": book.id,
        "name": book.name,
        "kind": book.kind,
        "currency": book.currency,
        "owner_node_id": book.owner_node_id,
        "owner_name": owner_name,
    }


# ------------------------------------------------------------------ versions


def versions_of(session: Session, book: PriceBook) -> list[PriceBookVersion]:
    return list(
        session.scalars(
            select(PriceBookVersion)
            .where(PriceBookVersion.price_book_id == book.id)
            .order_by(PriceBookVersion.version)
        )
    )


def version_view(session: Session, v: PriceBookVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "price_book_id": v.price_book_id,
        "version": v.version,
        "effective_from": v.effective_from.isoformat().replace("+00:00", "Z"),
        "note": v.note,
        "status": v.status,
        "created_at": v.created_at.isoformat().replace("+00:00", "Z"),
        "published_at": v.published_at.isoformat().replace("+00:00", "Z")
        if v.published_at
        else None,
        "published_by": v.published_by,
        "entries": bulk.count_entries(session, v.id),
    }


def get_version(
    session: Session,
    principal: Principal,
    book_id: int,
    version_id: int,
    permission: Permission,
    *,
    for_update: bool = False,
) -> tuple[PriceBook, PriceBookVersion]:
    book = get_book(session, principal, book_id, permission)
    stmt = select(PriceBookVersion).where(
        PriceBookVersion.id == version_id, PriceBookVersion.price_book_id == book.id
    )
    # The version's row lock orders an edit against a concurrent publish
    # (PostgreSQL; SQLite writers are serialised anyway).
    version = session.scalar(stmt.with_for_update() if for_update else stmt)
    if version is None:
        raise NotFound("not found")
    return book, version


def draft_of(
    session: Session, principal: Principal, book_id: int, version_id: int
) -> tuple[PriceBook, PriceBookVersion]:
    """The version to change; 409 if it is published."""
    book, version = get_version(
        session, principal, book_id, version_id, Permission.MANAGE_CATALOG, for_update=True
    )
    if version.status != VersionStatus.DRAFT:
        raise Conflict(
            f"version {version.version} of {book.name!r} is published and never changes; "
            "create a new draft instead"
        )
    return book, version


def check_effective(value: datetime, what: str = "effective_from") -> datetime:
    if value.tzinfo is None:
        raise Invalid(f"{what}: an instant with its UTC offset, e.g. 2026-10-15T00:00:00Z")
    try:
        return bounds.check_instant(value.astimezone(UTC), what)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def create_draft(
    session: Session,
    principal: Principal,
    book_id: int,
    *,
    effective_from: datetime,
    note: str = "",
    copy_latest: bool = False,
) -> PriceBookVersion:
    """A new draft, empty or with the entries of the latest published version."""
    book = get_book(session, principal, book_id, Permission.MANAGE_CATALOG)
    effective_from = check_effective(effective_from)
    note = _note(note)
    existing = versions_of(session, book)
    draft = next((v for v in existing if v.status == VersionStatus.DRAFT), None)
    if draft is not None:
        raise Conflict(
            f"{book.name!r} already has a draft (version {draft.version}): "
            "publish it, change it, or delete it first"
        )
    clash = next((v for v in existing if v.effective_from == effective_from), None)
    if clash is not None:
        raise Conflict(
            f"effective_from: version {clash.version} of {book.name!r} already takes effect "
            f"at {effective_from.isoformat()}"
        )
    source = None
    if copy_latest:
        published = [v for v in existing if v.status == VersionStatus.PUBLISHED]
        if not published:
            raise Invalid(f"copy_latest: {book.name!r} has no published version to copy")
        source = max(published, key=lambda v: v.effective_from)
    version = PriceBookVersion(
        price_book_id=book.id,
        version=max((v.version for v in existing), default=0) + 1,
        effective_from=effective_from,
        note=note,
        status=VersionStatus.DRAFT.value,
    )
    session.add(version)
    session.flush()
    if source is not None:
        bulk.copy_entries(session, source.id, version.id)
    return version


def _note(note: str) -> str:
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise Invalid(f"note: at most {MAX_NOTE} characters")
    return note


def change_draft(
    session: Session,
    principal: Principal,
    book_id: int,
    version_id: int,
    *,
    effective_from: datetime | None = None,
    note: str | None = None,
) -> PriceBookVersion:
    book, version = draft_of(session, principal, book_id, version_id)
    if effective_from is not None:
        effective_from = check_effective(effective_from)
        clash = session.scalar(
            select(PriceBookVersion.version).where(
                PriceBookVersion.price_book_id == book.id,
                PriceBookVersion.effective_from == effective_from,
                PriceBookVersion.id != version.id,
            )
        )
        if clash is not None:
            raise Conflict(
                f"effective_from: version {clash} of {book.name!r} already takes effect then"
            )
        version.effective_from = effective_from
    if note is not None:
        version.note = _note(note)
    session.flush()
    return version


def delete_draft(session: Session, principal: Principal, book_id: int, version_id: int) -> None:
    _book, version = draft_of(session, principal, book_id, version_id)
    bulk.clear_entries(session, version.id)
    session.delete(version)
    session.flush()


def publish(
    session: Session, principal: Principal, book_id: int, version_id: int, *, reason: str
) -> PriceBookVersion:
    """Publish a draft: from now on it prices usage from its effective instant
    (periods already billed after it need a recalculation) and never changes."""
    reason = reason.strip()
    if not reason:
        raise Invalid("reason: say why this version is published (it is kept in the audit log)")
    if len(reason) > MAX_NOTE:
        raise Invalid(f"reason: at most {MAX_NOTE} characters")
    book, version = draft_of(session, principal, book_id, version_id)
    if bulk.count_entries(session, version.id) == 0:
        raise Invalid(f"version {version.version} of {book.name!r} has no entries to publish")
    session.info["audit_reason"] = reason
    mark_published(session, version, by=principal.user_id)
    audit.record(
        session,
        "publish",
        "price_book_versions",
        version.id,
        price_book_id=book.id,
        version=version.version,
        effective_from=version.effective_from,
    )
    return version


def mark_published(session: Session, version: PriceBookVersion, *, by: int | None) -> None:
    """Set a version published (after its entries are written: the triggers
    refuse them afterwards). Also used by the demo loader and test fixtures."""
    version.status = VersionStatus.PUBLISHED.value
    version.published_at = datetime.now(UTC)
    version.published_by = by
    session.flush()


# ------------------------------------------------------------------ entries


@dataclass(frozen=True, slots=True)
class TariffIn:
    prefix: str
    destination_group: str
    rate_per_minute: str
    connect_fee: str = "0"
    min_seconds: int = 0
    initial_increment: int = 1
    subsequent_increment: int = 1
    band: str | None = None
    charge_unanswered: bool = False
    # The carrier terms, as the tariffs CSV writes them (docs/formats.md).
    rate_groups: str = ""
    increment_decimals: int | None = None
    call_decimals: int | None = None
    call_rounding: str = ""
    max_cost: str | None = None
    timing: str = ""
    weight: int = 0


@dataclass(frozen=True, slots=True)
class PriceIn:
    sku: str
    unit_price: str
    region: str | None = None
    unit: str = ""
    tier_mode: str = "none"
    tiers: tuple[tuple[str, str], ...] = ()


def _parsed_tariff(data: TariffIn) -> Any:
    from rerate.rating.formats import FormatError, tariff_from_fields

    try:
        return tariff_from_fields(
            {
                "prefix": data.prefix.strip(),
                "destination_group": data.destination_group.strip(),
                "rate_per_minute": data.rate_per_minute.strip(),
                "connect_fee": data.connect_fee.strip(),
                "min_seconds": str(data.min_seconds),
                "initial_increment": str(data.initial_increment),
                "subsequent_increment": str(data.subsequent_increment),
                "band": (data.band or "").strip(),
                "charge_unanswered": "true" if data.charge_unanswered else "false",
                "rate_groups": data.rate_groups.strip(),
                "increment_decimals": _opt_int(data.increment_decimals),
                "call_decimals": _opt_int(data.call_decimals),
                "call_rounding": data.call_rounding.strip(),
                "max_cost": (data.max_cost or "").strip(),
                "timing": data.timing.strip(),
                "weight": str(data.weight),
            }
        )
    except FormatError as exc:
        raise Invalid(str(exc)) from None


def _opt_int(value: int | None) -> str:
    return "" if value is None else str(value)


def _parsed_price(data: PriceIn) -> Any:
    from rerate.rating.formats import FormatError, price_from_fields

    try:
        return price_from_fields(
            {
                "sku": data.sku.strip(),
                "unit_price": data.unit_price.strip(),
                "region": (data.region or "").strip(),
                "unit": data.unit.strip(),
                "tier_mode": data.tier_mode.strip(),
                "tiers": ";".join(f"{f.strip()}:{p.strip()}" for f, p in data.tiers),
            }
        )
    except FormatError as exc:
        raise Invalid(str(exc)) from None


def _tariff_clash(session: Session, version_id: int, t: Any, other: int | None) -> None:
    """An entry with `t`'s prefix, band and timing condition (the timing's
    name is only a label: two names for one condition clash)."""
    from rerate.rating.tariff_terms import parse_timing

    stmt = select(TariffEntry.id, TariffEntry.timing).where(
        TariffEntry.version_id == version_id,
        TariffEntry.prefix == t.prefix,
        TariffEntry.band.is_(None) if t.band is None else TariffEntry.band == t.band,
    )
    if other is not None:
        stmt = stmt.where(TariffEntry.id != other)
    key = None if t.timing is None else t.timing.key
    for found, timing_text in session.execute(stmt):
        timing = parse_timing(timing_text or "")
        if (None if timing is None else timing.key) == key:
            raise Conflict(
                f"prefix: {t.prefix or '*any'}{' band ' + t.band if t.band else ''}"
                f"{' timing ' + timing_text if timing_text else ''} is already entry {found} "
                "of this version"
            )


def _price_clash(
    session: Session, version_id: int, sku: str, region: str | None, other: int | None
) -> None:
    stmt = select(PriceEntry.id).where(
        PriceEntry.version_id == version_id,
        PriceEntry.sku == sku,
        PriceEntry.region.is_(None) if region is None else PriceEntry.region == region,
    )
    if other is not None:
        stmt = stmt.where(PriceEntry.id != other)
    found = session.scalar(stmt)
    if found is not None:
        raise Conflict(
            f"sku: {sku}{' in ' + region if region else ''} is already entry {found} "
            "of this version"
        )


def _kind(book: PriceBook, kind: PriceBookKind) -> None:
    if book.kind != kind.value:
        what = "tariff entries" if kind is PriceBookKind.VOIP else "SKU prices"
        raise Invalid(f"{book.name!r} is a {book.kind} book: it holds no {what}")


def add_tariff(
    session: Session, principal: Principal, book_id: int, version_id: int, data: TariffIn
) -> TariffEntry:
    book, version = draft_of(session, principal, book_id, version_id)
    _kind(book, PriceBookKind.VOIP)
    t = _parsed_tariff(data)
    _tariff_clash(session, version.id, t, None)
    entry = TariffEntry(version_id=version.id)
    _set_tariff(entry, t)
    session.add(entry)
    session.flush()
    return entry


def change_tariff(
    session: Session,
    principal: Principal,
    book_id: int,
    version_id: int,
    entry_id: int,
    data: TariffIn,
) -> TariffEntry:
    _book, version = draft_of(session, principal, book_id, version_id)
    entry = _entry(session, TariffEntry, version.id, entry_id)
    t = _parsed_tariff(data)
    _tariff_clash(session, version.id, t, entry.id)
    _set_tariff(entry, t)
    session.flush()
    return entry


def _set_tariff(entry: TariffEntry, t: Any) -> None:
    entry.prefix = t.prefix
    entry.destination_group = t.destination_group
    entry.rate_per_minute = t.rate_per_minute
    entry.connect_fee = t.connect_fee
    entry.min_seconds = t.min_seconds
    entry.initial_increment = t.initial_increment
    entry.subsequent_increment = t.subsequent_increment
    entry.band = t.band
    entry.charge_unanswered = t.charge_unanswered
    for column, value in zip(terms.COLUMNS, terms.stored(t), strict=True):
        setattr(entry, column, value)


def remove_tariff(
    session: Session, principal: Principal, book_id: int, version_id: int, entry_id: int
) -> None:
    _book, version = draft_of(session, principal, book_id, version_id)
    session.delete(_entry(session, TariffEntry, version.id, entry_id))
    session.flush()


def add_price(
    session: Session, principal: Principal, book_id: int, version_id: int, data: PriceIn
) -> PriceEntry:
    book, version = draft_of(session, principal, book_id, version_id)
    _kind(book, PriceBookKind.CLOUD)
    e = _parsed_price(data)
    _price_clash(session, version.id, e.sku, e.region, None)
    entry = PriceEntry(version_id=version.id, service="")
    _set_price(entry, e)
    session.add(entry)
    session.flush()
    _set_tiers(session, entry, e)
    return entry


def change_price(
    session: Session,
    principal: Principal,
    book_id: int,
    version_id: int,
    entry_id: int,
    data: PriceIn,
) -> PriceEntry:
    _book, version = draft_of(session, principal, book_id, version_id)
    entry = _entry(session, PriceEntry, version.id, entry_id)
    e = _parsed_price(data)
    _price_clash(session, version.id, e.sku, e.region, entry.id)
    _set_price(entry, e)
    _set_tiers(session, entry, e)
    return entry


def remove_price(
    session: Session, principal: Principal, book_id: int, version_id: int, entry_id: int
) -> None:
    _book, version = draft_of(session, principal, book_id, version_id)
    entry = _entry(session, PriceEntry, version.id, entry_id)
    for tier in list(entry.tiers):
        session.delete(tier)
    session.flush()
    session.delete(entry)
    session.flush()


def _set_price(entry: PriceEntry, e: Any) -> None:
    entry.sku = e.sku
    entry.unit_price = e.unit_price
    entry.region = e.region
    entry.unit = e.unit
    entry.tier_mode = e.tier_mode.value


def _set_tiers(session: Session, entry: PriceEntry, e: Any) -> None:
    for tier in list(entry.tiers):
        session.delete(tier)
    session.flush()
    session.add_all(
        PriceTier(entry_id=entry.id, from_quantity=t.from_qty, unit_price=t.unit_price)
        for t in e.tiers
    )
    session.flush()
    session.expire(entry, ["tiers"])


_M = TypeVar("_M", TariffEntry, PriceEntry)


def _entry(session: Session, model: type[_M], version_id: int, entry_id: int) -> _M:
    entry = session.get(model, entry_id)
    if entry is None or entry.version_id != version_id:
        raise NotFound("not found")
    return entry


def tariff_view(t: TariffEntry) -> dict[str, Any]:
    return {
        "id": t.id,
        "prefix": t.prefix or "*any",
        "destination_group": t.destination_group,
        "rate_per_minute": _dec(t.rate_per_minute),
        "connect_fee": _dec(t.connect_fee),
        "min_seconds": t.min_seconds,
        "initial_increment": t.initial_increment,
        "subsequent_increment": t.subsequent_increment,
        "band": t.band,
        "charge_unanswered": t.charge_unanswered,
        "rate_groups": t.rate_groups or "",
        "increment_decimals": t.increment_decimals,
        "call_decimals": t.call_decimals,
        "call_rounding": t.call_rounding or DEFAULT_ROUNDING.value,
        "max_cost": None if t.max_cost is None else _dec(t.max_cost),
        "timing": t.timing or "",
        "weight": t.weight,
    }


def price_view(e: PriceEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "sku": e.sku,
        "region": e.region,
        "unit": e.unit,
        "unit_price": _dec(e.unit_price),
        "tier_mode": e.tier_mode,
        "tiers": [[_dec(t.from_quantity), _dec(t.unit_price)] for t in e.tiers],
    }


def _dec(value: Any) -> str:
    from rerate.rating.formats import plain_decimal

    return plain_decimal(value)
