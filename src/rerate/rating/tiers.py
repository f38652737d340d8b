"""Cumulative quantities and tier pricing ("the axis").

Tiers and included allowances are evaluated on a per-group cumulative axis:
rows of one group (account + SKU for cloud prices, profile + account for
consumption profiles) are ordered by (usage_start, record_id) and each row
occupies the slice [a, a + q) of the axis, a being the sum of the quantities
before it. So a tier boundary or the end of an allowance can fall inside a
row; the row is then split and each part priced at its own tier.

Pricing one row's slice [lo, hi) (q < 0 -- a refund -- gives back [a + q, a)):
* the allowance I > 0 makes (-inf, I) free: `covered` is the part of the
  slice below I; without allowance nothing is free;
* graduated: every chargeable part inside tier k ([from_k, from_{k+1}), the
  first tier extended down to -inf) costs round_half_up(part * price_k / d);
  the row amount is the sum of those rounded parts;
* volume: the tier whose from_qty is the largest one <= the group's period
  total prices the whole chargeable part, rounded once;
* the sign of q is applied last, so rounding is symmetric.

`d` converts quantity units to price units: 60 for seconds priced per
minute, 10**qs for cloud quantities at scale qs priced per unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rerate.rating.fixed import RatingOverflow, mul_div, to_scaled
from rerate.rating.plan import Tier, TierMode

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]
Bool = npt.NDArray[np.bool_]

_MIN = -(2**63)
_MAX = 2**63 - 1


def order_rows(group: I64, t_us: I64, record_id: pa.Array) -> I64:
    """Permutation sorting rows by (group, t_us, record_id)."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t0 = int(t_us.min())
    span = int(t_us.max()) - t0 + 1
    if (int(group.max()) + 1) * span >= 2**62 or int(group.min()) < 0:
        table = pa.table({"g": group, "t": t_us, "r": record_id})
        return np.asarray(
            pc.sort_indices(table, [("g", "ascending"), ("t", "ascending"), ("r", "ascending")]),
            dtype=np.int64,
        )
    composite = group * span + (t_us - t0)
    # Not a stable sort (several times faster): equal composites are ordered
    # by record_id just below.
    order = np.argsort(composite)
    ordered = composite[order]
    tie = np.zeros(n, dtype=bool)
    same = ordered[1:] == ordered[:-1]
    tie[1:] |= same
    tie[:-1] |= same
    pos = np.flatnonzero(tie)
    if len(pos):
        # Equal (group, start): the record_id decides. Tie runs are contiguous
        # in `order`, so sorting the tied rows by (composite, record_id) keeps
        # each run inside its own positions.
        rows = order[pos]
        sub = pa.table({"c": composite[rows], "r": record_id.take(pa.array(rows))})
        inner = np.asarray(
            pc.sort_indices(sub, [("c", "ascending"), ("r", "ascending")]), dtype=np.int64
        )
        order[pos] = rows[inner]
    return order


def exclusive_cumsum(group_sorted: I64, q_sorted: I64) -> I64:
    """Sum of the quantities before each row within its group (rows sorted)."""
    n = len(q_sorted)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    total = np.cumsum(q_sorted)
    excl = total - q_sorted
    starts = np.ones(n, dtype=bool)
    starts[1:] = group_sorted[1:] != group_sorted[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return excl - excl[first]


def group_totals(group_sorted: I64, q_sorted: I64) -> I64:
    """The group's total quantity, for each row (rows sorted by group)."""
    n = len(q_sorted)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group_sorted[1:] != group_sorted[:-1]])
    sums = np.add.reduceat(q_sorted, starts)
    counts = np.diff(np.r_[starts, n])
    return np.repeat(sums, counts)


def check_axis_range(q: I64) -> None:
    """Cumulative sums of q cannot overflow when sum(|q|) < 2**62."""
    if len(q) == 0:
        return
    big = int(np.abs(q).max())
    if big * len(q) >= 2**62 and sum(abs(int(v)) for v in q.tolist()) >= 2**62:
        raise RatingOverflow("cumulative quantity exceeds the 64-bit fixed point")


