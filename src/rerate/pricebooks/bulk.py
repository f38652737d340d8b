"""Entries in bulk: a whole version written, copied or cleared in a few statements.

A 200,000-prefix deck must import and publish in seconds, so entries are not
ORM objects here: PostgreSQL receives them by COPY, SQLite by one
executemany of plain tuples. Values are converted by the columns' own types
(DecimalType's bind processing), so the stored text is exactly what an ORM
insert would store. The ORM's audit hook does not see these rows: callers
record one audit entry for the whole operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from rerate.models import PriceEntry, PriceTier, TariffEntry
from rerate.pricebooks import terms
from rerate.rating import plan as p

# The models' tables, typed as tables (`__table__` is typed as a FromClause).
_TARIFFS = cast(Table, TariffEntry.__table__)
_PRICES = cast(Table, PriceEntry.__table__)
_TIERS = cast(Table, PriceTier.__table__)

_TARIFF_COLUMNS = (
    "version_id",
    "prefix",
    "destination_group",
    "band",
    "rate_per_minute",
    "connect_fee",
    "min_seconds",
    "initial_increment",
    "subsequent_increment",
    "charge_unanswered",
    *terms.COLUMNS,
)
_PRICE_COLUMNS = ("version_id", "sku", "service", "region", "unit", "unit_price", "tier_mode")
_TIER_COLUMNS = ("entry_id", "from_quantity", "unit_price")


def count_entries(session: Session, version_id: int) -> int:
    tariffs = session.scalar(
        select(func.count()).select_from(TariffEntry).where(TariffEntry.version_id == version_id)
    )
    prices = session.scalar(
        select(func.count()).select_from(PriceEntry).where(PriceEntry.version_id == version_id)
    )
    return int(tariffs or 0) + int(prices or 0)


def clear_entries(session: Session, version_id: int) -> None:
    """Remove a draft's entries (the triggers refuse this for a published one)."""
    entry_ids = select(PriceEntry.id).where(PriceEntry.version_id == version_id)
    session.execute(delete(PriceTier).where(PriceTier.entry_id.in_(entry_ids)))
    session.execute(delete(PriceEntry).where(PriceEntry.version_id == version_id))
    session.execute(delete(TariffEntry).where(TariffEntry.version_id == version_id))


def copy_entries(session: Session, source_id: int, target_id: int) -> None:
    """Copy every entry of version `source_id` into `target_id`, in the database."""
    t = _TARIFFS.c
    cols = [c for c in _TARIFF_COLUMNS if c != "version_id"]
    session.execute(
        insert(_TARIFFS).from_select(
            ["version_id", *cols],
            select(literal(target_id), *(t[c] for c in cols)).where(t.version_id == source_id),
        )
    )
    e = _PRICES.c
    pcols = [c for c in _PRICE_COLUMNS if c != "version_id"]
    session.execute(
        insert(_PRICES).from_select(
            ["version_id", *pcols],
            select(literal(target_id), *(e[c] for c in pcols)).where(e.version_id == source_id),
        )
    )
    old = _PRICES.alias("old")
    new = _PRICES.alias("new")
    tier = _TIERS.c
    session.execute(
        insert(_TIERS).from_select(
            ["entry_id", "from_quantity", "unit_price"],
            select(new.c.id, tier.from_quantity, tier.unit_price)
            .join(old, old.c.id == tier.entry_id)
            .join(
                new,
                (new.c.version_id == target_id)
                & (new.c.sku == old.c.sku)
                & (
                    (new.c.region == old.c.region)
                    | (new.c.region.is_(None) & old.c.region.is_(None))
                ),
            )
            .where(old.c.version_id == source_id),
        )
    )


def insert_tariffs(session: Session, version_id: int, entries: Sequence[p.TariffEntry]) -> None:
    _write(
        session,
        _TARIFFS,
        _TARIFF_COLUMNS,
        (
            (
                version_id,
                t.prefix,
                t.destination_group,
                t.band,
                t.rate_per_minute,
                t.connect_fee,
                t.min_seconds,
                t.initial_increment,
                t.subsequent_increment,
                t.charge_unanswered,
                *terms.stored(t),
            )
            for t in entries
        ),
    )


def insert_prices(
    session: Session,
    version_id: int,
    entries: Sequence[p.PriceEntry],
    services: Mapping[str, str] | None = None,
) -> None:
    """`services` names each SKU's service (display only, by SKU); a CSV has none."""
    named = services or {}
    _write(
        session,
        _PRICES,
        _PRICE_COLUMNS,
        (
            (
                version_id,
                e.sku,
                named.get(e.sku, ""),
                e.region,
                e.unit,
                e.unit_price,
                e.tier_mode.value,
            )
            for e in entries
        ),
    )
    tiered = {(e.sku, e.region): e.tiers for e in entries if e.tiers}
    if not tiered:
        return
    ids = session.execute(
        select(PriceEntry.sku, PriceEntry.region, PriceEntry.id).where(
            PriceEntry.version_id == version_id
        )
    ).all()
    _write(
        session,
        _TIERS,
        _TIER_COLUMNS,
        (
            (entry_id, tier.from_qty, tier.unit_price)
            for sku, region, entry_id in ids
            for tier in tiered.get((sku, region), ())
        ),
    )


def _write(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql":
        # COPY: the fastest way in; psycopg adapts Decimal, bool and None itself.
        raw = connection.connection.driver_connection
        assert raw is not None
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    # The dialect's implementation of each type: a TypeDecorator's own
    # bind_processor skips process_bind_param (DecimalType's padding to scale).
    binders: list[Callable[[Any], Any] | None] = [
        table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns
    ]
    converted = [
        tuple(v if b is None else b(v) for v, b in zip(row, binders, strict=True)) for row in rows
    ]
    if converted:
        marks = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", converted
        )
