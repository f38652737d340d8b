from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.usage.e164 import normalize, normalize_array


@pytest.mark.parametrize(
    ("number", "country_code", "expected"),
    [
        ("+49 30 1234-567", None, "49301234567"),
        ("0049301234567", None, "49301234567"),
        ("0301234567", "49", "49301234567"),
        ("0301234567", None, "0301234567"),
        ("(030) 123.45/67", "49", "49301234567"),
        ("14155550100", "49", "14155550100"),
        ("s", "49", None),
        ("*97", "49", None),
        ("sip:+4930@host", "49", None),
        ("00", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_normalize(number: str | None, country_code: str | None, expected: str | None) -> None:
    assert normalize(number, country_code=country_code) == expected


@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet="+0123456789 -()*#s", max_size=14)), max_size=30
    ),
    st.sampled_from([None, "1", "49", "353"]),
)
def test_vectorised_normalize_agrees_with_the_scalar_one(
    numbers: list[str | None], cc: str | None
) -> None:
    got = normalize_array(pa.array(numbers, pa.string()), country_code=cc).to_pylist()
    assert got == [normalize(n, country_code=cc) for n in numbers]
