"""Rating CDRs: tariff version, time band, longest prefix, increments, profiles.

For each CDR (docs/rating.md, "Voice"):
1. the price-book version in force at the call's start (the last version with
   effective_from <= start); none -> `no_tariff`;
2. the time band at the call's start (timebands.py);
3. the longest prefix of the destination (down to the empty prefix) among
   the entries that apply in that band and at that time: per prefix, an
   entry for the band beats band-less ones, then the highest weight, the
   latest timing start, the lowest rate, connect fee and id (timings.py);
   none -> `no_tariff`;
4. billed seconds: 0 for an unanswered call (billable_seconds 0 or null);
   otherwise max(min_seconds, increments(billable)) with
   increments(s) = initial if s <= initial else
   initial + ceil((s - initial) / subsequent) * subsequent;
5. the consumption profile allowance covers billed seconds in call order;
   the call crossing the end of the allowance is split by seconds;
6. list = connect fee (answered calls, or unanswered ones when the entry
   says charge_unanswered) + round_half_up(chargeable_s * rate / 60) at
   1e-10; with profile tiers the chargeable seconds are priced per tier;
   entries with rate groups or increment decimals are billed and charged
   through the group walk (kernels.walk_costs); then the entry's call
   rounding and maximum cost;
7. net: a unit_price_override scoped to the destination group replaces the
   rate for the chargeable seconds; then a discount or markup.
For rule scopes a CDR has service "voice", sku = its destination group and
no region.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rerate.kit.money import RoundingMode
from rerate.rating.contract import (
    RuleMatcher,
    apply_adjustments,
    intern_labels,
    label_codes,
    rows_by_winner,
)
from rerate.rating.deck import ROUNDING_MODES
from rerate.rating.fixed import SCALE, mul_div, to_scaled
from rerate.rating.kernels import tariff_terms, walk_costs
from rerate.rating.plan import (
    ConsumptionProfile,
    PriceBookVersion,
    ProfileUnit,
    RatingPlan,
    RuleKind,
    Tier,
    Timing,
)
from rerate.rating.prefixes import (
    DECKS_PER_BATCH,
    PrefixIndex,
    prefix_ranges,
)
from rerate.rating.rows import Reason, RowState, StringPool, reason_code
from rerate.rating.tiers import (
    TierTables,
    exclusive_cumsum,
    group_totals,
    order_rows,
    price_axis,
)
from rerate.rating.timebands import band_codes, time_us
from rerate.rating.timings import timing_bits

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

VOICE_SERVICE = "voice"
SECOND_UNIT = "second"
_NO_BAND = -1  # entry applies in every band
_FOREIGN_BAND = -2  # entry names a band the timetable does not have: never applies


@dataclass(frozen=True, slots=True)
class CdrInput:
    start: I64  # usage_start, UTC microseconds
    account_code: I32  # AccountIndex code
    owned: Bool
    destination_key: I64  # prefixes.encode_destinations; -1: invalid destination
    billable: I64  # billable_seconds, null -> 0
    record_id: pa.Array


@dataclass(frozen=True, slots=True)
class _Entries:
    """Tariff entries of the versions in use, as arrays (one row per entry)."""

    version_pos: I32
    lo: I64
    hi: I64
    length: I64
    band: I32
    rate: I64
    connect: I64
    min_s: I64
    init: I64
    sub: I64
    unanswered: Bool
    group: I32  # pool codes
    prefix_str: pa.Array
    entry_id: I64
    version_id: I64
    # Carrier terms (deck.TariffColumns); timing indexes `timings`.
    weight: I64
    inc_dec: I64
    call_dec: I64
    call_mode: I64
    max_cost: I64
    g_off: I64
    g_from: I64
    g_rate: I64
    g_incr: I64
    timing: I64
    timings: tuple[Timing, ...]
    walk: Bool  # priced through the group walk (rate groups or increment decimals)

    @property
    def timing_start(self) -> I64:
        """Start of each entry's timing in us after local midnight (0: none)."""
        starts = np.array([time_us(t.start) for t in self.timings] + [0], dtype=np.int64)
        return starts[self.timing]


