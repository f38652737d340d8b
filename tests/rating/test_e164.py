"""Number normalisation rules."""

from __future__ import annotations

import pytest

from rerate.rating.e164 import InvalidNumber, NumberingRules, normalise

FR = NumberingRules("33")
US = NumberingRules("1", trunk_prefix="1", international_prefixes=("011",))


@pytest.mark.parametrize(
    ("raw", "rules", "expected"),
    [
        ("+33 6 12 34 56 78", FR, "33612345678"),  # '+': international, separators dropped
        ("0033612345678", FR, "33612345678"),  # international access prefix 00
        ("0612345678", FR, "33612345678"),  # national prefix 0 -> country code 33
        ("33612345678", FR, "33612345678"),  # already E.164 digits
        ("011 44 20 7946 0000", US, "442079460000"),  # NANP international prefix 011
        ("1 (212) 555-0100", US, "12125550100"),  # NANP trunk prefix 1 -> country code 1
    ],
)
def test_normalise(raw: str, rules: NumberingRules, expected: str) -> None:
    assert normalise(raw, rules) == expected


@pytest.mark.parametrize("raw", ["", "+", "abc", "06-12-AB"])
def test_normalise_rejects_non_numbers(raw: str) -> None:
    with pytest.raises(InvalidNumber):
        normalise(raw, FR)
