"""Chunks of whole accounts, with each chunk's rows laid out contiguously.

The engine rates the selected rows in chunks of whole accounts (`engine.rate`:
everything cumulative -- tiers, allowances -- is per account). A chunk's rows
are spread over the whole input, since accounts interleave in time, so
gathering each chunk's columns row by row touched a new cache line and often
a new page for nearly every value: 20 M cloud rows spent ~5 of 28 CPU-s in
those gathers. Instead every column is permuted once into chunk order by a
scatter that reads the input in order and writes one sequential stream per
chunk (`kernels.scatter*`), and a chunk is then a slice of each permuted
column (no copy).

Order within a chunk is input order (the counting sort is stable), so the
rated rows come out exactly as the per-chunk gathers gave them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rerate.rating.cdr import parallel_slices
from rerate.rating.fixed import SCALE, Scaled, validity
from rerate.rating.kernels import (
    chunk_places,
    scatter,
    scatter_bytes,
    scatter_decimals,
    scatter_lengths,
)

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

# A column of one chunk: rows [lo, hi) of the chunk-ordered rows.
ChunkColumn = Callable[[int, int], Any]

_DECIMAL = pa.decimal128(38, SCALE)


@dataclass(frozen=True, slots=True)
class ChunkLayout:
    """Where the selected rows go: chunk k is rows bounds[k]:bounds[k + 1] of
    the chunk-ordered rows, and selected row i is at place[i] (None: a single
    chunk, in input order)."""

    bounds: list[int]
    place: I64 | None

    @property
    def spans(self) -> list[tuple[int, int]]:
        """[lo, hi) of each chunk that has rows (one span when there are none)."""
        spans = list(itertools.pairwise(self.bounds))
        return [(lo, hi) for lo, hi in spans if hi > lo] or spans[:1]


def chunk_layout(codes: I32, target: int) -> ChunkLayout:
    """Chunks of about `target` rows, each a run of consecutive account codes
    (an account is never split; code -1, never owned, is a group too)."""
    n = len(codes)
    if n <= target:
        return ChunkLayout([0, n], None)
    place, bounds = chunk_places(np.ascontiguousarray(codes, dtype=np.int32), target)
    return ChunkLayout([int(b) for b in bounds], place)


class ChunkColumns:
    """Columns in chunk order: numpy columns of the selected rows or of every
    input row (`move_selected`, `move_inputs`) and Arrow columns of the input
    (`strings`, `decimals`), permuted once on all cores."""

    def __init__(self, layout: ChunkLayout, selected_rows: I64 | None, n_in: int) -> None:
        self.layout = layout
        self._selected_rows = selected_rows  # input row of each selected row (None: all)
        self._n_in = n_in
        self._input_place: I64 | None = None
        self._order: I64 | None = None
        self._spare: dict[np.dtype[Any], list[npt.NDArray[Any]]] = {}

    @property
    def n(self) -> int:
        return self.layout.bounds[-1]

    def move_selected(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """A column of the selected rows, in chunk order. The caller hands
        `values` over: its buffer is reused for a later column."""
        place = self.layout.place
        if place is None:
            return values
        return self._permute(values, place)

    def move_inputs(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """A column of every input row: its selected rows, in chunk order. The
        caller hands `values` over: its buffer is reused for a later column."""
        if self.layout.place is None:
            rows = self._selected_rows
            return values if rows is None else values[rows]
        return self._permute(values, self.input_place())

    def input_buffer(self, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """An uninitialised array for a column of every input row (a moved
        column's buffer when the sizes match)."""
        if self._n_in == self.n and self.layout.place is not None:
            return self._buffer(dtype)
        return np.empty(self._n_in, dtype=dtype)

    def _permute(self, values: npt.NDArray[Any], place: I64) -> npt.NDArray[Any]:
        out = self._buffer(values.dtype)
        parallel_slices(lambda lo, hi: scatter(values[lo:hi], place[lo:hi], out), len(values))
        if len(values) == self.n and values.flags.owndata:
            self._spare.setdefault(values.dtype, []).append(values)
        return out

    def _buffer(self, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """An n-row array: the buffer of a column already moved, or a new one.
        A new array of this size is fresh memory that faults in page by page
        on first touch (kernel time that grew with every column laid out); a
        moved column's buffer is already mapped."""
        spare = self._spare.get(dtype)
        return spare.pop() if spare else np.empty(self.n, dtype=dtype)

    def input_place(self) -> I64:
        """Place of each input row in chunk order (-1: not selected)."""
        if self._input_place is None:
            place = self.layout.place
            assert place is not None
            if self._selected_rows is None:
                self._input_place = place
            else:
                every = np.full(self._n_in, -1, dtype=np.int64)
                every[self._selected_rows] = place
                self._input_place = every
        return self._input_place

    def input_rows(self, lo: int, hi: int) -> I64 | None:
        """Input rows of chunk-ordered rows [lo, hi), ascending (None: all)."""
        place = self.layout.place
        rows = self._selected_rows
        if place is None:
            return rows if rows is None else rows[lo:hi]
        if self._order is None:
            order = np.empty(len(place), dtype=np.int64)
            order[place] = np.arange(len(place), dtype=np.int64)
            self._order = order if rows is None else rows[order]
        return self._order[lo:hi]

    def strings(self, column: pa.ChunkedArray) -> ChunkColumn:
        """A string column (any string-like type; cast to string), chunk by chunk."""
        if self.layout.place is None:
            return self._gathered(column)
        pieces = [_as_string(c) for c in column.chunks]
        place, starts = self.input_place(), _starts(column)
        n = self.n
        offsets = np.zeros(n + 1, dtype=np.int64)
        valid = np.ones(n, dtype=bool) if any(p.null_count for p in pieces) else None

        def lengths(i: int) -> None:
            piece, where = pieces[i], place[starts[i] : starts[i + 1]]
            scatter_lengths(_offsets(piece), where, offsets)
            if valid is not None and piece.null_count:
                scatter(validity(piece), where, valid)

        _each(lengths, len(pieces))
        np.cumsum(offsets, out=offsets)
        data = np.empty(int(offsets[-1]), dtype=np.uint8)

        def copy(i: int) -> None:
            piece = pieces[i]
            scatter_bytes(
                _offsets(piece),
                _data(piece),
                place[starts[i] : starts[i + 1]],
                offsets,
                data,
            )

        _each(copy, len(pieces))

        def chunk(lo: int, hi: int) -> pa.Array:
            first, last = int(offsets[lo]), int(offsets[hi])
            local = offsets[lo : hi + 1] - first
            large = last - first >= 2**31
            mask = None
            nulls = 0
            if valid is not None and not bool(valid[lo:hi].all()):
                mask = pa.array(valid[lo:hi]).buffers()[1]
                nulls = int(hi - lo - np.count_nonzero(valid[lo:hi]))
            return pa.Array.from_buffers(
                pa.large_string() if large else pa.string(),
                hi - lo,
                [
                    mask,
                    pa.py_buffer(local if large else local.astype(np.int32)),
                    pa.py_buffer(data[first:last]),
                ],
                null_count=nulls,
            )

        return chunk

    def decimals(self, column: pa.ChunkedArray) -> ChunkColumn:
        """A decimal (or integer) column, chunk by chunk: as `Scaled` int64
        units of 10**-SCALE, or as Arrow decimals when a value does not fit
        (the rater then tries smaller scales, cloud.quantity_column)."""
        if self.layout.place is None:
            return self._gathered(column)
        pieces = [c if c.type == _DECIMAL else c.cast(_DECIMAL) for c in column.chunks]
        place, starts = self.input_place(), _starts(column)
        values = self._buffer(np.dtype(np.int64))
        valid = self._buffer(np.dtype(np.bool_))
        fits = [True] * len(pieces)

        def convert(i: int) -> None:
            piece = pieces[i]
            fits[i] = scatter_decimals(
                _words(piece),
                validity(piece) if piece.null_count else np.empty(0, dtype=bool),
                place[starts[i] : starts[i + 1]],
                values,
                valid,
            )

        _each(convert, len(pieces))
        if not all(fits):
            return self._gathered(column)
        return lambda lo, hi: Scaled(values[lo:hi], valid[lo:hi])

    def _gathered(self, column: pa.ChunkedArray) -> ChunkColumn:
        return lambda lo, hi: gather(column, self.input_rows(lo, hi))


def gather(column: pa.ChunkedArray, rows: I64 | None) -> pa.Array:
    """`column[rows]` for ascending `rows` (None: every row) as one array,
    taken from each input chunk separately (Arrow's take on a chunked array
    concatenates the whole column first)."""
    if rows is None:
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    starts = _starts(column)
    cuts = np.searchsorted(rows, starts)
    pieces = [
        chunk.take(pa.array(rows[cuts[i] : cuts[i + 1]] - starts[i]))
        for i, chunk in enumerate(column.chunks)
        if cuts[i + 1] > cuts[i]
    ]
    if not pieces:
        return pa.array([], column.type)
    return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)


def _each(job: Callable[[int], None], count: int) -> None:
    """job(0), ..., job(count - 1) on a thread per core (they write disjoint rows)."""
    with ThreadPoolExecutor(max_workers=min(max(count, 1), os.cpu_count() or 1)) as ex:
        for done in [ex.submit(job, i) for i in range(count)]:
            done.result()


def _starts(column: pa.ChunkedArray) -> list[int]:
    starts = [0]
    for c in column.chunks:
        starts.append(starts[-1] + len(c))
    return starts


def _as_string(piece: pa.Array) -> pa.Array:
    if pa.types.is_string(piece.type) or pa.types.is_large_string(piece.type):
        return piece
    return piece.cast(pa.string())


def _offsets(piece: pa.Array) -> npt.NDArray[Any]:
    dtype = np.int64 if pa.types.is_large_string(piece.type) else np.int32
    raw = np.frombuffer(piece.buffers()[1], dtype=dtype)
    return raw[piece.offset : piece.offset + len(piece) + 1]


def _data(piece: pa.Array) -> npt.NDArray[np.uint8]:
    buf = piece.buffers()[2]
    return np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8)


def _words(piece: pa.Array) -> I64:
    raw = np.frombuffer(piece.buffers()[1], dtype=np.int64)
    return raw[2 * piece.offset : 2 * (piece.offset + len(piece))].reshape(-1, 2)
