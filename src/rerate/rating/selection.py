"""Which usage rows a period's billing run takes, and who owns them.

Period selection (the `UseOverlapUsageSelection` setting, `RatingPlan.overlap_selection`):

* False: a row belongs to the period containing its `usage_start`.
* True: the billing grid is the calendar month in the billing time zone. A row
  is assigned to the month holding the largest share of its duration
  [usage_start, usage_end), measured in elapsed microseconds (so a DST month
  is shorter or longer by an hour); on a tie the earlier month wins. A row
  with usage_end <= usage_start has no duration and is assigned by its start.
  A period selects the rows assigned to one of its months, so it must be a
  whole number of months.

Either way every row is assigned to exactly one month: it can never be
counted in two periods, nor fall between two.

Ownership: a row belongs to the customer that owned its account at the row's
`usage_start` (intervals are half-open, [valid_from, valid_to)).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rerate.kit.periods import Month, Period
from rerate.rating.localtime import US_PER_DAY, day_from_number, local_wall, midnight_us
from rerate.rating.plan import Ownership, PlanError, utc_us

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

_FOREVER = 2**62  # an open valid_to; later than any timestamp Arrow can hold in us


def period_bounds_us(period: Period) -> tuple[int, int]:
    return midnight_us(period.start, period.tz), midnight_us(period.end, period.tz)


def _month_starts(lo_us: int, hi_us: int, tz: str) -> list[int]:
    """UTC instants of the local month starts from the month containing lo_us
    through the first month start after hi_us."""
    first = day_from_number(int(local_wall(np.array([lo_us], dtype=np.int64), tz)[0]) // US_PER_DAY)
    month = Month.of(first)
    starts = [midnight_us(month.first_day, tz)]
    while starts[-1] <= hi_us:
        month = month.next()
        starts.append(midnight_us(month.first_day, tz))
    return starts


def assign_months(start: I64, end: I64, tz: str) -> tuple[I64, I64]:
    """(month start instants B, index into B of the month each row is assigned to)."""
    n = len(start)
    if n == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    stop = np.maximum(end, start)  # a row ending before it starts has no duration
    bounds = np.array(_month_starts(int(start.min()), int(stop.max()), tz), dtype=np.int64)
    first = np.searchsorted(bounds, start, side="right") - 1
    # The month of the last microsecond of the row ([start, stop) is half-open).
    last_instant = np.where(stop > start, stop - 1, start)
    last = np.searchsorted(bounds, last_instant, side="right") - 1
    month = first.copy()
    two = np.flatnonzero(last == first + 1)
    if len(two):
        cut = bounds[first[two] + 1]
        before = cut - start[two]
        after = stop[two] - cut
        month[two] = np.where(before >= after, first[two], last[two])
    for i in np.flatnonzero(last > first + 1):
        # Rare: a row spanning three or more months. The first largest share wins.
        best, best_share = int(first[i]), -1
        for m in range(int(first[i]), int(last[i]) + 1):
            share = min(int(stop[i]), int(bounds[m + 1])) - max(int(start[i]), int(bounds[m]))
            if share > best_share:
                best, best_share = m, share
        month[i] = best
    return bounds, month


def select_period(start: I64, end: I64, period: Period, *, overlap: bool) -> Bool:
    """Mask of the rows this period's run takes (see the module docstring)."""
    p0, p1 = period_bounds_us(period)
    if not overlap:
        return (start >= p0) & (start < p1)
    if period.start.day != 1 or period.end.day != 1:
        raise PlanError("overlap selection needs a period made of whole calendar months")
    # Only rows touching the period (or starting in it) can be assigned to it;
    # filtering first keeps the month table short.
    touches = ((start < p1) & (np.maximum(end, start) > p0)) | ((start >= p0) & (start < p1))
    result = np.zeros(len(start), dtype=bool)
    idx = np.flatnonzero(touches)
    if len(idx) == 0:
        return result
    bounds, month = assign_months(start[idx], end[idx], period.tz)
    chosen = bounds[month]
    result[idx] = (chosen >= p0) & (chosen < p1)
    return result


def billing_day(start: I64, period: Period) -> I64:
    """Local billing day (days since 1970-01-01) of each selected row: the day of
    its start, or the period's first day when it started before the period
    (overlap selection)."""
    p0, _ = period_bounds_us(period)
    return local_wall(np.maximum(start, p0), period.tz) // US_PER_DAY


class AccountIndex:
    """Dense codes for the accounts a customer owns at some time, and the
    ownership test at an instant."""

    def __init__(self, ownership: tuple[Ownership, ...], customer_id: int) -> None:
        mine = [o for o in ownership if o.customer_id == customer_id]
        self.accounts: I64 = np.array(sorted({o.account_id for o in mine}), dtype=np.int64)
        code = {int(a): i for i, a in enumerate(self.accounts)}
        spans = sorted(
            (
                code[o.account_id],
                utc_us(o.valid_from),
                utc_us(o.valid_to) if o.valid_to is not None else _FOREVER,
            )
            for o in mine
        )
        self._code = np.array([s[0] for s in spans], dtype=np.int64)
        self._from = np.array([s[1] for s in spans], dtype=np.int64)
        self._to = np.array([s[2] for s in spans], dtype=np.int64)

    def codes(self, account_ids: I64) -> I32:
        """Code of each account id, -1 for accounts the customer never owns."""
        n = len(self.accounts)
        if n == 0 or len(account_ids) == 0:
            return np.full(len(account_ids), -1, dtype=np.int32)
        lo, hi = int(self.accounts[0]), int(self.accounts[-1])
        inside = (account_ids >= lo) & (account_ids <= hi)
        if hi - lo < 1 << 24:
            # Dense ids (the usual case): one table gather instead of a search.
            table = np.full(hi - lo + 1, -1, dtype=np.int32)
            table[self.accounts - lo] = np.arange(n, dtype=np.int32)
            return np.where(inside, table[np.where(inside, account_ids - lo, 0)], -1).astype(
                np.int32
            )
        pos = np.clip(np.searchsorted(self.accounts, account_ids), 0, n - 1)
        return np.where(self.accounts[pos] == account_ids, pos, -1).astype(np.int32)

    def owned(self, codes: I32, t_us: I64) -> Bool:
        """True where the account (by code) is owned by the customer at t_us."""
        result = np.zeros(len(codes), dtype=bool)
        known = codes >= 0
        if not bool(known.any()):
            return result
        counts = np.bincount(self._code, minlength=len(self.accounts))
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        single = counts == 1
        c = np.where(known, codes, 0)
        # Accounts owned in one interval only: compare with that interval.
        simple = known & single[c]
        j = first[c]
        result = simple & (t_us >= self._from[j]) & (t_us < self._to[j])
        rest = np.flatnonzero(known & ~single[c])
        if len(rest):
            # Several intervals for one account: the last interval of that account
            # starting at or before t decides (intervals are disjoint).
            for code in np.unique(codes[rest]):
                rows = rest[codes[rest] == code]
                lo = int(first[code])
                frm = self._from[lo : lo + int(counts[code])]
                to = self._to[lo : lo + int(counts[code])]
                k = np.searchsorted(frm, t_us[rows], side="right") - 1
                ok = k >= 0
                kk = np.maximum(k, 0)
                result[rows] = ok & (t_us[rows] < to[kk])
        return np.asarray(result, dtype=bool)
