"""Longest-prefix match of destination numbers, as one sorted search.

Encoding. A destination of L <= 15 digits (longer ones are invalid) becomes the
integer key

    key = D * 16 + L,  D = its digits right-padded with zeros to 15,

and a prefix p of l digits (0 <= l <= 15) covers the key range

    [P * 10**(15 - l) * 16 + l,  (P + 1) * 10**(15 - l) * 16).

A number matches p exactly when its key lies in p's range: the "+ l" at the
start excludes numbers *shorter* than p that only look like p because of
the zero padding ("3361" must not match "33610"), and every other key in the
range has a non-zero digit after position l, hence L > l. Nested prefixes
give nested ranges, disjoint prefixes disjoint ranges: a laminar family.

Flattening. The ranges of one deck (a tariff version x a time band) are cut
into disjoint segments, each owned by the deepest (longest) prefix covering it;
the segment starts go into one sorted array and a lookup is one binary search
(kernels.match_entries, compiled). Many decks share one array by offsetting
each deck by `deck * SPAN`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rerate.rating.kernels import encode_keys, match_entries
from rerate.rating.plan import MAX_PREFIX_DIGITS

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

_DIGITS = MAX_PREFIX_DIGITS
_LEN_BITS = 16  # key = D * 16 + L
SPAN = 10**_DIGITS * _LEN_BITS  # width of one deck in the composite key space
DECKS_PER_BATCH = (2**63 - 1) // SPAN - 1  # 575: decks that fit one int64 key space
_BUCKET_BITS = 20
_POW10 = 10 ** np.arange(_DIGITS + 1, dtype=np.int64)


def _string_buffers(arr: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """(offsets, data bytes) of a string or large_string array."""
    n = len(arr)
    bufs = arr.buffers()
    odt = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(bufs[1], dtype=odt, count=arr.offset + n + 1)[arr.offset :]
    data = (
        np.frombuffer(bufs[2], dtype=np.uint8)
        if bufs[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    return offsets.astype(np.int64), data


def encode_destinations(column: pa.Array | pa.ChunkedArray) -> tuple[I64, Bool]:
    """Keys of E.164 digit strings and a validity mask (null, empty or non-digit
    destinations are invalid)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    valid = (
        np.ones(n, dtype=bool)
        if arr.null_count == 0
        else np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    )
    offsets, data = _string_buffers(arr)
    return encode_keys(offsets, data, valid)


def prefix_ranges(prefixes: Sequence[str] | pa.Array) -> tuple[I64, I64, I64]:
    """(range start, range end, length) of each prefix in the key space."""
    if len(prefixes) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    arr = prefixes if isinstance(prefixes, pa.Array) else pa.array(prefixes, pa.string())
    length = np.asarray(pc.utf8_length(arr).to_numpy(), dtype=np.int64)
    # The empty prefix (CGRateS *any) has value 0 and length 0: its range is
    # the whole deck span, so it holds every number that no longer prefix does.
    digits = pc.if_else(pc.equal(length, 0), pa.scalar("0"), arr) if (length == 0).any() else arr
    value = np.asarray(pc.cast(digits, pa.int64()).to_numpy(), dtype=np.int64)
    width = _POW10[_DIGITS - length]
    lo = value * width * _LEN_BITS + length
    hi = (value + 1) * width * _LEN_BITS
    return lo, hi, length


