from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.kit.money import RoundingMode, minor_units, parse_decimal, round_money

amounts = st.decimals(
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
    places=10,
    allow_nan=False,
    allow_infinity=False,
)


@pytest.mark.parametrize(
    ("amount", "mode", "expected"),
    [
        ("2.345", RoundingMode.HALF_UP, "2.35"),  # half away from zero
        ("2.345", RoundingMode.HALF_EVEN, "2.34"),  # banker's: to the even digit
        ("-2.345", RoundingMode.HALF_UP, "-2.35"),
        ("2.341", RoundingMode.UP, "2.35"),
        ("2.349", RoundingMode.DOWN, "2.34"),
        ("-2.341", RoundingMode.FLOOR, "-2.35"),
    ],
)
def test_round_money_named_modes(amount, mode, expected):
    assert round_money(Decimal(amount), "EUR", mode) == Decimal(expected)


def test_minor_units_follow_iso_4217():
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_money(Decimal("1.2345"), "BHD") == Decimal("1.235")
    with pytest.raises(ValueError, match="unknown currency"):
        minor_units("XXX")


def test_round_money_refuses_float():
    with pytest.raises(TypeError):
        round_money(1.005, "EUR")  # type: ignore[arg-type]


def test_parse_decimal_refuses_nan():
    with pytest.raises(ArithmeticError):
        parse_decimal("NaN")


@given(amounts, st.sampled_from(list(RoundingMode)))
def test_rounding_moves_less_than_one_minor_unit(amount, mode):
    rounded = round_money(amount, "USD", mode)
    assert abs(rounded - amount) < Decimal("0.01")
    assert rounded.as_tuple().exponent == -2


@given(amounts)
def test_half_up_is_symmetric(amount):
    assert round_money(-amount, "EUR") == -round_money(amount, "EUR")


@given(
    st.decimals(min_value=-1, max_value=1, places=4, allow_nan=False, allow_infinity=False),
    st.sampled_from(list(RoundingMode)),
)
def test_round_money_never_returns_negative_zero(amount: Decimal, mode: RoundingMode) -> None:
    rounded = round_money(amount, "EUR", mode)
    assert not (rounded.is_zero() and rounded.is_signed())
    # The mode applies to the signed amount: ceiling of -x is minus floor of x.
    if mode is RoundingMode.CEILING:
        assert rounded == -round_money(-amount, "EUR", RoundingMode.FLOOR)