def _compile(
    versions: list[PriceBookVersion], band_names: tuple[str, ...], pool: StringPool
) -> _Entries:
    """The entries of `versions`, concatenated from their prebuilt columns
    (deck.py); only bands and destination groups are coded per call."""
    cols = [v.tariff_columns for v in versions]
    pos = np.repeat(np.arange(len(cols), dtype=np.int32), [len(c) for c in cols])

    def cat(name: str, dtype: type) -> npt.NDArray[Any]:
        parts = [getattr(c, name) for c in cols]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    prefix_str = pa.concat_arrays([c.prefix for c in cols]) if cols else pa.array([], pa.string())
    lo, hi, length = prefix_ranges(prefix_str)
    band_code = {b: i for i, b in enumerate(band_names)}
    group = np.zeros(len(pos), dtype=np.int32)
    band = np.zeros(len(pos), dtype=np.int32)
    at = 0
    for c in cols:
        n = len(c)
        # Code the distinct values of each version, then gather per entry.
        group_codes = pool.codes(c.group.dictionary.to_pylist())
        group[at : at + n] = group_codes[np.asarray(c.group.indices.to_numpy(), dtype=np.int64)]
        names = c.band.dictionary_encode()
        table = np.array(
            [band_code.get(b, _FOREIGN_BAND) for b in names.dictionary.to_pylist()] + [_NO_BAND],
            dtype=np.int32,
        )
        band[at : at + n] = table[
            np.asarray(names.indices.fill_null(-1).to_numpy(), dtype=np.int64)
        ]
        at += n
    version_ids = np.array([v.id for v in versions], dtype=np.int64)
    # Timings numbered across the versions in use (the same condition in two
    # versions is one timing); group offsets shifted past earlier versions.
    timings: dict[tuple[object, ...], int] = {}
    timing_parts = []
    g_off = [np.zeros(1, dtype=np.int64)]
    g_base = 0
    for c in cols:
        local = np.array(
            [timings.setdefault(t.key, len(timings)) for t in c.timings] + [-1], dtype=np.int64
        )
        timing_parts.append(local[c.timing])
        g_off.append(c.g_off[1:] + g_base)
        g_base += int(c.g_off[-1])
    all_timings: dict[int, Timing] = {}
    for c in cols:
        for t in c.timings:
            all_timings.setdefault(timings[t.key], t)
    inc_dec = cat("inc_dec", np.int64)
    g_off_all = np.concatenate(g_off)
    return _Entries(
        version_pos=pos,
        lo=lo,
        hi=hi,
        length=length,
        band=band,
        rate=cat("rate", np.int64),
        connect=cat("connect", np.int64),
        min_s=cat("min_s", np.int64),
        init=cat("init", np.int64),
        sub=cat("sub", np.int64),
        unanswered=cat("unanswered", np.bool_),
        group=group,
        prefix_str=prefix_str,
        entry_id=cat("entry_id", np.int64),
        version_id=version_ids[pos] if len(pos) else np.zeros(0, dtype=np.int64),
        weight=cat("weight", np.int64),
        inc_dec=inc_dec,
        call_dec=cat("call_dec", np.int64),
        call_mode=cat("call_mode", np.int64),
        max_cost=cat("max_cost", np.int64),
        g_off=g_off_all,
        g_from=cat("g_from", np.int64),
        g_rate=cat("g_rate", np.int64),
        g_incr=cat("g_incr", np.int64),
        timing=np.concatenate(timing_parts) if timing_parts else np.zeros(0, dtype=np.int64),
        timings=tuple(all_timings[k] for k in range(len(all_timings))),
        walk=(inc_dec >= 0) | (np.diff(g_off_all) > 0),
    )


@dataclass(frozen=True, slots=True)
class _Prefixes:
    """The distinct prefixes of each version in use. entry_for[p, c] is the entry
    that applies to prefix p for calls of class c (`_classes`): without
    timings a class is a band, and the entry is the one for band c, else the
    band-less one, else -1."""

    version_pos: I32
    lo: I64
    hi: I64
    length: I64
    entry_for: I32  # (prefixes, bands)
    prefix_str: pa.Array