@dataclass(frozen=True, slots=True)
class PrefixIndex:
    """Disjoint segments of up to DECKS_PER_BATCH decks: the segment containing
    key k of deck d starts at starts[i] <= d * SPAN + k < starts[i + 1] and is
    owned by owners[i] (-1: no prefix covers it)."""

    starts: I64
    owners: I32
    # Radix table over the segment starts, so a lookup searches a few
    # neighbouring segments instead of the whole array (1 M+ starts: a plain
    # binary search missed the cache on most of its ~20 steps).
    # Key k >= base lies in bucket (k - base) >> shift, and its segment is in
    # [bucket_first[b] - 1, bucket_first[b + 1]). Keys below base: segment 0.
    base: int
    shift: int
    bucket_first: I64

    @classmethod
    def of(cls, starts: I64, owners: I32) -> PrefixIndex:
        if len(starts) == 1:
            return cls(starts, owners, 0, 0, np.zeros(0, dtype=np.int64))
        base, top = int(starts[1]), int(starts[-1])
        shift = max(0, (top - base).bit_length() - _BUCKET_BITS)
        n_buckets = ((top - base) >> shift) + 1
        edges = base + (np.arange(n_buckets + 1, dtype=np.int64) << shift)
        return cls(starts, owners, base, shift, np.searchsorted(starts, edges).astype(np.int64))

    @classmethod
    def build(cls, decks: Sequence[tuple[I64, I64, I64, I32]]) -> PrefixIndex:
        """`decks[d]` = (range starts, range ends, lengths, owners) of deck d's prefixes
        (prefixes unique within a deck)."""
        return cls.build_with_parents(decks)[0]

    @classmethod
    def build_with_parents(
        cls, decks: Sequence[tuple[I64, I64, I64, I32]]
    ) -> tuple[PrefixIndex, I32]:
        """Like `build`, plus `parent_of[owner]`: the owner of the longest shorter
        prefix in the same deck (-1 if none). Owners must be distinct ints >= 0."""
        if len(decks) > DECKS_PER_BATCH:
            raise ValueError(f"at most {DECKS_PER_BATCH} decks per index")
        parts_lo, parts_hi, parts_len, parts_own = [], [], [], []
        for d, (lo, hi, length, owner) in enumerate(decks):
            parts_lo.append(lo + d * SPAN)
            parts_hi.append(hi + d * SPAN)
            parts_len.append(length)
            parts_own.append(owner.astype(np.int32))
        if not parts_lo or sum(len(p) for p in parts_lo) == 0:
            empty = cls.of(np.array([-(2**63)], dtype=np.int64), np.array([-1], dtype=np.int32))
            return empty, np.zeros(0, dtype=np.int32)
        lo = np.concatenate(parts_lo)
        hi = np.concatenate(parts_hi)
        length = np.concatenate(parts_len)
        owner = np.concatenate(parts_own)
        order = np.argsort(lo, kind="stable")  # range starts are unique
        lo, hi, length, owner = lo[order], hi[order], length[order], owner[order]
        parent = _parents(lo, length)
        parent_owner = np.where(parent >= 0, owner[np.maximum(parent, 0)], -1).astype(np.int32)
        parent_of = np.full(int(owner.max()) + 1, -1, dtype=np.int32)
        parent_of[owner] = parent_owner
        # Events: a range start hands the segment to its prefix; a range end hands
        # it back to the parent. At one position a start beats every end, a
        # deeper start beats a shallower one, and among ends the shallowest
        # (outermost) one decides, since it is the last to close.
        pos = np.concatenate([lo, hi])
        prio = np.concatenate([16 + length, 15 - length])
        own = np.concatenate([owner, parent_owner])
        ev = np.lexsort((prio, pos))
        pos, own = pos[ev], own[ev]
        last = np.ones(len(pos), dtype=bool)
        last[:-1] = pos[:-1] != pos[1:]
        pos, own = pos[last], own[last]
        # Merge neighbouring segments with the same owner.
        keep = np.ones(len(pos), dtype=bool)
        keep[1:] = own[1:] != own[:-1]
        starts = np.concatenate([np.array([-(2**63)], dtype=np.int64), pos[keep]])
        owners = np.concatenate([np.array([-1], dtype=np.int32), own[keep]])
        return cls.of(starts, owners), parent_of

    def lookup(self, deck: I32 | I64, keys: I64) -> I32:
        """Owner of each (deck, key); -1 where deck < 0, key < 0 (an invalid
        destination) or nothing matches."""
        # Every owner is its own entry: the segment owner itself is the answer.
        owners = np.arange(max(int(self.owners.max()) + 1, 1), dtype=np.int32)
        no_parents = np.full(len(owners), -1, dtype=np.int32)
        found, _ = self.match(
            deck, np.zeros(len(keys), dtype=np.int64), keys, owners[:, None], no_parents
        )
        return found

    def match(
        self,
        deck: I32 | I64,
        band: I64,
        keys: I64,
        entry_for: npt.NDArray[np.int32],
        parent_of: I32,
    ) -> tuple[I32, I32]:
        """(owner, entry) per (deck, band, key): the owner of the key's segment,
        or its nearest ancestor (parent_of) having an entry for the band in
        entry_for[owner, band]; -1 where none does."""
        return match_entries(
            np.asarray(deck, dtype=np.int64),
            np.asarray(band, dtype=np.int64),
            keys,
            np.int64(SPAN),
            self.starts,
            self.owners,
            np.int64(self.base),
            np.int64(self.shift),
            self.bucket_first,
            entry_for,
            parent_of,
        )


def _parents(lo: I64, length: I64) -> I64:
    """Index of each range's deepest enclosing range (-1 if none).

    `lo` is sorted; the ancestor of a prefix at length l starts at the prefix's
    own key truncated to l digits (same deck), so for every length present
    one sorted search finds all candidates at once.
    """
    n = len(lo)
    parent = np.full(n, -1, dtype=np.int64)
    deck_base = (lo // SPAN) * SPAN
    digits = (lo - deck_base) // _LEN_BITS  # D, the zero-padded value
    for ell in np.unique(length):
        ell_i = int(ell)
        holders = np.flatnonzero(length == ell_i)
        deeper = np.flatnonzero(length > ell_i)
        if len(holders) == 0 or len(deeper) == 0:
            continue
        width = 10 ** (_DIGITS - ell_i)
        candidate = deck_base[deeper] + (digits[deeper] // width) * width * _LEN_BITS + ell_i
        holder_lo = lo[holders]
        pos = np.clip(np.searchsorted(holder_lo, candidate), 0, len(holders) - 1)
        hit = holder_lo[pos] == candidate
        # Lengths are visited in increasing order, so a deeper ancestor found
        # later overwrites a shallower one.
        parent[deeper[hit]] = holders[pos[hit]]
    return parent
