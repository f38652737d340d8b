"""A page of a version's entries, searchable, for the API and the console."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from rerate.models import PriceBook, PriceBookVersion, PriceEntry, TariffEntry
from rerate.models.enums import PriceBookKind
from rerate.pricebooks.service import price_view, tariff_view


def entries_page(
    session: Session,
    book: PriceBook,
    version: PriceBookVersion,
    *,
    q: str = "",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Tariffs by prefix (`q`: a prefix start or a destination group), or
    prices by SKU (`q`: part of the SKU or the region)."""
    q = q.strip()
    if book.kind == PriceBookKind.VOIP:
        tstmt = select(TariffEntry).where(TariffEntry.version_id == version.id)
        if q:
            tstmt = tstmt.where(
                or_(
                    TariffEntry.prefix.startswith(q, autoescape=True),
                    TariffEntry.destination_group.icontains(q, autoescape=True),
                )
            )
        total = session.scalar(select(func.count()).select_from(tstmt.subquery())) or 0
        tariffs = session.scalars(
            tstmt.order_by(TariffEntry.prefix, TariffEntry.band, TariffEntry.id)
            .limit(limit)
            .offset(offset)
        )
        return [tariff_view(t) for t in tariffs], total
    pstmt = select(PriceEntry).where(PriceEntry.version_id == version.id)
    if q:
        pstmt = pstmt.where(
            or_(
                PriceEntry.sku.icontains(q, autoescape=True),
                PriceEntry.region.icontains(q, autoescape=True),
            )
        )
    total = session.scalar(select(func.count()).select_from(pstmt.subquery())) or 0
    prices = session.scalars(
        pstmt.order_by(PriceEntry.sku, PriceEntry.region, PriceEntry.id).limit(limit).offset(offset)
    )
    return [price_view(e) for e in prices], total
