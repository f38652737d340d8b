"""Fixed-point arithmetic: exact against Python integers."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.rating.fixed import (
    RatingOverflow,
    decimal_array,
    decimal_column,
    mul_div,
    round_div,
    safe_sum,
    to_scaled,
)

INT64 = st.integers(-(2**63) + 1, 2**63 - 1)
DIVISORS = st.one_of(
    st.sampled_from([1, 10, 60, 100, 10**6, 10**10, 10**12, 10**18, 60 * 10**6]),
    st.integers(1, 2**31),
    st.integers(1, 2**63 - 1),
)


def half_up(n: int, d: int) -> int:
    q, r = divmod(abs(n), d)
    q += 2 * r >= d
    return -q if n < 0 else q


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(INT64, INT64), min_size=1, max_size=50), DIVISORS)
def test_mul_div_is_exact_or_raises(pairs: list[tuple[int, int]], d: int) -> None:
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    expected = [half_up(x * y, d) for x, y in pairs]
    if all(-(2**63) <= e < 2**63 for e in expected):
        assert mul_div(a, b, d).tolist() == expected
    else:
        with pytest.raises(RatingOverflow):
            mul_div(a, b, d)


@given(st.lists(st.integers(-(10**15), 10**15), max_size=30), st.integers(1, 10**12))
def test_round_div_halves_away_from_zero(values: list[int], d: int) -> None:
    assert round_div(np.array(values, dtype=np.int64), d).tolist() == [
        half_up(v, d) for v in values
    ]


def test_mul_div_reaches_both_int64_ends() -> None:
    low, high = -(2**63), 2**63 - 1
    assert mul_div(np.array([-(2**62)]), 2, 1).tolist() == [low]
    assert mul_div(np.array([high]), 1, 1).tolist() == [high]
    with pytest.raises(RatingOverflow):
        mul_div(np.array([2**62]), 2, 1)


def test_round_half_up_is_symmetric() -> None:
    # 5 / 10 = 0.5 -> 1; -5 / 10 -> -1 (Python's ROUND_HALF_UP), never banker's
    assert mul_div(np.array([5, -5, 15, 25]), 1, 10).tolist() == [1, -1, 2, 3]


@given(st.lists(INT64, max_size=100))
def test_safe_sum_never_wraps(values: list[int]) -> None:
    assert safe_sum(np.array(values, dtype=np.int64)) == sum(values)


@given(st.lists(st.one_of(st.none(), st.integers(-(2**63) + 1, 2**63 - 1)), max_size=40))
def test_decimal_arrays_round_trip(values: list[int | None]) -> None:
    valid = np.array([v is not None for v in values], dtype=bool)
    raw = np.array([v or 0 for v in values], dtype=np.int64)
    arr = decimal_array(raw, valid)
    assert arr.to_pylist() == [None if v is None else Decimal(v).scaleb(-10) for v in values]
    back, ok = decimal_column(arr)
    assert ok.tolist() == valid.tolist()
    assert back[ok].tolist() == raw[valid].tolist()


def test_decimal_column_refuses_values_beyond_64_bits() -> None:
    with pytest.raises(RatingOverflow):
        decimal_column(pa.array([Decimal("1E+9")], pa.decimal128(38, 10)))


def test_to_scaled_refuses_to_round() -> None:
    assert to_scaled(Decimal("1.5"), 1) == 15
    with pytest.raises(ValueError, match="decimal places"):
        to_scaled(Decimal("1.05"), 1)
