"""A price-book version's tariff entries as columns, built once per version.

Rating reads a deck column by column (rates, increments, prefixes ...); a
200,000-prefix deck has 600,000 entries over three versions, and turning
those Python objects into arrays costs more than matching 10 M calls. A
version is immutable, so `PriceBookVersion` builds its columns once, when
the plan is built and validated (plan.py), and every rating call reuses them.
Nothing here depends on one rating call (its string pool, its bands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rerate.kit.money import DEFAULT_ROUNDING, RoundingMode
from rerate.rating.fixed import decimal_column

if TYPE_CHECKING:
    from rerate.rating.plan import TariffEntry, Timing

# A call rounding mode's code in the columns (kernels see integers only).
ROUNDING_MODES = tuple(RoundingMode)

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class TariffColumns:
    """One row per tariff entry, in the version's order."""

    entry_id: I64
    prefix: pa.Array  # string
    group: pa.DictionaryArray  # destination group
    band: pa.Array  # string, null = every band
    rate: I64  # per minute, units of 1e-10
    connect: I64  # units of 1e-10
    min_s: I64
    init: I64
    sub: I64
    unanswered: Bool
    # The carrier terms (docs/rating.md, "Rate groups, increment and call
    # rounding, maximum cost, timings"); -1 = not set.
    weight: I64
    inc_dec: I64  # increment_decimals
    call_dec: I64  # call_decimals
    call_mode: I64  # index of call_rounding in ROUNDING_MODES
    max_cost: I64  # units of 1e-10
    # Later rate groups, flattened: entry i's are g_*[g_off[i]:g_off[i + 1]].
    g_off: I64
    g_from: I64
    g_rate: I64  # per minute, units of 1e-10
    g_incr: I64
    timing: I64  # index into `timings`
    timings: tuple[Timing, ...]

    def __len__(self) -> int:
        return len(self.entry_id)


def _scaled(values: list[Decimal]) -> I64:
    return decimal_column(pa.array(values, pa.decimal128(38, 10)))[0]


def tariff_columns(entries: Sequence[TariffEntry]) -> TariffColumns:
    def ints(name: str) -> I64:
        return np.fromiter((getattr(e, name) for e in entries), dtype=np.int64, count=len(entries))

    n = len(entries)
    # Most decks carry no carrier term at all: find the entries that do in one
    # pass and fill only their slots.
    special = [
        i
        for i, e in enumerate(entries)
        if e.rate_groups
        or e.timing is not None
        or e.increment_decimals is not None
        or e.call_decimals is not None
        or e.max_cost is not None
        or e.weight
    ]
    inc_dec = np.full(n, -1, dtype=np.int64)
    call_dec = np.full(n, -1, dtype=np.int64)
    call_mode = np.full(n, ROUNDING_MODES.index(DEFAULT_ROUNDING), dtype=np.int64)
    max_cost = np.full(n, -1, dtype=np.int64)
    weight = np.zeros(n, dtype=np.int64)
    timing = np.full(n, -1, dtype=np.int64)
    counts = np.zeros(n + 1, dtype=np.int64)
    g_from: list[int] = []
    g_rate: list[Decimal] = []
    g_incr: list[int] = []
    timings: dict[tuple[object, ...], int] = {}
    timing_list: list[Timing] = []
    for i in special:
        e = entries[i]
        weight[i] = e.weight
        if e.increment_decimals is not None:
            inc_dec[i] = e.increment_decimals
        if e.call_decimals is not None:
            call_dec[i] = e.call_decimals
            call_mode[i] = ROUNDING_MODES.index(e.call_rounding)
        if e.max_cost is not None:
            max_cost[i] = int(e.max_cost.scaleb(10))
        if e.timing is not None:
            key = e.timing.key
            if key not in timings:
                timings[key] = len(timing_list)
                timing_list.append(e.timing)
            timing[i] = timings[key]
        counts[i + 1] = len(e.rate_groups)
        for g in e.rate_groups:
            g_from.append(g.from_seconds)
            g_rate.append(g.rate_per_minute)
            g_incr.append(g.increment)
    return TariffColumns(
        entry_id=ints("id"),
        prefix=pa.array([e.prefix for e in entries], pa.string()),
        group=pa.array([e.destination_group for e in entries], pa.string()).dictionary_encode(),
        band=pa.array([e.band for e in entries], pa.string()),
        rate=_scaled([e.rate_per_minute for e in entries]),
        connect=_scaled([e.connect_fee for e in entries]),
        min_s=ints("min_seconds"),
        init=ints("initial_increment"),
        sub=ints("subsequent_increment"),
        unanswered=np.fromiter(
            (e.charge_unanswered for e in entries), dtype=np.bool_, count=len(entries)
        ),
        weight=weight,
        inc_dec=inc_dec,
        call_dec=call_dec,
        call_mode=call_mode,
        max_cost=max_cost,
        g_off=np.cumsum(counts),
        g_from=np.array(g_from, dtype=np.int64),
        g_rate=_scaled(g_rate) if g_rate else np.zeros(0, dtype=np.int64),
        g_incr=np.array(g_incr, dtype=np.int64),
        timing=timing,
        timings=tuple(timing_list),
    )
