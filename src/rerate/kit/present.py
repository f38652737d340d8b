"""How money and quantities are shown: the one module that turns them into text.

Rounding happens once, in `kit.money.round_money`, where an amount becomes an
invoice line, a tax or a total (docs/invoicing.md, "Money as shown"). This
module never rounds a value a second time: `money_text` and `money_plain`
show an already-rounded amount at its currency's minor unit (ISO 4217, 0 for
JPY, 2 for EUR, 3 for BHD), padding "128.85" stored as 128.8500000000 to
"128.85", and raise `NotRounded` if the amount still has a digit below the
minor unit -- printing it would hide a cent the rounding boundary never saw.

Amounts that are not rounded yet (a custom item entered as "-0.125", the exact
sum of a run's rated rows) go through `amount_plain`: the minor-unit scale at
least, every digit they carry beyond it, nothing rounded away.

Two forms: `money_text` for people (grouped: "43,616.95") and `money_plain`
for machines (CSV cells, API strings: "43616.95"). Neither ever uses exponent
notation, nor prints "-0.00".
"""

from __future__ import annotations

from decimal import Context, Decimal
from functools import lru_cache

from rerate.kit.money import minor_units

# Quantize and normalize round to the context's precision (28 digits by
# default); a Numeric(38, 10) column holds 38. Wide enough never to round.
_EXACT = Context(prec=100)


class NotRounded(ValueError):
    """An amount shown as money still carries digits below the minor unit."""


def at_minor_unit(amount: Decimal, currency: str) -> Decimal:
    """`amount` at exactly the minor-unit scale of `currency`, without rounding.

    Raises `NotRounded` if that would drop a non-zero digit, `TypeError` for a
    float (money is never a float), `UnknownCurrency` for a currency not in
    `kit.money.MINOR_UNITS`.
    """
    _check(amount)
    shown = amount.quantize(_quantum(currency), context=_EXACT)
    if shown != amount:
        raise NotRounded(
            f"{quantity_text(amount)} {currency} has digits below the minor unit "
            f"({minor_units(currency)} places): round it at the boundary "
            "(kit.money.round_money) first"
        )
    return shown.copy_abs() if shown.is_zero() else shown


@lru_cache(maxsize=512)
def _quantum(currency: str) -> Decimal:
    # Every list of invoices shows several amounts per row: the lookup and
    # the scaling were most of what showing one cost.
    return Decimal(1).scaleb(-minor_units(currency))


def money_plain(amount: Decimal, currency: str) -> str:
    """A rounded amount for machines: "43616.95", "-250.00", "0.00", "1500" (JPY)."""
    return format(at_minor_unit(amount, currency), "f")


def money_text(amount: Decimal, currency: str) -> str:
    """A rounded amount for people: "43,616.95", "-1,250.00", "0.00"."""
    return format(at_minor_unit(amount, currency), ",f")


def amount_plain(amount: Decimal, currency: str) -> str:
    """An amount not rounded yet, for machines: at least the minor-unit scale,
    every further digit it carries (trailing zeros trimmed), never rounded:
    -250.0000000000 -> "-250.00", -0.1250000000 -> "-0.125"."""
    return format(_at_least_minor_unit(amount, currency), "f")


def amount_text(amount: Decimal, currency: str) -> str:
    """`amount_plain` for people, grouped: "1,234.5678"."""
    return format(_at_least_minor_unit(amount, currency), ",f")


def quantity_text(quantity: Decimal, *, grouped: bool = False) -> str:
    """A quantity with the places it carries, trailing zeros trimmed, never an
    exponent: 3.5000000000 -> "3.5", 0E-10 -> "0", 1E+3 -> "1000"."""
    _check(quantity)
    value = _trimmed(quantity)
    if value.is_zero():
        value = Decimal(0)
    return format(value, ",f" if grouped else "f")


def _at_least_minor_unit(amount: Decimal, currency: str) -> Decimal:
    _check(amount)
    places = max(minor_units(currency), -_exponent(_trimmed(amount)))
    shown = amount.quantize(Decimal(1).scaleb(-places), context=_EXACT)  # only zeros move
    return shown.copy_abs() if shown.is_zero() else shown


def _trimmed(value: Decimal) -> Decimal:
    """`value` without trailing zeros after the point, never with a positive
    exponent (Decimal.normalize turns 1000 into 1E+3)."""
    normal = value.normalize(context=_EXACT)
    return normal.quantize(Decimal(1), context=_EXACT) if _exponent(normal) > 0 else normal


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: `_check` refused NaN and infinities
    return exponent


def _check(value: Decimal) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"money and quantities are Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
