"""Money: one rounding boundary, one minor-units table.

Every amount inside rerate is a `Decimal`. Per-row amounts keep at least
`ROW_SCALE` decimal places; rounding to the currency's minor unit happens only
in `round_money`, called where an amount leaves the engine for a person
(invoice lines, invoice totals, reports). The mode is named, never implied:
Python's `decimal` defaults to banker's rounding, DuckDB rounds halves away
from zero, so we always pass the mode explicitly.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

# Scale kept on every rated row (issue 3: "at least 6 decimal places").
ROW_SCALE = 10
ROW_QUANTUM = Decimal(1).scaleb(-ROW_SCALE)
# Unit prices are stored with up to 10 decimal places (DESIGN.md).
PRICE_SCALE = 10

# ISO 4217 minor units for the currencies we expect; anything else must be
# added here deliberately rather than guessed.
MINOR_UNITS: dict[str, int] = {
    "AED": 2,
    "AUD": 2,
    "BHD": 3,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "CLP": 0,
    "CNY": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "HUF": 2,
    "IDR": 2,
    "ILS": 2,
    "INR": 2,
    "ISK": 0,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "MXN": 2,
    "MYR": 2,
    "NOK": 2,
    "NZD": 2,
    "OMR": 3,
    "PHP": 2,
    "PLN": 2,
    "RON": 2,
    "RUB": 2,
    "SAR": 2,
    "SEK": 2,
    "SGD": 2,
    "THB": 2,
    "TND": 3,
    "TRY": 2,
    "TWD": 2,
    "UAH": 2,
    "USD": 2,
    "VND": 0,
    "ZAR": 2,
}


class RoundingMode(StrEnum):
    """The rounding modes a contract may choose; values are stable API strings."""

    HALF_UP = "ROUND_HALF_UP"
    HALF_EVEN = "ROUND_HALF_EVEN"
    HALF_DOWN = "ROUND_HALF_DOWN"
    UP = "ROUND_UP"
    DOWN = "ROUND_DOWN"
    CEILING = "ROUND_CEILING"
    FLOOR = "ROUND_FLOOR"

    @property
    def decimal_mode(self) -> str:
        # The member's value is the decimal module's constant's own text.
        return self.value


DEFAULT_ROUNDING = RoundingMode.HALF_UP


class UnknownCurrency(ValueError):
    pass


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency.upper()]
    except KeyError:
        raise UnknownCurrency(f"unknown currency {currency!r}: add it to MINOR_UNITS") from None


def round_money(amount: Decimal, currency: str, mode: RoundingMode = DEFAULT_ROUNDING) -> Decimal:
    """Round `amount` to the minor unit of `currency` with the named mode.

    This is the one rounding boundary for money shown to people.
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    rounded = amount.quantize(_quantum(currency), rounding=mode.value)
    # A small credit or refund under ROUND_CEILING (or ROUND_DOWN/ROUND_HALF_*)
    # rounds to -0.00, which would be printed as such on an invoice.
    return rounded.copy_abs() if rounded.is_zero() else rounded


@lru_cache(maxsize=256)
def _quantum(currency: str) -> Decimal:
    """1 minor unit of `currency` (0.01 for EUR); cached: every invoice and
    list row rounds through here, and the set of currencies is small."""
    return Decimal(1).scaleb(-minor_units(currency))


def to_row_scale(amount: Decimal) -> Decimal:
    """Quantize a per-row amount to ROW_SCALE places (half-up; it only trims
    digits far below the minor unit, never a visible cent)."""
    return amount.quantize(ROW_QUANTUM, rounding=decimal.ROUND_HALF_UP)


def parse_decimal(text: str) -> Decimal:
    """Parse a decimal from text; reject NaN/Infinity, which are never money."""
    value = Decimal(text.strip())
    if not value.is_finite():
        raise decimal.InvalidOperation(f"not a finite number: {text!r}")
    return value


def money_str(amount: Decimal) -> str:
    """Money in JSON: a plain string, never scientific notation."""
    return format(amount, "f")