@dataclass(frozen=True, slots=True)
class TierTables:
    """Tier structures as arrays: table t has bounds[t, k] <= position <
    bounds[t, k + 1] priced prices[t, k]; bounds[t, 0] = -inf; unused tiers are
    empty ([+inf, +inf))."""

    bounds: I64  # (T, K + 1)
    prices: I64  # (T, K), scale 10
    volume: Bool  # (T,)

    @classmethod
    def build(
        cls, specs: Sequence[tuple[TierMode, tuple[Tier, ...], Decimal]], qty_scale: int
    ) -> TierTables:
        """One table per (tier mode, tiers, flat unit price); mode NONE is a
        single tier at the flat price."""
        k = max([len(t) if m is not TierMode.NONE else 1 for m, t, _ in specs] + [1])
        bounds = np.full((len(specs), k + 1), _MAX, dtype=np.int64)
        prices = np.zeros((len(specs), k), dtype=np.int64)
        volume = np.zeros(len(specs), dtype=bool)
        bounds[:, 0] = _MIN
        for i, (mode, tiers, flat) in enumerate(specs):
            if mode is TierMode.NONE:
                # One tier at the flat price (no Tier objects: catalogues are large).
                prices[i, 0] = to_scaled(flat)
                continue
            for j, tier in enumerate(tiers):
                if j:
                    bounds[i, j] = to_scaled(tier.from_qty, qty_scale)
                prices[i, j] = to_scaled(tier.unit_price)
            volume[i] = mode is TierMode.VOLUME
        return cls(bounds, prices, volume)


@dataclass(frozen=True, slots=True)
class Priced:
    amount: I64
    covered: I64
    tier_first: I16
    tier_last: I16


def allowance_cover(lo: I64, hi: I64, included: I64) -> I64:
    """Length of the slice [lo, hi) inside the allowance [0, included) (0 when
    there is none): a refund's part below zero is outside it."""
    cover = np.clip(np.minimum(hi, included) - np.maximum(lo, 0), 0, None)
    return np.where(included > 0, cover, 0)


def price_axis(
    a: I64,
    q: I64,
    table: I32,
    included: I64,
    tables: TierTables,
    divisor: int,
    total: I64,
) -> Priced:
    """Price each row's slice of the axis (see the module docstring).

    a: position before the row; q: the row's quantity; table: tier table per
    row; included: allowance per row (0: none); total: the group's period
    total (used by volume tables only).
    """
    n = len(a)
    b = a + q
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    negative = q < 0
    has_free = included > 0
    covered = allowance_cover(lo, hi, included)
    charge_lo = np.where(has_free, np.maximum(lo, included), lo)
    # A refund taking the axis below zero: that part is not in the allowance
    # [0, included) and is priced in the first tier (which extends to -inf),
    # as it would be without an allowance.
    below = np.where(has_free, np.clip(np.minimum(hi, 0) - lo, 0, None), 0)
    amount = np.zeros(n, dtype=np.int64)
    first = np.full(n, -1, dtype=np.int16)
    last = np.full(n, -1, dtype=np.int16)
    bounds = tables.bounds[table]
    prices = tables.prices[table]
    is_volume = tables.volume[table]
    grad = ~is_volume
    for k in range(tables.prices.shape[1]):
        p_hi = np.minimum(hi, bounds[:, k + 1])
        p_lo = np.maximum(charge_lo, bounds[:, k])
        # Where the tier misses the slice, p_hi - p_lo may wrap around (a bound
        # is +-inf): compare first, subtract only where it is meaningful.
        part = np.where(grad & (p_hi > p_lo), p_hi - p_lo, 0)
        if k == 0:
            part = part + np.where(grad, below, 0)  # rounded with the tier's part
        if not bool(part.any()):
            continue
        amount += mul_div(part, prices[:, k], divisor)
        touched = part > 0
        first = np.where(touched & (first < 0), np.int16(k), first).astype(np.int16)
        last = np.where(touched, np.int16(k), last).astype(np.int16)
    vol = np.flatnonzero(is_volume)
    if len(vol):
        vb = bounds[vol]
        # Largest k with bounds[k] <= total; bounds[:, 0] is -inf, so k >= 0.
        k_vol = (vb[:, 1:] <= total[vol, None]).sum(axis=1)
        part = np.clip(hi[vol] - charge_lo[vol], 0, None) + below[vol]
        price = prices[vol, k_vol]
        amount[vol] = mul_div(part, price, divisor)
        chosen = np.where(part > 0, k_vol, -1).astype(np.int16)
        first[vol] = chosen
        last[vol] = chosen
    return Priced(
        amount=np.where(negative, -amount, amount),
        covered=np.where(negative, -covered, covered),
        tier_first=first,
        tier_last=last,
    )
