"""Longest-prefix match as one sorted search, against brute force."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.rating.prefixes import PrefixIndex, encode_destinations, prefix_ranges

DIGITS = "0129"  # 0 and 9 hit the padding and the key range ends


def brute(number: str | None, prefixes: list[str]) -> int:
    if not number or not number.isdigit() or len(number) > 15:
        return -1
    best = -1
    for i, p in enumerate(prefixes):
        if number.startswith(p) and (best < 0 or len(p) > len(prefixes[best])):
            best = i
    return best


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sets(st.text(DIGITS, min_size=1, max_size=5), max_size=25), min_size=1, max_size=4),
    st.lists(
        st.tuples(
            st.one_of(
                st.none(),
                st.text(DIGITS, max_size=7),
                st.text("0129a+", max_size=4),
                st.text("9", min_size=14, max_size=18),
            ),
            st.integers(-1, 3),
        ),
        max_size=60,
    ),
)
def test_lookup_matches_brute_force(
    decks: list[set[str]], queries: list[tuple[str | None, int]]
) -> None:
    lists = [sorted(d) for d in decks]
    built = []
    for d, prefixes in enumerate(lists):
        lo, hi, length = prefix_ranges(prefixes)
        built.append((lo, hi, length, np.arange(len(prefixes), dtype=np.int32) + 100 * d))
    index = PrefixIndex.build(built)
    numbers = [q[0] for q in queries]
    deck = np.array([q[1] if q[1] < len(lists) else -1 for q in queries], dtype=np.int64)
    keys, _ = encode_destinations(pa.array(numbers, pa.string()))
    got = index.lookup(deck, keys).tolist()
    expected = []
    for number, dk in zip(numbers, deck.tolist(), strict=True):
        hit = brute(number, lists[dk]) if dk >= 0 else -1
        expected.append(hit + 100 * dk if hit >= 0 else -1)
    assert got == expected


def test_invalid_destinations_are_flagged() -> None:
    numbers = ["331", "", None, "33a", "+33", "0033", "3" * 15, "3" * 16]
    _, valid = encode_destinations(pa.array(numbers))
    assert valid.tolist() == [True, False, False, False, False, True, True, False]


def test_the_empty_prefix_covers_every_number_and_parents_the_others() -> None:
    lo, hi, length = prefix_ranges(["", "4", "41"])
    index, parents = PrefixIndex.build_with_parents(
        [(lo, hi, length, np.arange(3, dtype=np.int32))]
    )
    keys, _ = encode_destinations(pa.array(["1", "4", "419", "999999999999999", "0"]))
    # "" holds what no longer prefix does; "4" and "41" win where they match.
    assert index.lookup(np.zeros(5, dtype=np.int64), keys).tolist() == [0, 1, 2, 0, 0]
    assert parents.tolist() == [-1, 0, 1]