def _prefix_table(
    ent: _Entries, n_bands: int, with_bands: bool, combos: I64 | None = None
) -> _Prefixes:
    """`combos`: the sets of timings (bit masks) holding at the calls' starts
    when the deck has timed entries; class = band * len(combos) + combo."""
    n = len(ent.lo)
    order = np.lexsort((ent.lo, ent.version_pos))
    vp, lo = ent.version_pos[order], ent.lo[order]
    first = np.ones(n, dtype=bool)
    first[1:] = (vp[1:] != vp[:-1]) | (lo[1:] != lo[:-1])
    row_sorted = np.cumsum(first) - 1
    prow = np.empty(n, dtype=np.int64)
    prow[order] = row_sorted
    heads = order[first]
    if combos is None:
        entry_for = np.full((len(heads), n_bands), -1, dtype=np.int32)
        idx = np.arange(n, dtype=np.int32)
        plain = ent.band == _NO_BAND
        entry_for[prow[plain], :] = idx[plain, None]
        if with_bands:
            # A banded entry beats the band-less one with the same prefix in its band.
            banded = ent.band >= 0
            entry_for[prow[banded], ent.band[banded]] = idx[banded]
    else:
        entry_for = _timed_entry_for(ent, prow, len(heads), n_bands, with_bands, combos)
    return _Prefixes(
        version_pos=ent.version_pos[heads],
        lo=ent.lo[heads],
        hi=ent.hi[heads],
        length=ent.length[heads],
        entry_for=entry_for,
        prefix_str=ent.prefix_str.take(pa.array(heads)),
    )


def _timed_entry_for(
    ent: _Entries, prow: I64, n_rows: int, n_bands: int, with_bands: bool, combos: I64
) -> npt.NDArray[np.int32]:
    """entry_for over (band, timing combination) classes: among the entries
    of a prefix applying to the class (band-less or of its band, timing none
    or holding), a banded one first, then the highest weight, the latest
    timing start, the lowest rate, the lowest connect fee, the lowest id."""
    n_combos = len(combos)
    entry_for = np.full((n_rows, n_bands * n_combos), -1, dtype=np.int32)
    banded_rank = np.where(ent.band >= 0, 0, 1)
    order = np.lexsort(
        (ent.entry_id, ent.connect, ent.rate, -ent.timing_start, -ent.weight, banded_rank, prow)
    )
    o_band, o_timing, o_prow = ent.band[order], ent.timing[order], prow[order]
    for b in range(n_bands):
        in_band = (o_band == _NO_BAND) | ((o_band == b) if with_bands else False)
        for c, mask in enumerate(combos):
            holds = (o_timing < 0) | ((int(mask) >> np.maximum(o_timing, 0)) & 1 == 1)
            sel = np.flatnonzero(in_band & holds)
            if not len(sel):
                continue
            p = o_prow[sel]
            first = np.ones(len(sel), dtype=bool)
            first[1:] = p[1:] != p[:-1]
            entry_for[p[first], b * n_combos + c] = order[sel[first]]
    return entry_for


