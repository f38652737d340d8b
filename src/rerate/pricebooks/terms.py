"""A tariff entry's carrier terms as stored (models/pricing.py TariffEntry's
columns), and back: the text forms are the tariffs CSV's
(rating/tariff_terms.py), so the database, the files and the API agree."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rerate.kit.money import DEFAULT_ROUNDING, RoundingMode
from rerate.rating import plan as p
from rerate.rating import tariff_terms

# The stored columns, in the order `stored` gives them.
COLUMNS = (
    "rate_groups",
    "increment_decimals",
    "call_decimals",
    "call_rounding",
    "max_cost",
    "timing",
    "weight",
)


def stored(t: p.TariffEntry) -> tuple[Any, ...]:
    """The column values of `t`'s terms; NULL for each term not used."""
    rounding = None
    if t.call_decimals is not None or t.call_rounding is not DEFAULT_ROUNDING:
        rounding = t.call_rounding.value
    return (
        tariff_terms.format_rate_groups(t.rate_groups) or None,
        t.increment_decimals,
        t.call_decimals,
        rounding,
        t.max_cost,
        tariff_terms.format_timing(t.timing) or None,
        t.weight,
    )


def loaded(
    rate_groups: str | None,
    increment_decimals: int | None,
    call_decimals: int | None,
    call_rounding: str | None,
    max_cost: Decimal | None,
    timing: str | None,
    weight: int | None,
) -> dict[str, Any]:
    """TariffEntry keyword arguments from the stored columns (which the
    service wrote from checked values)."""
    return {
        "rate_groups": tariff_terms.parse_rate_groups(rate_groups or ""),
        "increment_decimals": increment_decimals,
        "call_decimals": call_decimals,
        "call_rounding": RoundingMode(call_rounding) if call_rounding else DEFAULT_ROUNDING,
        "max_cost": max_cost,
        "timing": tariff_terms.parse_timing(timing or ""),
        "weight": weight or 0,
    }
