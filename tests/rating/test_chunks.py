"""Chunk layout and chunk-ordered columns against plain gathers of the input."""

from __future__ import annotations

import itertools
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.rating.chunks import ChunkColumns, chunk_layout
from rerate.rating.fixed import RatingOverflow, Scaled, decimal_column

DEC = pa.decimal128(38, 10)


def _chunked(values: list[object], typ: pa.DataType, cuts: list[int]) -> pa.ChunkedArray:
    bounds = sorted({0, len(values), *(c % (len(values) + 1) for c in cuts)})
    return pa.chunked_array(
        [pa.array(values[a:b], typ) for a, b in itertools.pairwise(bounds)], typ
    )


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 60),
    target=st.integers(1, 20),
    accounts=st.integers(1, 8),
)
def test_chunk_ordered_columns_equal_the_rows_gathered_chunk_by_chunk(
    data: st.DataObject, n: int, target: int, accounts: int
) -> None:
    selected = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if not selected.any():
        selected[0] = True
    rows = None if selected.all() else np.flatnonzero(selected)
    m = int(selected.sum())
    codes = np.array(
        data.draw(st.lists(st.integers(-1, accounts), min_size=m, max_size=m)), np.int32
    )
    cuts = data.draw(st.lists(st.integers(0, n), max_size=4))
    texts = data.draw(st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=n, max_size=n))
    amounts = data.draw(
        st.lists(st.one_of(st.none(), st.integers(-(10**17), 10**17)), min_size=n, max_size=n)
    )
    decimals = [None if a is None else Decimal(a).scaleb(-10) for a in amounts]
    layout = chunk_layout(codes, target)
    columns = ChunkColumns(layout, rows, n)
    ints = np.arange(n, dtype=np.int64) * 7
    in_rows = np.arange(n) if rows is None else rows
    # Columns of the selected rows and of every input row, moved (buffers reused).
    moved_codes = columns.move_selected(codes.copy())
    moved_ints = columns.move_inputs(ints.copy())
    strings = columns.strings(_chunked(texts, pa.string(), cuts))
    large = columns.strings(_chunked(texts, pa.large_string(), cuts))
    coded = columns.strings(pa.chunked_array([pa.array(texts, pa.string()).dictionary_encode()]))
    amount = columns.decimals(_chunked(decimals, DEC, cuts))
    seen: list[int] = []
    for lo, hi in layout.spans:
        want = columns.input_rows(lo, hi)
        chunk_in = in_rows if want is None else want
        seen += chunk_in.tolist()
        assert chunk_in.tolist() == sorted(chunk_in.tolist())  # input order
        position = np.searchsorted(in_rows, chunk_in)
        assert moved_codes[lo:hi].tolist() == codes[position].tolist()
        assert moved_ints[lo:hi].tolist() == ints[chunk_in].tolist()
        expected = [texts[i] for i in chunk_in]
        for column in (strings, large, coded):
            assert column(lo, hi).to_pylist() == expected
        got = amount(lo, hi)
        values, valid = decimal_column(got)
        assert [int(v) if ok else None for v, ok in zip(values, valid, strict=True)] == [
            amounts[i] for i in chunk_in
        ]
    assert sorted(seen) == in_rows.tolist()  # every selected row once
    # Whole accounts per chunk.
    owners = [set(moved_codes[lo:hi].tolist()) for lo, hi in layout.spans]
    for i, a in enumerate(owners):
        for b in owners[i + 1 :]:
            assert not a & b


def test_decimals_beyond_the_fixed_point_stay_arrow_decimals() -> None:
    """A value that does not fit int64 at 10 places keeps the column as Arrow
    decimals (the rater then picks a smaller scale for quantities)."""
    codes = np.array([0, 1, 0, 1], dtype=np.int32)
    layout = chunk_layout(codes, 1)
    columns = ChunkColumns(layout, None, 4)
    big = [Decimal(5 * 10**12), Decimal(1), None, Decimal("0.5")]
    column = columns.decimals(pa.chunked_array([pa.array(big, DEC)]))
    pieces = [column(lo, hi) for lo, hi in layout.spans]
    assert all(isinstance(p, pa.Array) for p in pieces)
    assert [v for p in pieces for v in p.to_pylist()] == [big[0], big[2], big[1], big[3]]
    # Integer columns are taken as decimals.
    ints = columns.decimals(pa.chunked_array([pa.array([1, 2, None, 4], pa.int64())]))
    first = ints(*layout.spans[0])
    assert isinstance(first, Scaled)
    assert decimal_column(first, 0)[0].tolist() == [1, 0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(10**18), 10**18), max_size=20), st.integers(0, 14))
def test_scaled_columns_change_scale_exactly_or_refuse(values: list[int], scale: int) -> None:
    arr = Scaled(np.array(values, dtype=np.int64), np.ones(len(values), dtype=bool))
    exact = [Decimal(v).scaleb(-10) for v in values]
    try:
        got, _ = arr.at_scale(scale)
    except pa.ArrowInvalid:
        assert any(d != d.quantize(Decimal(1).scaleb(-scale)) for d in exact)
        return
    except RatingOverflow:
        assert any(abs(d.scaleb(scale)) >= 2**63 for d in exact)
        return
    assert [Decimal(int(g)).scaleb(-scale) for g in got] == exact


def test_a_single_chunk_keeps_input_order_and_selects_rows() -> None:
    codes = np.array([2, 0, 1], dtype=np.int32)
    layout = chunk_layout(codes, 10)
    assert layout.place is None
    columns = ChunkColumns(layout, np.array([0, 2, 3]), 4)
    texts = pa.chunked_array([pa.array(["a", "b"]), pa.array(["c", "d"])])
    assert columns.strings(texts)(0, 3).to_pylist() == ["a", "c", "d"]
    assert columns.move_inputs(np.arange(4)).tolist() == [0, 2, 3]
    with pytest.raises(AssertionError):
        columns.input_place()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-1, 12), min_size=1, max_size=80),
    st.integers(1, 30),
)
def test_chunks_are_runs_of_whole_accounts_cut_at_multiples_of_the_target(
    codes_list: list[int], target: int
) -> None:
    codes = np.array(codes_list, dtype=np.int32)
    layout = chunk_layout(codes, target)
    if len(codes) <= target:
        assert layout.place is None
        return
    assert layout.place is not None
    assert sorted(layout.place.tolist()) == list(range(len(codes)))
    order = np.argsort(layout.place)
    running = 0
    previous_cut = None
    for lo, hi in layout.spans:
        rows = order[lo:hi]
        assert rows.tolist() == sorted(rows.tolist())  # input order within a chunk
        accounts = sorted(set(codes[rows].tolist()))
        # Consecutive account codes (an account with no row may sit between).
        assert all(not (accounts[0] < c < accounts[-1]) for c in set(codes_list) - set(accounts))
        running += hi - lo
        # A chunk ends where the running count has passed another multiple of target.
        cut = (running - 1) // target
        assert previous_cut is None or cut > previous_cut
        previous_cut = cut
