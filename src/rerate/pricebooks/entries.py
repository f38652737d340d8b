"""Read a version's entries as the rating engine's values, in one query per table.

Used by the plan builder (a 200,000-prefix deck must load fast: plain rows,
no ORM object per entry), by the CSV export and by the version comparison.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.models import PriceBookVersion, PriceEntry, PriceTier, TariffEntry
from rerate.pricebooks import terms
from rerate.rating import plan as p


def _tiers(pairs: Iterable[tuple[Decimal, Decimal]]) -> tuple[p.Tier, ...]:
    # Sorted here, numerically: on SQLite the decimals are stored as text, so
    # an ORDER BY there would put "153600" before "51200".
    return tuple(p.Tier(q, price) for q, price in sorted(pairs))


def tariffs_of(session: Session, version_ids: Sequence[int]) -> dict[int, list[p.TariffEntry]]:
    out: dict[int, list[p.TariffEntry]] = defaultdict(list)
    if not version_ids:
        return out
    t = TariffEntry.__table__.c
    rows = session.execute(
        select(
            t.version_id,
            t.id,
            t.prefix,
            t.destination_group,
            t.rate_per_minute,
            t.connect_fee,
            t.min_seconds,
            t.initial_increment,
            t.subsequent_increment,
            t.band,
            t.charge_unanswered,
            *(t[c] for c in terms.COLUMNS),
        )
        .where(t.version_id.in_(version_ids))
        .order_by(t.version_id, t.id)
    )
    for vid, eid, prefix, group, rate, fee, mins, first, then, band, unanswered, *rest in rows:
        out[vid].append(
            p.TariffEntry(
                id=eid,
                prefix=prefix,
                destination_group=group,
                rate_per_minute=rate,
                connect_fee=fee,
                min_seconds=mins,
                initial_increment=first,
                subsequent_increment=then,
                band=band,
                charge_unanswered=bool(unanswered),
                **terms.loaded(*rest),
            )
        )
    return out


def prices_of(session: Session, version_ids: Sequence[int]) -> dict[int, list[p.PriceEntry]]:
    out: dict[int, list[p.PriceEntry]] = defaultdict(list)
    if not version_ids:
        return out
    e, t = PriceEntry.__table__.c, PriceTier.__table__.c
    tiers: dict[int, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for entry_id, frm, price in session.execute(
        select(t.entry_id, t.from_quantity, t.unit_price)
        .join(PriceEntry.__table__, e.id == t.entry_id)
        .where(e.version_id.in_(version_ids))
    ):
        tiers[entry_id].append((frm, price))
    rows = session.execute(
        select(e.version_id, e.id, e.sku, e.unit_price, e.region, e.unit, e.tier_mode)
        .where(e.version_id.in_(version_ids))
        .order_by(e.version_id, e.id)
    )
    for vid, eid, sku, price, region, unit, mode in rows:
        out[vid].append(
            p.PriceEntry(
                id=eid,
                sku=sku,
                unit_price=price,
                region=region,
                unit=unit,
                tier_mode=p.TierMode(mode),
                tiers=_tiers(tiers.get(eid, ())),
            )
        )
    return out


def plan_versions(
    session: Session, versions: Sequence[PriceBookVersion]
) -> list[p.PriceBookVersion]:
    """`versions` with their entries, as the engine's values."""
    ids = [v.id for v in versions]
    prices, tariffs = prices_of(session, ids), tariffs_of(session, ids)
    return [
        p.PriceBookVersion(
            id=v.id,
            version_no=v.version,
            effective_from=v.effective_from,
            prices=tuple(prices.get(v.id, ())),
            tariffs=tuple(tariffs.get(v.id, ())),
        )
        for v in versions
    ]
