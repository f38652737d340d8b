"""The compiled loops against plain-Python statements of what they compute."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.rating.kernels import (
    SUMS_COUNT,
    SUMS_HI,
    SUMS_LO,
    SUMS_MAX,
    SUMS_MIN,
    compact_codes,
    encode_keys,
    group_sums,
    rule_winners,
    tariff_terms,
)
from rerate.rating.prefixes import _string_buffers

INT64 = st.integers(-(2**63) + 1, 2**63 - 1)


def _python_key(text: str | None) -> int:
    if not text or not all("0" <= ch <= "9" for ch in text) or len(text) > 15:
        return -1  # more than E.164's 15 digits is not a number
    return int(text.ljust(15, "0")) * 16 + len(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet="0123456789", max_size=20),
            st.text(alphabet="0123456789+ a", max_size=8),
        ),
        max_size=30,
    )
)
def test_encode_keys_matches_the_definition(numbers: list[str | None]) -> None:
    arr = pa.array(numbers, pa.string())
    offsets, data = _string_buffers(arr)
    present = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    keys, ok = encode_keys(offsets, data, present)
    expected = [_python_key(n) for n in numbers]
    assert keys.tolist() == expected
    assert ok.tolist() == [k >= 0 for k in expected]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-1, 6), INT64, st.integers(-5, 5)),
        max_size=60,
    )
)
def test_group_sums_are_exact_and_in_first_appearance_order(
    rows: list[tuple[int, int, int]],
) -> None:
    key = np.array([r[0] for r in rows], dtype=np.int64)
    amount = np.array([r[1] for r in rows], dtype=np.int64)
    extra = np.array([r[2] for r in rows], dtype=np.int64)
    zero = np.zeros(len(rows), dtype=np.int64)
    uniq, first, acc = group_sums(key, amount, extra, zero, zero, extra, zero)
    expected: dict[int, dict[str, int]] = {}
    for i, (k, a, e) in enumerate(rows):
        if k < 0:
            continue
        g = expected.setdefault(k, {"first": i, "n": 0, "a": 0, "e": 0, "min": e, "max": e})
        g["n"] += 1
        g["a"] += a  # Python ints: no overflow
        g["e"] += e
        g["min"], g["max"] = min(g["min"], e), max(g["max"], e)
    assert uniq.tolist() == list(expected)  # dicts keep first-insertion order
    for j, (k, g) in enumerate(expected.items()):
        row = acc[j].tolist()
        assert first[j] == g["first"], k
        assert row[SUMS_COUNT] == g["n"], k
        assert (row[SUMS_HI] << 32) + row[SUMS_LO] == g["a"]
        assert (row[SUMS_HI + 1] << 32) + row[SUMS_LO + 1] == g["e"]
        assert (row[SUMS_HI + 2], row[SUMS_LO + 2]) == (0, 0)
        assert (row[SUMS_MIN], row[SUMS_MAX]) == (g["min"], g["max"])
        assert (row[SUMS_MIN + 1], row[SUMS_MAX + 1]) == (0, 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-1, 9), max_size=40))
def test_compact_codes_keeps_the_present_codes_in_order(codes: list[int]) -> None:
    new, present, null = compact_codes(np.array(codes, dtype=np.int32), 10)
    used = sorted({c for c in codes if c >= 0})
    assert present.tolist() == used
    assert new.tolist() == [used.index(c) if c >= 0 else -1 for c in codes]
    assert null.tolist() == [c < 0 for c in codes]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 2**63 - 1), min_size=4, max_size=4),
    st.lists(st.integers(0, 2**63 - 1), min_size=4, max_size=4),
    st.lists(st.integers(0, 2**63 - 1), min_size=4, max_size=4),
    st.lists(st.tuples(st.integers(-1, 2), st.integers(-1, 2), st.integers(-1, 2)), max_size=20),
)
def test_rule_winners_is_the_lowest_common_bit(
    service_bits: list[int],
    sku_bits: list[int],
    region_bits: list[int],
    rows: list[tuple[int, int, int]],
) -> None:
    def table(bits: list[int]) -> np.ndarray:
        return np.array(bits, dtype=np.uint64)

    got = rule_winners(
        table(service_bits),
        table(sku_bits),
        table(region_bits),
        np.array([r[0] for r in rows], dtype=np.int32),
        np.array([r[1] for r in rows], dtype=np.int32),
        np.array([r[2] for r in rows], dtype=np.int32),
    )
    for (svc, sku, reg), winner in zip(rows, got.tolist(), strict=True):
        common = service_bits[svc + 1] & sku_bits[sku + 1] & region_bits[reg + 1]
        assert winner == ((common & -common).bit_length() - 1 if common else -1)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-1, 2),  # entry
            st.one_of(st.just(0), st.integers(-5, 4000)),  # billable seconds
        ),
        max_size=30,
    ),
    st.lists(
        st.tuples(
            st.integers(0, 90),  # min seconds
            st.integers(1, 60),  # initial increment
            st.integers(1, 60),  # subsequent increment
            st.booleans(),  # charge unanswered
        ),
        min_size=3,
        max_size=3,
    ),
)
def test_tariff_terms_follow_the_increment_rule(
    calls: list[tuple[int, int]], entries: list[tuple[int, int, int, bool]]
) -> None:
    def col(i: int, dtype: type) -> np.ndarray:
        return np.array([e[i] for e in entries], dtype=dtype)

    connect = np.array([7, 8, 9], dtype=np.int64)
    rate = np.array([100, 200, 300], dtype=np.int64)
    group = np.array([10, 11, 12], dtype=np.int32)
    billed, fee, per_minute, dest = tariff_terms(
        np.array([c[0] for c in calls], dtype=np.int32),
        np.array([c[1] for c in calls], dtype=np.int64),
        col(0, np.int64),
        col(1, np.int64),
        col(2, np.int64),
        col(3, np.bool_),
        connect,
        rate,
        group,
    )
    for i, (e, s) in enumerate(calls):
        if e < 0:
            assert (billed[i], fee[i], per_minute[i], dest[i]) == (0, 0, 0, -1)
            continue
        min_s, init, sub, unanswered = entries[e]
        if s <= 0:
            expected = 0
        elif s <= init:
            expected = max(init, min_s)
        else:
            expected = max(init + -(-(s - init) // sub) * sub, min_s)
        assert billed[i] == expected
        assert fee[i] == (connect[e] if s > 0 or unanswered else 0)
        assert (per_minute[i], dest[i]) == (rate[e], group[e])
