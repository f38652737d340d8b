"""Tax rates: every decimal in [0, 1) with at most 6 places is kept exactly; nothing else is."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.kit.errors import Invalid
from rerate.models.enums import NodeKind
from rerate.tenancy import fields

RATES = st.decimals(min_value=0, max_value=Decimal("0.999999"), places=6, allow_nan=False)


@given(RATES)
def test_a_rate_in_range_is_kept_exactly_from_its_text(rate: Decimal) -> None:
    assert fields.check_tax_rate(str(rate)) == rate
    assert fields.plain_rate(rate) == rate


@given(st.decimals(min_value=1, max_value=10**6, allow_nan=False, allow_infinity=False))
def test_a_rate_of_one_or_more_is_refused(rate: Decimal) -> None:
    with pytest.raises(Invalid, match="tax_rate"):
        fields.check_tax_rate(str(rate))


@given(RATES.filter(lambda r: r > 0))
def test_negative_and_too_precise_rates_are_refused(rate: Decimal) -> None:
    with pytest.raises(Invalid, match="tax_rate"):
        fields.check_tax_rate(str(-rate))
    with pytest.raises(Invalid, match="decimal places"):
        fields.check_tax_rate(str(rate) + "1" if "." in str(rate) else f"{rate}.0000001")


def test_floats_nan_and_other_kinds_are_refused() -> None:
    for bad in (0.2, "NaN", "Infinity", "abc", True):
        with pytest.raises(Invalid, match="tax_rate"):
            fields.check_tax_rate(bad)
    with pytest.raises(Invalid, match="only customers"):
        fields.check_node_fields(NodeKind.PARTNER, {"tax_rate": "0.1"})


def test_time_zones_and_currencies_are_real_ones() -> None:
    assert fields.check_time_zone(" Europe/Paris ") == "Europe/Paris"
    assert fields.check_currency("chf") == "CHF"
    for bad in ("", "../etc/passwd", "Europe/Atlantis", "UTC+2"):
        with pytest.raises(Invalid, match="time_zone"):
            fields.check_time_zone(bad)
    for bad in ("EURO", "XXX", ""):
        with pytest.raises(Invalid, match="currency"):
            fields.check_currency(bad)
    assert fields.check_address(" a \r\n b \n") == "a\nb"
    with pytest.raises(Invalid, match="address"):
        fields.check_address("a\x00b")
