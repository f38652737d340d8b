"""Compiled per-row loops (numba) for the two places where a chain of numpy
passes cost more than the arithmetic: matching destinations and grouping
rated rows into daily rows.

Why compiled: each of these is a handful of integer operations per row, but
written as whole-array numpy operations it became a dozen full-length
temporaries per chunk (sort, search, gathers, masks, ufunc.at), each one
written to memory and read back. One loop per row keeps the row in registers.
Semantics are unchanged and pinned by the same tests (reference rater,
golden cases, the numpy fallbacks' former tests).

Every function is compiled on first use and cached on disk next to this file
(numba's `cache=True`; NUMBA_CACHE_DIR moves the cache), so only the first
process after an install pays the compile (a few seconds). `nogil=True`: the
engine's chunk threads run these concurrently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

_DIGITS = 15  # plan.MAX_PREFIX_DIGITS (kept literal: numba needs a constant)
_LEN_BITS = 16


@njit(cache=True, nogil=True)
def encode_keys(
    offsets: I64, data: npt.NDArray[np.uint8], present: Bool
) -> tuple[I64, Bool]:  # pragma: no cover - compiled
    """Prefix-space key of each destination string (prefixes.py, "Encoding"):
    key = D * 16 + L, D = the first 15 digits right-padded with zeros, L = the
    length. Invalid (key -1): null, empty, longer than 15 digits (E.164's
    maximum: a longer string is not a number, and cutting it would rate it by
    a prefix it was never dialled with), or any byte other than '0'..'9'."""
    n = len(present)
    keys = np.full(n, -1, dtype=np.int64)
    ok = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if not present[i]:
            continue
        a = offsets[i]
        b = offsets[i + 1]
        if b <= a or b - a > _DIGITS:
            continue
        value = 0
        good = True
        for j in range(a, b):
            c = int(data[j]) - 48
            if c < 0 or c > 9:
                good = False
                break
            if j - a < _DIGITS:
                value = value * 10 + c
        if not good:
            continue
        length = b - a
        for _ in range(_DIGITS - length):
            value *= 10
        keys[i] = value * _LEN_BITS + length
        ok[i] = True
    return keys, ok


@njit(cache=True, nogil=True)
def _upper_bound(values: I64, x: int, lo: int, hi: int) -> int:  # pragma: no cover
    """First index in [lo, hi) of sorted `values` holding a value > x (hi if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def match_entries(  # pragma: no cover - compiled
    deck: I64,
    band: I64,
    keys: I64,
    span: np.int64,
    starts: I64,
    owners: I32,
    base: np.int64,
    shift: np.int64,
    bucket_first: I64,
    entry_for: npt.NDArray[np.int32],
    parent_of: I32,
) -> tuple[I32, I32]:
    """(prefix row, entry) of each call: the segment of `starts` holding
    deck * span + key gives the longest prefix (prefixes.PrefixIndex, whose
    radix table is base/shift/bucket_first); if
    that prefix has no entry for the call's band, its parents are tried in
    turn (cdr._Matcher.match). -1 where deck < 0, key < 0 or nothing applies."""
    n = len(keys)
    prow = np.full(n, -1, dtype=np.int32)
    entry = np.full(n, -1, dtype=np.int32)
    n_buckets = len(bucket_first) - 1
    for i in range(n):
        d = deck[i]
        k = keys[i]
        if d < 0 or k < 0:
            continue
        target = d * span + k
        # Last segment start <= target (starts[0] is the int64 minimum),
        # searched only within the target's bucket of the radix table.
        lo = 0
        hi = 1
        if n_buckets > 0 and target >= base:
            bucket = min((target - base) >> shift, n_buckets - 1)
            lo = bucket_first[bucket] - 1
            hi = bucket_first[bucket + 1]
        p = owners[_upper_bound(starts, target, lo, hi) - 1]
        b = band[i]
        e = -1
        while p >= 0:
            e = entry_for[p, b]
            if e >= 0:
                break
            p = parent_of[p]
        prow[i] = p
        entry[i] = e
    return prow, entry


# Column layout of group_sums' accumulator row: [count, 4 high-half sums,
# 4 low-half sums, 2 minima, 2 maxima], one row per group, so a row's update
# touches two cache lines instead of one per accumulator.
SUMS_COUNT = 0
SUMS_HI = 1
SUMS_LO = 5
SUMS_MIN = 9
SUMS_MAX = 11
_SUMS_WIDTH = 13


@njit(cache=True, nogil=True)
def group_sums(  # pragma: no cover - compiled
    key: I64,
    a0: I64,
    a1: I64,
    a2: I64,
    a3: I64,
    x0: I64,
    x1: I64,
) -> tuple[I64, I64, I64]:
    """Rows grouped by `key` (rows with key -1 are skipped), groups numbered in
    order of first appearance. Returns (keys, first row, accumulators): per
    group (row of the SUMS_* layout) the row count, the sums of a0..a3 exact
    as high halves (v >> 32) and low halves (v & 0xFFFFFFFF) -- no overflow
    below 2**31 rows -- and the min and max of x0 and x1."""
    n = len(key)
    # The table grows with the groups (kept at most half full), not with the
    # rows: a table sized for the rows missed the cache on nearly every probe.
    cap = 1 << 12
    mask = cap - 1
    # Slot = (key, group) side by side: one cache line per probe.
    slots = np.full((cap, 2), -1, dtype=np.int64)
    group = np.empty(n, dtype=np.int64)
    uniq = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    g = 0
    for i in range(n):
        k = key[i]
        if k < 0:
            group[i] = -1
            continue
        s = ((k * np.int64(-7046029254386353131)) >> np.int64(20)) & mask
        while True:
            sk = slots[s, 0]
            if sk == k:
                group[i] = slots[s, 1]
                break
            if sk == -1:
                slots[s, 0] = k
                slots[s, 1] = g
                uniq[g] = k
                first[g] = i
                group[i] = g
                g += 1
                break
            s = (s + 1) & mask
        if 2 * g > cap:
            cap *= 4
            mask = cap - 1
            slots = np.full((cap, 2), -1, dtype=np.int64)
            for j in range(g):
                s = ((uniq[j] * np.int64(-7046029254386353131)) >> np.int64(20)) & mask
                while slots[s, 0] != -1:
                    s = (s + 1) & mask
                slots[s, 0] = uniq[j]
                slots[s, 1] = j
    acc = np.zeros((g, _SUMS_WIDTH), dtype=np.int64)
    acc[:, SUMS_MIN] = 2**62
    acc[:, SUMS_MIN + 1] = 2**62
    acc[:, SUMS_MAX] = -(2**62)
    acc[:, SUMS_MAX + 1] = -(2**62)
    low = np.int64(0xFFFFFFFF)
    for i in range(n):
        gi = group[i]
        if gi < 0:
            continue
        row = acc[gi]
        row[SUMS_COUNT] += 1
        row[SUMS_HI] += a0[i] >> 32
        row[SUMS_HI + 1] += a1[i] >> 32
        row[SUMS_HI + 2] += a2[i] >> 32
        row[SUMS_HI + 3] += a3[i] >> 32
        row[SUMS_LO] += a0[i] & low
        row[SUMS_LO + 1] += a1[i] & low
        row[SUMS_LO + 2] += a2[i] & low
        row[SUMS_LO + 3] += a3[i] & low
        row[SUMS_MIN] = min(row[SUMS_MIN], x0[i])
        row[SUMS_MIN + 1] = min(row[SUMS_MIN + 1], x1[i])
        row[SUMS_MAX] = max(row[SUMS_MAX], x0[i])
        row[SUMS_MAX + 1] = max(row[SUMS_MAX + 1], x1[i])
    return uniq[:g].copy(), first[:g].copy(), acc


@njit(cache=True, nogil=True)
def mul_div_half_up(a: I64, b: I64, d: np.uint64) -> tuple[I64, bool]:  # pragma: no cover
    """round_half_up(a * b / d) per element (halves away from zero), exact:
    the product is formed in 128 bits from 32-bit limbs; when it exceeds 64
    bits the quotient comes from a long division (two 32-bit steps when
    d < 2**32, else bit by bit). Returns the
    results and whether any of them does not fit in int64 (d < 2**63)."""
    n = len(a)
    out = np.zeros(n, dtype=np.int64)
    overflow = False
    zero = np.uint64(0)
    one = np.uint64(1)
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    limit = np.uint64(2**63 - 1)
    for i in range(n):
        x = a[i]
        y = b[i]
        negative = (x < 0) != (y < 0)
        # |int64 min| is 2**63: computed as (-(x + 1)) + 1 in uint64.
        ux = np.uint64(x) if x >= 0 else np.uint64(-(x + 1)) + one
        uy = np.uint64(y) if y >= 0 else np.uint64(-(y + 1)) + one
        x0, x1 = ux & m32, ux >> s32
        y0, y1 = uy & m32, uy >> s32
        p00 = x0 * y0
        p01 = x0 * y1
        p10 = x1 * y0
        mid = (p00 >> s32) + (p01 & m32) + (p10 & m32)  # < 3 * 2**32: no wrap
        lo = (p00 & m32) | (mid << s32)
        hi = x1 * y1 + (p01 >> s32) + (p10 >> s32) + (mid >> s32)
        if hi == zero:
            q = lo // d
            r = lo - q * d
        elif hi >= d:
            overflow = True  # the quotient needs more than 64 bits
            continue
        elif d <= m32:
            # Two base-2**32 long-division steps (r < d < 2**32: no wrap).
            cur = (hi << s32) | (lo >> s32)
            q1 = cur // d
            cur = ((cur - q1 * d) << s32) | (lo & m32)
            q0 = cur // d
            r = cur - q0 * d
            q = (q1 << s32) | q0
        else:
            q = zero
            r = hi  # < d < 2**63, so r << 1 cannot wrap
            for bit in range(63, -1, -1):
                r = (r << one) | ((lo >> np.uint64(bit)) & one)
                q = q << one
                if r >= d:
                    r -= d
                    q |= one
        if r >= d - r:
            q += one
        if q > limit and not (negative and q == limit + one):
            overflow = True
            continue
        # q = 2**63 (negative only) wraps to int64 min, whose negation is itself.
        out[i] = -np.int64(q) if negative else np.int64(q)
    return out, overflow


@njit(cache=True, nogil=True)
def chunk_places(codes: I32, target: int) -> tuple[I64, I64]:  # pragma: no cover - compiled
    """Rows cut into chunks of whole accounts (codes >= -1; -1 is a group
    too): accounts in code order, a new chunk wherever the running row count
    passes a multiple of `target`. Returns (place of each row once rows are
    ordered by chunk, input order within a chunk -- a stable counting sort;
    bounds with chunk k at places bounds[k]:bounds[k + 1], possibly empty)."""
    n = len(codes)
    top = 0
    for i in range(n):
        top = max(top, codes[i] + 1)
    counts = np.zeros(top + 1, dtype=np.int64)
    for i in range(n):
        counts[codes[i] + 1] += 1
    # Chunk of each account: how many multiples of `target` its last row has
    # passed, numbered densely.
    chunk = np.empty(top + 1, dtype=np.int64)
    end = 0
    last = -1
    k = -1
    for a in range(top + 1):
        end += counts[a]
        cut = max(end - 1, 0) // target
        if cut != last:
            k += 1
            last = cut
        chunk[a] = k
    bounds = np.zeros(k + 2, dtype=np.int64)
    for a in range(top + 1):
        bounds[chunk[a] + 1] += counts[a]
    for b in range(k + 1):
        bounds[b + 1] += bounds[b]
    at = bounds[:-1].copy()
    place = np.empty(n, dtype=np.int64)
    for i in range(n):
        b = chunk[codes[i] + 1]
        place[i] = at[b]
        at[b] += 1
    return place, bounds


@njit(cache=True, nogil=True)
def scatter(
    values: npt.NDArray[Any], place: I64, out: npt.NDArray[Any]
) -> None:  # pragma: no cover - compiled
    """out[place[i]] = values[i] for every row with place[i] >= 0: reads in
    order and writes one sequential stream per chunk, so it stays in cache
    where a gather of each chunk's rows from all over the input did not."""
    for i in range(len(values)):
        p = place[i]
        if p >= 0:
            out[p] = values[i]


@njit(cache=True, nogil=True)
def scatter_decimals(
    words: I64, valid: Bool, place: I64, out: I64, out_valid: Bool
) -> bool:  # pragma: no cover - compiled
    """Scatter decimal128 values (`words`: (n, 2) little-endian low and high
    words; `valid` empty when there is no null) as their low words, the
    unscaled int64 values. Returns False when a valid value does not fit in
    int64 (its high word is not the low word's sign extension)."""
    fits = True
    all_valid = len(valid) == 0
    for i in range(len(place)):
        p = place[i]
        if p < 0:
            continue
        if all_valid or valid[i]:
            lo = words[i, 0]
            if words[i, 1] != (lo >> 63):
                fits = False
            out[p] = lo
            out_valid[p] = True
        else:
            out[p] = 0
            out_valid[p] = False
    return fits


@njit(cache=True, nogil=True)
def scatter_lengths(
    offsets: npt.NDArray[Any], place: I64, out: I64
) -> None:  # pragma: no cover - compiled
    """out[place[i] + 1] = byte length of string i (then a cumulative sum
    makes `out` the offsets of the scattered strings)."""
    for i in range(len(place)):
        p = place[i]
        if p >= 0:
            out[p + 1] = offsets[i + 1] - offsets[i]


@njit(cache=True, nogil=True)
def scatter_bytes(
    offsets: npt.NDArray[Any],
    data: npt.NDArray[np.uint8],
    place: I64,
    out_offsets: I64,
    out_data: npt.NDArray[np.uint8],
) -> None:  # pragma: no cover - compiled
    """Copy string i's bytes to out_data[out_offsets[place[i]]:...]."""
    for i in range(len(place)):
        p = place[i]
        if p < 0:
            continue
        src = offsets[i]
        dst = out_offsets[p]
        for j in range(offsets[i + 1] - src):
            out_data[dst + j] = data[src + j]


@njit(cache=True, nogil=True)
def value_range(values: npt.NDArray[np.integer]) -> tuple[int, int]:  # pragma: no cover
    """(min, max) of a non-empty integer array in one pass."""
    lo = values[0]
    hi = values[0]
    for v in values:
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    return int(lo), int(hi)


@njit(cache=True, nogil=True)
def dense_ranks(values: npt.NDArray[np.integer], lo: int, hi: int) -> I64:  # pragma: no cover
    """rank[v - lo] = 0.. over the values present in lo..hi, in value order
    (-1 for absent values)."""
    rank = np.full(hi - lo + 1, -1, dtype=np.int64)
    for v in values:
        rank[v - lo] = 0
    r = 0
    for j in range(len(rank)):
        if rank[j] == 0:
            rank[j] = r
            r += 1
    return rank


@njit(cache=True, nogil=True)
def radix_push(  # pragma: no cover - compiled
    key: I64, values: npt.NDArray[np.integer], lo: int, rank: I64, size: int
) -> None:
    """key = key * size + rank[value - lo], in place: one digit of a
    mixed-radix key."""
    for i in range(len(key)):
        key[i] = key[i] * size + rank[values[i] - lo]


@njit(cache=True, nogil=True)
def compact_codes(  # pragma: no cover - compiled
    codes: npt.NDArray[np.int32], n_values: int
) -> tuple[npt.NDArray[np.int32], I64, Bool]:
    """Renumber codes 0..n_values-1 densely over the codes present, in code
    order: (new codes, -1 where code < 0; the present codes; the null mask)."""
    seen = np.zeros(n_values, dtype=np.bool_)
    for c in codes:
        if c >= 0:
            seen[c] = True
    remap = np.full(n_values, -1, dtype=np.int32)
    present = np.empty(n_values, dtype=np.int64)
    k = 0
    for v in range(n_values):
        if seen[v]:
            remap[v] = k
            present[k] = v
            k += 1
    out = np.empty(len(codes), dtype=np.int32)
    null = np.empty(len(codes), dtype=np.bool_)
    for i in range(len(codes)):
        c = codes[i]
        out[i] = remap[c] if c >= 0 else -1
        null[i] = c < 0
    return out, present[:k].copy(), null


@njit(cache=True, nogil=True)
def rule_winners(  # pragma: no cover - compiled
    service_bits: npt.NDArray[np.uint64],
    sku_bits: npt.NDArray[np.uint64],
    region_bits: npt.NDArray[np.uint64],
    service: npt.NDArray[np.int32],
    sku: npt.NDArray[np.int32],
    region: npt.NDArray[np.int32],
) -> npt.NDArray[np.int16]:
    """Index of the lowest rule bit set in all three dimension tables at
    (code + 1) per row, -1 where no rule accepts the row (contract.RuleMatcher)."""
    out = np.empty(len(sku), dtype=np.int16)
    for i in range(len(sku)):
        mask = service_bits[service[i] + 1] & sku_bits[sku[i] + 1] & region_bits[region[i] + 1]
        if mask == 0:
            out[i] = -1
            continue
        j = 0
        while (mask & np.uint64(1)) == 0:
            mask >>= np.uint64(1)
            j += 1
        out[i] = j
    return out


_US_PER_DAY = 86_400 * 1_000_000


@njit(cache=True, nogil=True)
def band_at(  # pragma: no cover - compiled
    t_us: I64,
    instants: I64,
    offsets: I64,
    holiday_days: I64,
    holiday_bands: npt.NDArray[np.int16],
    rule_days: I64,
    rule_start: I64,
    rule_end: I64,
    rule_band: npt.NDArray[np.int16],
    default: int,
) -> npt.NDArray[np.int16]:
    """Band code at each instant (timebands.py): local wall time from the
    zone's transition table (offsets[j] from instants[j - 1] on); a holiday's
    band on its local date; else the first matching rule in precedence order
    (rule_days: bit d for weekday d, Monday = 0; a range crossing midnight
    belongs to the weekday it starts on); else the default band."""
    n = len(t_us)
    out = np.empty(n, dtype=np.int16)
    for i in range(n):
        t = t_us[i]
        wall = t + offsets[_upper_bound(instants, t, 0, len(instants))]
        day = wall // _US_PER_DAY
        tod = wall - day * _US_PER_DAY
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
        band = default
        a = _upper_bound(holiday_days, day - 1, 0, len(holiday_days))  # first >= day
        if a < len(holiday_days) and holiday_days[a] == day:
            out[i] = holiday_bands[a]
            continue
        for r in range(len(rule_days)):
            on = (rule_days[r] >> weekday) & 1
            s = rule_start[r]
            e = rule_end[r]
            if s == e:
                hit = on == 1
            elif s < e:
                hit = on == 1 and s <= tod < e
            else:
                yesterday = (rule_days[r] >> ((weekday + 6) % 7)) & 1
                hit = (on == 1 and tod >= s) or (yesterday == 1 and tod < e)
            if hit:
                band = rule_band[r]
                break
        out[i] = band
    return out


@njit(cache=True, nogil=True)
def tariff_terms(  # pragma: no cover - compiled
    entry: I32,
    billable: I64,
    min_s: I64,
    init: I64,
    sub: I64,
    unanswered: Bool,
    connect: I64,
    rate: I64,
    group: I32,
) -> tuple[I64, I64, I64, I32]:
    """Per call with a tariff entry (entry >= 0): billed seconds (0 unanswered;
    else max(min_s, init if s <= init else init + ceil((s - init) / sub) * sub)),
    connect fee (answered calls, or unanswered ones the entry charges), rate
    and destination group; 0 / 0 / 0 / -1 without an entry (cdr.py)."""
    n = len(entry)
    billed = np.zeros(n, dtype=np.int64)
    fee = np.zeros(n, dtype=np.int64)
    per_minute = np.zeros(n, dtype=np.int64)
    dest = np.full(n, -1, dtype=np.int32)
    for i in range(n):
        e = entry[i]
        if e < 0:
            continue
        s = billable[i]
        if s > 0:
            extra = max(s - init[e], 0)
            q = init[e] + ((extra + sub[e] - 1) // sub[e]) * sub[e]
            billed[i] = max(q, min_s[e])
        if s > 0 or unanswered[e]:
            fee[i] = connect[e]
        per_minute[i] = rate[e]
        dest[i] = group[e]
    return billed, fee, per_minute, dest


@njit(cache=True, nogil=True)
def _rate_part(seconds: int, rate: int) -> int:  # pragma: no cover - compiled
    """round_half_up(seconds * rate / 60) in units of 1e-10, seconds >= 0,
    without forming the full product (whole minutes are exact)."""
    q = seconds // 60
    r = (seconds - q * 60) * rate
    part = (abs(r) + 30) // 60
    return q * rate + (part if r >= 0 else -part)


@njit(cache=True, nogil=True)
def _increment_cost(rate: Any, incr: Any, quantum: Any) -> Any:  # pragma: no cover
    """round_half_up(rate * incr / 60) to a multiple of `quantum` (1e-10 units)."""
    num = rate * incr
    den = 60 * quantum
    q = (2 * abs(num) + den) // (2 * den)
    return (q if num >= 0 else -q) * quantum


@njit(cache=True, nogil=True)
def walk_costs(  # pragma: no cover - compiled
    entry: I32,
    seconds: I64,
    floor: bool,
    min_s: I64,
    init: I64,
    sub: I64,
    rate: I64,
    inc_dec: I64,
    g_off: I64,
    g_from: I64,
    g_rate: I64,
    g_incr: I64,
) -> tuple[I64, I64]:
    """(billed seconds, time charge in 1e-10) of calls of `seconds` through
    their entry's rate groups (cdr.py, docs/rating.md "Rate groups"): group 0
    is the entry's own rate with initial then subsequent increments, group j
    starts at max(its from_seconds, the end of the billed time so far) and
    counts ceil(part / increment) increments of the call's part up to the
    next group's start. With `floor`, min_s extends the last group used.
    A group's charge is round_half_up(its seconds * rate / 60), or with
    increment decimals d the count of its increments times each increment's
    cost rounded half up to d places. Rows with entry < 0 or seconds <= 0: 0."""
    n = len(entry)
    billed = np.zeros(n, dtype=np.int64)
    cost = np.zeros(n, dtype=np.int64)
    for i in range(n):
        e = entry[i]
        s = seconds[i]
        if e < 0 or s <= 0:
            continue
        d = inc_dec[e]
        quantum = np.int64(10) ** (10 - d) if d >= 0 else np.int64(1)
        lo = g_off[e]
        hi = g_off[e + 1]
        # Group 0.
        span = s if lo == hi else min(s, g_from[lo])
        n_sub = (max(span - init[e], 0) + sub[e] - 1) // sub[e]
        t = init[e] + n_sub * sub[e]
        last_rate = rate[e]
        last_len = t
        if d >= 0:
            total = _increment_cost(rate[e], init[e], quantum) + n_sub * _increment_cost(
                rate[e], sub[e], quantum
            )
        else:
            total = 0  # group charges are added when the group is closed
        for j in range(lo, hi):
            start = max(g_from[j], t)
            end = s if j + 1 == hi else min(s, g_from[j + 1])
            if end <= start:
                continue
            k = (end - start + g_incr[j] - 1) // g_incr[j]
            if d >= 0:
                total += k * _increment_cost(g_rate[j], g_incr[j], quantum)
            else:
                total += _rate_part(last_len, last_rate)
                last_len = 0
            last_rate = g_rate[j]
            last_len += k * g_incr[j]
            t = start + k * g_incr[j]
        extra = min_s[e] - t if floor else 0
        if extra > 0:
            t += extra
            if d >= 0:
                num = last_rate * extra
                den = 60 * quantum
                q = (2 * abs(num) + den) // (2 * den)
                total += (q if num >= 0 else -q) * quantum
            else:
                last_len += extra
        if d < 0:
            total += _rate_part(last_len, last_rate)
        billed[i] = t
        cost[i] = total
    return billed, cost


def warm_up() -> None:
    """Load the compiled loops (from numba's cache, or compile them) before the
    first run needs them: a process's first call pays ~0.3 s of loading."""
    i64 = np.arange(4, dtype=np.int64)
    i32 = i64.astype(np.int32)
    place, _ = chunk_places(i32 % 2, 2)
    for values in (i64, i32, i64.astype(np.int8), i64 > 1):  # the chunk layout's columns
        scatter(values, place, np.empty_like(values))
    scatter_decimals(np.zeros((4, 2), np.int64), i64 > 1, place, i64.copy(), i64 > 1)
    for offsets in (i32, i64):  # string and large_string: 3 one-byte strings
        lengths = np.zeros(4, dtype=np.int64)
        scatter_lengths(offsets, place[:3] % 3, lengths)
        scatter_bytes(offsets, np.zeros(3, np.uint8), place[:3] % 3, i64, np.zeros(3, np.uint8))
    mul_div_half_up(i64, i64, np.uint64(3))
    group_sums(i64, i64, i64, i64, i64, i64, i64)
    compact_codes(i32, 4)
    encode_keys(np.arange(5, dtype=np.int64), np.full(4, 49, dtype=np.uint8), np.ones(4, np.bool_))
    tariff_terms(i32, i64, i64, i64 + 1, i64 + 1, np.ones(4, np.bool_), i64, i64, i32)
    no_groups = np.zeros(5, dtype=np.int64)  # offsets: one more than the entries
    walk_costs(i32, i64, True, i64, i64 + 1, i64 + 1, i64, i64 - 1, no_groups, i64, i64, i64 + 1)
    for values in (i64, i32, i64.astype(np.int8)):  # the daily key's column types
        lo, hi = value_range(values)
        radix_push(i64.copy(), values, lo, dense_ranks(values, lo, hi), 4)