@dataclass(frozen=True, slots=True)
class _Matcher:
    """Prefix indexes over the versions in use (batches of DECKS_PER_BATCH) and
    the parent of every prefix row. Read-only: shared by the worker threads."""

    pf: _Prefixes
    n_versions: int
    indexes: tuple[PrefixIndex, ...]
    parent_of: I32

    @classmethod
    def build(cls, pf: _Prefixes, n_versions: int) -> _Matcher:
        parent_of = np.full(len(pf.lo), -1, dtype=np.int32)
        usable = (pf.entry_for >= 0).any(axis=1)
        indexes = []
        for first in range(0, max(n_versions, 1), DECKS_PER_BATCH):
            decks = []
            for j in range(first, min(n_versions, first + DECKS_PER_BATCH)):
                rows = np.flatnonzero((pf.version_pos == j) & usable)
                decks.append((pf.lo[rows], pf.hi[rows], pf.length[rows], rows.astype(np.int32)))
            index, parents = PrefixIndex.build_with_parents(decks)
            parent_of[: len(parents)] = np.where(parents >= 0, parents, parent_of[: len(parents)])
            indexes.append(index)
        return cls(pf, n_versions, tuple(indexes), parent_of)

    def match(self, version: I64, band: I64, keys: I64) -> tuple[I32, I32]:
        """(prefix row, entry) per call: the longest prefix of the number, in the
        call's version, having an entry that applies in the call's band."""
        pf = self.pf
        if len(pf.lo) == 0:
            none = np.full(len(keys), -1, dtype=np.int32)
            return none, none.copy()
        if len(self.indexes) == 1:
            return self._match(self.indexes[0], version, band, keys)
        prow = np.full(len(keys), -1, dtype=np.int32)
        entry = np.full(len(keys), -1, dtype=np.int32)
        for b, index in enumerate(self.indexes):
            first = b * DECKS_PER_BATCH
            sel = np.flatnonzero((version >= first) & (version < first + DECKS_PER_BATCH))
            prow[sel], entry[sel] = self._match(index, version[sel] - first, band[sel], keys[sel])
        return prow, entry

    def _match(self, index: PrefixIndex, deck: I64, band: I64, keys: I64) -> tuple[I32, I32]:
        # The longest prefix may only have entries for other bands: the kernel
        # walks up to the next shorter prefix of the number until one applies.
        return index.match(deck, band, keys, self.pf.entry_for, self.parent_of)


def _walk(ent: _Entries, entry: I32 | I64, seconds: I64, *, floor: bool) -> tuple[I64, I64]:
    """(billed seconds, time charge) through the rate-group walk (kernels.walk_costs)."""
    return walk_costs(
        np.ascontiguousarray(entry, dtype=np.int32),
        np.ascontiguousarray(seconds, dtype=np.int64),
        floor,
        ent.min_s,
        ent.init,
        ent.sub,
        ent.rate,
        ent.inc_dec,
        ent.g_off,
        ent.g_from,
        ent.g_rate,
        ent.g_incr,
    )


def _walk_time_amount(
    ent: _Entries,
    e: I64,
    walked: Bool,
    walk_cost: I64,
    covered: I64,
    time_amount: I64,
) -> None:
    """Time charge of the walked rows, in place: the walk's cost, less the
    cost of a walk over the seconds a profile allowance covers (the call's
    first seconds; never below 0). Rows priced by profile tiers keep the
    tier price (tiers price chargeable seconds, groups aside)."""
    rows = np.flatnonzero(walked)
    if not len(rows):
        return
    amount = walk_cost[rows]
    part = np.flatnonzero(covered[rows] > 0)
    if len(part):
        r = rows[part]
        _, covered_cost = _walk(ent, e[r], covered[r], floor=False)
        amount[part] = np.maximum(amount[part] - covered_cost, 0)
    time_amount[rows] = amount


def _call_terms(ent: _Entries, e: I64, matched: Bool, list_amount: I64) -> None:
    """Call rounding (call_decimals with call_rounding), then the maximum
    cost, on the list amounts of the rows whose entry has them, in place."""
    # Ordinary decks have neither: no pass over the rows then.
    if bool((ent.call_dec >= 0).any()):
        _call_rounding(ent, e, matched, list_amount)
    if bool((ent.max_cost >= 0).any()):
        cap = np.where(matched, ent.max_cost[e], -1)
        capped = np.flatnonzero(cap >= 0)
        list_amount[capped] = np.minimum(list_amount[capped], cap[capped])


def _call_rounding(ent: _Entries, e: I64, matched: Bool, list_amount: I64) -> None:
    rounded = matched & (ent.call_dec[e] >= 0)
    if rounded.any():
        keys = ent.call_dec[e] * len(ROUNDING_MODES) + ent.call_mode[e]
        for key in np.unique(keys[rounded]):
            rows = np.flatnonzero(rounded & (keys == key))
            places, mode = divmod(int(key), len(ROUNDING_MODES))
            list_amount[rows] = round_scaled(list_amount[rows], places, ROUNDING_MODES[mode])


