"""Compare two versions of one book: entries added, removed and changed.

Entries are matched by what identifies them in a version: prefix, band and
timing for a tariff, SKU and region for a price; an entry whose other fields differ
is changed, with its old and new values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.models.enums import PriceBookKind
from rerate.pricebooks import entries, service
from rerate.rating import plan as p
from rerate.rating import tariff_terms
from rerate.rating.formats import ANY_PREFIX, format_tiers, plain_decimal, uses_terms


@dataclass(slots=True)
class Comparison:
    old_version: dict[str, Any]
    new_version: dict[str, Any]
    key_fields: tuple[str, ...]
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        """`limit` caps each list (a deck may differ in 100,000 prefixes); the
        counts are always complete."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "key_fields": list(self.key_fields),
            "counts": {
                "added": len(self.added),
                "removed": len(self.removed),
                "changed": len(self.changed),
                "unchanged": self.unchanged,
            },
            "added": self.added[:limit],
            "removed": self.removed[:limit],
            "changed": self.changed[:limit],
        }


def _tariff(t: p.TariffEntry) -> dict[str, Any]:
    return {
        "prefix": t.prefix or ANY_PREFIX,
        "band": t.band or "",
        "timing": tariff_terms.format_timing(t.timing),
        "destination_group": t.destination_group,
        "rate_per_minute": plain_decimal(t.rate_per_minute),
        "connect_fee": plain_decimal(t.connect_fee),
        "min_seconds": t.min_seconds,
        "initial_increment": t.initial_increment,
        "subsequent_increment": t.subsequent_increment,
        "charge_unanswered": t.charge_unanswered,
        **_terms(t),
    }


def _terms(t: p.TariffEntry) -> dict[str, Any]:
    """The carrier terms, only for a deck that uses them (an ordinary deck's
    comparison shows the columns it always did)."""
    if not uses_terms(t):
        return {}
    return {
        "rate_groups": tariff_terms.format_rate_groups(t.rate_groups),
        "increment_decimals": t.increment_decimals,
        "call_decimals": t.call_decimals,
        "call_rounding": t.call_rounding.value,
        "max_cost": "" if t.max_cost is None else plain_decimal(t.max_cost),
        "weight": t.weight,
    }


def _price(e: p.PriceEntry) -> dict[str, Any]:
    return {
        "sku": e.sku,
        "region": e.region or "",
        "unit": e.unit,
        "unit_price": plain_decimal(e.unit_price),
        "tier_mode": e.tier_mode.value,
        "tiers": format_tiers(e.tiers),
    }


def compare(
    session: Session, principal: Principal, book_id: int, old_id: int, new_id: int
) -> Comparison:
    book, old = service.get_version(session, principal, book_id, old_id, Permission.VIEW)
    _book, new = service.get_version(session, principal, book_id, new_id, Permission.VIEW)
    keys: tuple[str, ...]
    if book.kind == PriceBookKind.VOIP:
        keys = ("prefix", "band", "timing")
        loaded = entries.tariffs_of(session, [old.id, new.id])
        before = [_tariff(t) for t in loaded.get(old.id, [])]
        after = [_tariff(t) for t in loaded.get(new.id, [])]
    else:
        keys = ("sku", "region")
        prices = entries.prices_of(session, [old.id, new.id])
        before = [_price(e) for e in prices.get(old.id, [])]
        after = [_price(e) for e in prices.get(new.id, [])]
    a = {tuple(d[k] for k in keys): d for d in before}
    b = {tuple(d[k] for k in keys): d for d in after}
    out = Comparison(service.version_view(session, old), service.version_view(session, new), keys)
    for key in sorted(a.keys() | b.keys()):
        if key not in a:
            out.added.append(b[key])
        elif key not in b:
            out.removed.append(a[key])
        elif a[key] != b[key]:
            fields = [f for f in {**a[key], **b[key]} if a[key].get(f) != b[key].get(f)]
            out.changed.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "fields": fields,
                    "old": a[key],
                    "new": b[key],
                }
            )
        else:
            out.unchanged += 1
    return out
