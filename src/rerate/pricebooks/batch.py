"""Entries in bulk for callers that hold them as values, not as a file.

The demo loader's decks and scripts add thousands of entries to a draft at
once: entry by entry (service.add_tariff) would be one ORM object and a clash
query each. Here the entries are the engine's own values (rerate.rating.plan,
which check themselves when built, as a CSV line is checked), the draft and
the caller are checked once, repeats are refused as a CSV import refuses them
(409 naming the prefix/band or sku/region), and the rows go in by
bulk.insert_* (COPY on PostgreSQL) with one audit entry for the lot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy.orm import Session

from rerate.auth.permissions import Principal
from rerate.kit import audit
from rerate.kit.errors import Conflict, Invalid
from rerate.models import PriceBook, PriceBookVersion
from rerate.models.enums import PriceBookKind
from rerate.pricebooks import bulk, entries, service
from rerate.rating import plan as p


def add_tariffs(
    session: Session,
    principal: Principal,
    book_id: int,
    version_id: int,
    tariffs: Sequence[p.TariffEntry],
    *,
    source: str = "",
) -> PriceBookVersion:
    """Add `tariffs` to a draft of a VoIP book, all or none."""
    book, version = _draft(session, principal, book_id, version_id, PriceBookKind.VOIP)
    existing = entries.tariffs_of(session, [version.id]).get(version.id, [])
    _refuse_repeats(
        [(t.prefix, t.band) for t in existing], [(t.prefix, t.band) for t in tariffs], "prefix"
    )
    bulk.insert_tariffs(session, version.id, tariffs)
    _record(session, book, version, len(tariffs), source)
    return version


def add_prices(
    session: Session,
    principal: Principal,
    book_id: int,
    version_id: int,
    prices: Sequence[p.PriceEntry],
    *,
    services: Mapping[str, str] | None = None,
    source: str = "",
) -> PriceBookVersion:
    """Add `prices` to a draft of a cloud book, all or none. `services` names
    the service of each SKU (by SKU; kept with the entry for display)."""
    book, version = _draft(session, principal, book_id, version_id, PriceBookKind.CLOUD)
    existing = entries.prices_of(session, [version.id]).get(version.id, [])
    _refuse_repeats(
        [(e.sku, e.region) for e in existing], [(e.sku, e.region) for e in prices], "sku"
    )
    bulk.insert_prices(session, version.id, prices, services)
    _record(session, book, version, len(prices), source)
    return version


def _draft(
    session: Session, principal: Principal, book_id: int, version_id: int, kind: PriceBookKind
) -> tuple[PriceBook, PriceBookVersion]:
    book, version = service.draft_of(session, principal, book_id, version_id)
    if book.kind != kind.value:
        what = "tariff entries" if kind is PriceBookKind.VOIP else "SKU prices"
        raise Invalid(f"{book.name!r} is a {book.kind} book: it holds no {what}")
    return book, version


def _refuse_repeats(
    existing: Iterable[tuple[str, str | None]],
    new: Iterable[tuple[str, str | None]],
    field: str,
) -> None:
    seen = set(existing)
    for i, key in enumerate(new):
        if key in seen:
            head, qualifier = key
            joint = "band" if field == "prefix" else "in"
            label = f"{head} {joint} {qualifier}" if qualifier else head
            raise Conflict(f"{field}: {label} (entry {i + 1}) is already in this version")
        seen.add(key)


def _record(
    session: Session, book: PriceBook, version: PriceBookVersion, count: int, source: str
) -> None:
    # The bulk rows bypass the ORM's audit hook: one entry says what was added.
    audit.record(
        session,
        "add_entries",
        "price_book_versions",
        version.id,
        price_book_id=book.id,
        entries=count,
        source=source,
    )