def round_scaled(x: I64, places: int, mode: RoundingMode) -> I64:
    """Amounts in units of 1e-10 rounded to `places` decimals with `mode`."""
    quantum = 10 ** (SCALE - places)
    if quantum == 1:
        return x.copy()
    return np.asarray(_rounded(x, quantum, mode), dtype=np.int64)


def _rounded(x: I64, quantum: int, mode: RoundingMode) -> Any:
    q, r = np.divmod(x, quantum)  # floor division: 0 <= r < quantum
    down = q * quantum
    up = down + np.where(r > 0, quantum, 0)
    if mode is RoundingMode.FLOOR:
        return down
    if mode is RoundingMode.CEILING:
        return up
    toward_zero = np.where(x >= 0, down, up)
    away = np.where(x >= 0, up, down)
    if mode is RoundingMode.DOWN:
        return toward_zero
    if mode is RoundingMode.UP:
        return away
    dist = np.where(x >= 0, r, quantum - r) % quantum  # distance to toward_zero
    twice = 2 * dist
    if mode is RoundingMode.HALF_UP:
        return np.where(twice >= quantum, away, toward_zero)
    if mode is RoundingMode.HALF_DOWN:
        return np.where(twice > quantum, away, toward_zero)
    # HALF_EVEN: a tie goes to the even multiple.
    even = (toward_zero // quantum) % 2 == 0
    return np.where((twice > quantum) | ((twice == quantum) & ~even), away, toward_zero)


def _profiles_for(plan: RatingPlan) -> list[ConsumptionProfile]:
    return sorted((p for p in plan.profiles if p.unit is ProfileUnit.MINUTES), key=lambda p: p.id)


def _member_table(profile: ConsumptionProfile, accounts: I64) -> Bool:
    return np.isin(accounts, np.array(sorted(profile.account_ids), dtype=np.int64))


_CHUNK_ROWS = 1 << 20


def parallel_slices(stage: Callable[[int, int], None], n: int) -> None:
    """Run stage(lo, hi) over row chunks on a thread per core."""
    bounds = [(lo, min(n, lo + _CHUNK_ROWS)) for lo in range(0, n, _CHUNK_ROWS)]
    workers = min(len(bounds), os.cpu_count() or 1)
    if workers <= 1:
        for lo, hi in bounds:
            stage(lo, hi)
        return
    with ThreadPoolExecutor(max_workers=workers) as ex:
        for job in [ex.submit(stage, lo, hi) for lo, hi in bounds]:
            job.result()


@dataclass(frozen=True, slots=True)
class CdrDeck:
    """Everything about the tariff that does not depend on the rows: built once
    per rating call and shared read-only by every chunk of rows."""

    eff: I64  # effective_from of every version, in order
    local: I64  # version index -> position among the compiled versions (-1: none)
    ent: _Entries
    matcher: _Matcher
    band_names: tuple[str, ...]
    overrides: RuleMatcher  # unit_price_override rules
    adjusts: RuleMatcher  # discount and markup rules
    # Timed entries: the timing combinations occurring at the calls' starts
    # (sorted bit masks, timings.timing_bits) and the zone they are read in;
    # None when no entry in use has a timing.
    combos: I64 | None = None
    timing_tz: str = "UTC"

    def call_class(self, start: I64, band: I64) -> I64:
        """Column of entry_for for each call: its band, or with timed entries
        band * len(combos) + its timing combination."""
        if self.combos is None:
            return band
        bits = timing_bits(start, self.timing_tz, self.ent.timings)
        combo = np.searchsorted(self.combos, bits)
        if len(bits) and not bool(
            (self.combos[np.minimum(combo, len(self.combos) - 1)] == bits).all()
        ):
            raise AssertionError("a call's timing combination was not prepared")
        return band * len(self.combos) + combo


def prepare_deck(
    plan: RatingPlan,
    pool: StringPool,
    start: I64 | None = None,
    *,
    span: tuple[int, int] | None = None,
    combos_of: Callable[[Sequence[Timing], str], I64] | None = None,
) -> CdrDeck:
    """Compile the versions in force between min(start) and max(start), and
    intern every string the CDR rater uses, in a fixed order (so codes do not
    depend on which chunk of rows runs first).

    Instead of the calls' starts, a caller that does not hold them (a
    distributed backend) gives their first and last (`span`) and a function
    giving the distinct timing bit masks at them (`combos_of`)."""
    if start is not None:
        span = (int(start.min()), int(start.max())) if len(start) else None
        rows = start

        def combos_of(timings: Sequence[Timing], tz: str) -> I64:
            return np.unique(timing_bits(rows, tz, timings))

    timetable = plan.timetable
    band_names = timetable.band_names if timetable is not None else ()
    n_bands = max(len(band_names), 1)
    book = plan.voice_book
    versions = list(book.ordered_versions()) if book is not None else []
    eff = np.array([v.effective_from_us for v in versions], dtype=np.int64)
    used = np.zeros(0, dtype=np.int64)
    if versions and span is not None:
        first = max(int(np.searchsorted(eff, span[0], side="right")) - 1, 0)
        last = int(np.searchsorted(eff, span[1], side="right")) - 1
        used = np.arange(first, last + 1, dtype=np.int64)
    local = np.full(max(len(versions), 1), -1, dtype=np.int64)
    local[used] = np.arange(len(used))
    pool.code(VOICE_SERVICE)
    pool.code(SECOND_UNIT)
    pool.codes(list(band_names))
    pool.code(plan.contract.currency)
    ent = _compile([versions[i] for i in used], band_names, pool)
    contract = plan.contract
    timing_tz = timetable.tz if timetable is not None else contract.billing_tz
    combos = None
    if ent.timings and span is not None and combos_of is not None:
        combos = np.asarray(combos_of(ent.timings, timing_tz), dtype=np.int64)
    pf = _prefix_table(ent, n_bands, timetable is not None, combos)
    overrides = RuleMatcher(contract.rules_of(RuleKind.UNIT_PRICE_OVERRIDE), pool)
    adjusts = RuleMatcher(contract.rules_of(RuleKind.DISCOUNT, RuleKind.MARKUP), pool)
    intern_labels(overrides.rules, adjusts.rules, pool, passthrough=False)
    return CdrDeck(
        eff,
        local,
        ent,
        _Matcher.build(pf, len(used)),
        band_names,
        overrides,
        adjusts,
        combos,
        timing_tz,
    )


def rate_cdrs(
    inp: CdrInput,
    plan: RatingPlan,
    pool: StringPool,
    accounts: I64,
    deck: CdrDeck | None = None,
) -> RowState:
    """Rate CDR rows; `accounts` maps account codes to account ids. `deck`
    (prepare_deck) is built here when the caller has not built it."""
    n = len(inp.start)
    if deck is None:
        deck = prepare_deck(plan, pool, inp.start)
    st = RowState(n)
    st.is_cdr[:] = True
    st.service[:] = pool.code(VOICE_SERVICE)
    st.unit[:] = pool.code(SECOND_UNIT)
    st.reason[~inp.owned] = reason_code(Reason.ACCOUNT_NOT_OWNED)
    timetable = plan.timetable
    band_names = deck.band_names
    if len(deck.eff):
        vi = np.searchsorted(deck.eff, inp.start, side="right") - 1
    else:
        vi = np.full(n, -1, dtype=np.int64)
    local = deck.local
    ent = deck.ent
    matcher = deck.matcher
    pf = matcher.pf
    st.prefix_values = pf.prefix_str

    # Per-row work, chunk by chunk on all cores: numpy and Arrow release the
    # GIL inside each operation, and 1 M-row chunks stay cache-friendly.
    valid = np.zeros(n, dtype=bool)
    band = np.zeros(n, dtype=np.int64)
    prow = np.full(n, -1, dtype=np.int32)
    owner = np.full(n, -1, dtype=np.int32)
    billed = np.zeros(n, dtype=np.int64)
    connect = np.zeros(n, dtype=np.int64)
    rate = np.zeros(n, dtype=np.int64)
    group = np.full(n, -1, dtype=np.int32)
    # Rows priced through the group walk (entries with rate groups or
    # increment decimals) and their time charge.
    any_walk = bool(ent.walk.any())
    walked = np.zeros(n, dtype=bool)
    walk_cost = np.zeros(n, dtype=np.int64)
    dk = deck

    def stage(lo: int, hi: int) -> None:
        sl = slice(lo, hi)
        keys = inp.destination_key[sl]
        ok = keys >= 0
        valid[sl] = ok
        if timetable is not None:
            band[sl] = band_codes(inp.start[sl], timetable)
        v = vi[sl]
        version = np.where(inp.owned[sl] & ok & (v >= 0), local[np.maximum(v, 0)], -1)
        p, o = matcher.match(version, dk.call_class(inp.start[sl], band[sl]), keys)
        prow[sl], owner[sl] = p, o
        if len(ent.entry_id) == 0:
            return  # no entries at all: nothing matched
        billed[sl], connect[sl], rate[sl], group[sl] = tariff_terms(
            o,
            np.ascontiguousarray(inp.billable[sl]),
            ent.min_s,
            ent.init,
            ent.sub,
            ent.unanswered,
            ent.connect,
            ent.rate,
            ent.group,
        )
        if any_walk:
            w = np.flatnonzero((o >= 0) & ent.walk[np.maximum(o, 0)])
            if len(w):
                rows = lo + w
                walked[rows] = True
                billed[rows], walk_cost[rows] = _walk(ent, o[w], inp.billable[rows], floor=True)

    parallel_slices(stage, n)
    if timetable is not None:
        st.band = pool.codes(list(band_names))[band]
    st.reason[inp.owned & ~valid] = reason_code(Reason.INVALID_DESTINATION)
    todo = inp.owned & valid
    st.reason[todo & (vi < 0)] = reason_code(Reason.NO_TARIFF)
    st.reason[todo & (vi >= 0) & (owner < 0)] = reason_code(Reason.NO_TARIFF)
    matched = owner >= 0
    m = np.flatnonzero(matched)
    if len(m) == 0:
        return st
    e = np.maximum(owner, 0)

    covered, time_amount, tier_first, tier_last, profile_id, tiered = _apply_profiles(
        plan, pool, accounts, inp, m, group, billed, rate
    )
    if any_walk:
        _walk_time_amount(ent, e, walked & ~tiered, walk_cost, covered, time_amount)
    chargeable = billed - covered
    list_amount = connect + time_amount
    _call_terms(ent, e, matched, list_amount)

    contract = plan.contract
    # Rule winners depend on the destination group only (service "voice", no
    # region): resolve them once per group code, then gather.
    codes = np.arange(len(pool.values), dtype=np.int32)
    voice = np.full(len(codes), pool.code(VOICE_SERVICE), dtype=np.int32)
    no_region = np.full(len(codes), -1, dtype=np.int32)
    overrides = deck.overrides
    ov = np.where(matched, overrides.winners(voice, codes, no_region)[group], -1).astype(np.int16)
    net_base = list_amount.copy()
    for i, rows in rows_by_winner(ov):
        price = overrides.rules[i].unit_price
        assert price is not None
        net_base[rows] = connect[rows] + mul_div(chargeable[rows], to_scaled(price), 60)
    adjusts = deck.adjusts
    adj = np.where(matched, adjusts.winners(voice, codes, no_region)[group], -1).astype(np.int16)
    net = apply_adjustments(net_base, adj, adjusts.rules)

    st.quantity_scale = 0  # whole seconds
    st.quantity = np.where(matched, billed, 0)
    st.has_quantity = matched
    st.billed_seconds = billed
    st.included = covered
    st.list_amount = np.where(matched, list_amount, 0)
    st.net_amount = np.where(matched, net, 0)
    st.entry_id = np.where(matched, ent.entry_id[e], -1)
    st.version_id = np.where(matched, ent.version_id[e], -1)
    st.profile_id = profile_id
    st.tier_first = tier_first
    st.tier_last = tier_last
    st.item = np.where(matched, group, -1).astype(np.int32)
    st.prefix = np.where(matched, prow, -1).astype(np.int32)
    st.rules = np.where(
        matched,
        label_codes(ov, adj, np.zeros(n, dtype=bool), overrides.rules, adjusts.rules, pool),
        -1,
    ).astype(np.int32)
    st.currency = np.where(matched, pool.code(contract.currency), -1).astype(np.int32)
    return st


def _apply_profiles(
    plan: RatingPlan,
    pool: StringPool,
    accounts: I64,
    inp: CdrInput,
    m: I64,
    group: I32,
    billed: I64,
    rate: I64,
) -> tuple[I64, I64, npt.NDArray[np.int16], npt.NDArray[np.int16], I64, Bool]:
    """(covered seconds, time amount, tier_first, tier_last, profile id, priced
    by profile tiers) per row;
    group/billed/rate are full-length arrays, `m` the matched rows."""
    k = len(billed)
    covered = np.zeros(k, dtype=np.int64)
    tier_first = np.full(k, -1, dtype=np.int16)
    tier_last = np.full(k, -1, dtype=np.int16)
    profile_id = np.full(k, -1, dtype=np.int64)
    profiles = _profiles_for(plan)
    which = np.full(k, -1, dtype=np.int64)
    if profiles:
        acct = np.maximum(inp.account_code, 0)
        matched = np.zeros(k, dtype=bool)
        matched[m] = True
        for pi, prof in enumerate(profiles):
            member = _member_table(prof, accounts)
            hit = matched & (which < 0) & member[acct]
            if prof.scope_destination_group is not None:
                scope = np.array(
                    [v.startswith(prof.scope_destination_group) for v in pool.values] + [False],
                    dtype=bool,
                )
                hit &= scope[group]  # code -1 indexes the trailing False
            which[hit] = pi
    p_rows = np.flatnonzero(which >= 0)
    time_amount = mul_div(billed, rate, 60)
    tiered_rows = np.zeros(k, dtype=bool)
    if len(p_rows) == 0:
        return covered, time_amount, tier_first, tier_last, profile_id, tiered_rows

    n_acc = max(len(accounts), 1)
    gkey = which[p_rows] * n_acc + inp.account_code[p_rows]
    order = order_rows(gkey, inp.start[p_rows], inp.record_id.take(pa.array(p_rows)))
    rows_sorted = p_rows[order]
    g_sorted = gkey[order]
    q_sorted = billed[rows_sorted]
    a = exclusive_cumsum(g_sorted, q_sorted)
    total = group_totals(g_sorted, q_sorted)
    prof_of = which[rows_sorted]
    included = np.array([to_scaled(p.included_quantity * 60, 0) for p in profiles], dtype=np.int64)[
        prof_of
    ]
    b = a + q_sorted
    cov = np.where(included > 0, np.clip(np.minimum(b, included) - a, 0, None), 0)
    covered[rows_sorted] = cov
    profile_id[rows_sorted] = np.array([p.id for p in profiles], dtype=np.int64)[prof_of]
    # Chargeable seconds at the tariff rate, unless the profile has its own tiers.
    time_amount[rows_sorted] = mul_div(q_sorted - cov, rate[rows_sorted], 60)
    tiered = np.array([bool(p.tiers) for p in profiles], dtype=bool)[prof_of]
    t_idx = np.flatnonzero(tiered)
    if len(t_idx):
        tables = TierTables.build(
            [
                (
                    p.tier_mode,
                    tuple(Tier(t.from_qty * 60, t.unit_price) for t in p.tiers),
                    Decimal(0),
                )
                for p in profiles
            ],
            qty_scale=0,
        )
        priced = price_axis(
            a[t_idx],
            q_sorted[t_idx],
            prof_of[t_idx].astype(np.int32),
            included[t_idx],
            tables,
            60,
            total[t_idx],
        )
        target = rows_sorted[t_idx]
        time_amount[target] = priced.amount
        tier_first[target] = priced.tier_first
        tier_last[target] = priced.tier_last
        tiered_rows[target] = True
    return covered, time_amount, tier_first, tier_last, profile_id, tiered_rows
