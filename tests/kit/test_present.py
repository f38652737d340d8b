from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.kit.money import MINOR_UNITS, RoundingMode, UnknownCurrency, round_money
from rerate.kit.present import (
    NotRounded,
    amount_plain,
    amount_text,
    money_plain,
    money_text,
    quantity_text,
)

CURRENCIES = st.sampled_from(sorted(MINOR_UNITS))
# As stored, 10 places; within the 28 digits `round_money`'s default context keeps.
stored = st.decimals(
    min_value=Decimal("-1e17"),
    max_value=Decimal("1e17"),
    places=10,
    allow_nan=False,
    allow_infinity=False,
)
modes = st.sampled_from(list(RoundingMode))


def _places(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@pytest.mark.parametrize(
    ("amount", "currency", "people", "machines"),
    [
        ("43616.9500000000", "EUR", "43,616.95", "43616.95"),
        ("128.8500000000", "EUR", "128.85", "128.85"),
        ("-250.0000000000", "EUR", "-250.00", "-250.00"),
        ("0E-10", "EUR", "0.00", "0.00"),
        ("-0.0000000000", "EUR", "0.00", "0.00"),
        ("1500.0000000000", "JPY", "1,500", "1500"),
        ("1E+3", "JPY", "1,000", "1000"),
        ("12.3450000000", "BHD", "12.345", "12.345"),
        ("1234567.1", "BHD", "1,234,567.100", "1234567.100"),
        # 38 digits, as wide as Numeric(38, 10): past the default 28-digit context
        ("1" + "0" * 27 + ".5000000000", "EUR", f"1{',000' * 9}.50", "1" + "0" * 27 + ".50"),
    ],
)
def test_money_is_shown_at_the_minor_unit(amount, currency, people, machines):
    assert money_text(Decimal(amount), currency) == people
    assert money_plain(Decimal(amount), currency) == machines


def test_an_amount_not_rounded_at_the_boundary_is_refused_not_rounded_again():
    with pytest.raises(NotRounded, match=r"128\.855 EUR has digits below the minor unit"):
        money_text(Decimal("128.8550000000"), "EUR")
    with pytest.raises(NotRounded):
        money_plain(Decimal("1500.5"), "JPY")


def test_floats_and_unknown_currencies_are_refused():
    with pytest.raises(TypeError, match="Decimal"):
        money_text(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        money_text(Decimal(1), "XXX")
    with pytest.raises(ValueError, match="finite"):
        quantity_text(Decimal("NaN"))


@pytest.mark.parametrize(
    ("quantity", "text"),
    [
        ("0E-10", "0"),
        ("-0E-10", "0"),
        ("1E+3", "1000"),
        ("3.5000000000", "3.5"),
        ("0.0000000001", "0.0000000001"),
        ("1234567.0000000000", "1234567"),
    ],
)
def test_quantities_keep_their_places_without_trailing_zeros(quantity, text):
    assert quantity_text(Decimal(quantity)) == text


def test_amounts_not_rounded_yet_keep_every_digit_they_carry():
    assert amount_plain(Decimal("-250.0000000000"), "EUR") == "-250.00"
    assert amount_plain(Decimal("-250"), "EUR") == "-250.00"
    assert amount_plain(Decimal("-0.1250000000"), "EUR") == "-0.125"
    assert amount_text(Decimal("1234.5678"), "EUR") == "1,234.5678"
    assert amount_plain(Decimal("0E-10"), "JPY") == "0"


@given(stored, CURRENCIES, modes)
def test_rounded_money_round_trips_at_exactly_the_minor_unit(amount, currency, mode):
    rounded = round_money(amount, currency, mode)
    for text in (money_plain(rounded, currency), money_text(rounded, currency).replace(",", "")):
        assert "E" not in text.upper()
        assert _places(text) == MINOR_UNITS[currency]
        assert Decimal(text) == rounded
        assert not text.startswith("-0") or (Decimal(text) < 0 and text != "-0")
        assert text.lstrip("-").replace(".", "").isdigit()


@given(stored, CURRENCIES)
def test_the_stored_scale_never_changes_what_is_shown(amount, currency):
    """128.85 and 128.8500000000 read the same: the API's create and list agree."""
    rounded = round_money(amount, currency)
    padded = rounded.quantize(Decimal("1e-10"))
    assert money_plain(padded, currency) == money_plain(rounded, currency)
    assert amount_plain(padded, currency) == amount_plain(rounded, currency)


@given(stored, CURRENCIES)
def test_unrounded_amounts_round_trip_and_never_lose_a_digit(amount, currency):
    text = amount_plain(amount, currency)
    assert "E" not in text
    assert Decimal(text) == amount
    assert _places(text) >= MINOR_UNITS[currency]
    assert Decimal(amount_text(amount, currency).replace(",", "")) == amount


@given(stored)
def test_quantities_round_trip_without_exponent_or_trailing_zeros(quantity):
    text = quantity_text(quantity)
    assert "E" not in text
    assert Decimal(text) == quantity
    assert not ("." in text and text.endswith("0"))
    assert text != "-0"
    assert Decimal(quantity_text(quantity, grouped=True).replace(",", "")) == quantity
