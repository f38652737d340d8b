"""The reference rater: plain Python, one row at a time, exact fractions.

Written from docs/rating.md, not from the engine: no numpy, no fixed-point
tricks, no prefix index. Every amount is a `Fraction` until it is rounded to
10 decimal places (half away from zero) at exactly the points the rules
name; time zones come straight from `zoneinfo`. It is slow and obviously
correct, which is its whole job: the property tests demand that the engine
agrees with it exactly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from rerate.kit.money import round_money
from rerate.kit.periods import Month, Period
from rerate.rating.plan import (
    ConsumptionProfile,
    ContractRule,
    PriceEntry,
    ProfileUnit,
    RatingPlan,
    RuleKind,
    TariffEntry,
    Tier,
    TierMode,
    Timing,
)

TEN = Fraction(10**10)


def round10(x: Fraction) -> Decimal:
    """x rounded to 10 decimal places, halves away from zero."""
    scaled = abs(x) * TEN
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r >= scaled.denominator:
        q += 1
    return Decimal(-q if x < 0 else q).scaleb(-10)


def F(d: Decimal | int) -> Fraction:
    return Fraction(d)


@dataclass
class RefRow:
    record_id: str
    kind: str
    account_id: int
    day: date
    status: str = "unrated"
    reason: str | None = None
    service: str | None = None
    item: str | None = None
    region: str | None = None
    prefix: str | None = None
    band: str | None = None
    unit: str | None = None
    quantity: Decimal | None = None
    billed_seconds: int | None = None
    included: Decimal | None = None
    list_amount: Decimal | None = None
    net_amount: Decimal | None = None
    currency: str | None = None
    entry_id: int | None = None
    version_id: int | None = None
    profile_id: int | None = None
    tier_first: int | None = None
    tier_last: int | None = None
    rules: str | None = None
    # working state
    start: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    qty: Fraction = Fraction(0)
    rate: Fraction = Fraction(0)
    connect: Fraction = Fraction(0)
    entry: Any = None
    override: ContractRule | None = None
    adjust: ContractRule | None = None
    passthrough: bool = False
    profile: ConsumptionProfile | None = None
    billable: int = 0


@dataclass
class RefResult:
    rows: list[RefRow]
    out_of_period: int
    daily: dict[tuple[Any, ...], dict[str, Any]]
    lines: list[tuple[Any, ...]]
    usage_list: Decimal
    usage_net: Decimal
    total: Decimal


# ---------------------------------------------------------------- selection


def _month_start(m: Month, tz: str) -> datetime:
    return datetime(m.year, m.month, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def assigned_month(start: datetime, end: datetime, tz: str) -> Month:
    """The month with the largest share of [start, end); ties to the earlier."""
    month = Month.of(start.astimezone(ZoneInfo(tz)).date())
    if end <= start:
        return month
    best, best_share = month, timedelta(-1)
    while _month_start(month, tz) < end:
        lo = max(start, _month_start(month, tz))
        hi = min(end, _month_start(month.next(), tz))
        share = hi - lo
        if share > best_share:
            best, best_share = month, share
        month = month.next()
    return best


def in_period(row: dict[str, Any], period: Period, overlap: bool) -> bool:
    start, end = row["usage_start"], row["usage_end"]
    if not overlap:
        return bool(period.start_utc <= start < period.end_utc)
    m = assigned_month(start, end, period.tz)
    return period.start <= m.first_day < period.end


_OWNERS: dict[int, tuple[Any, dict[int, list[Any]]]] = {}


def owner_at(plan: RatingPlan, account: int, t: datetime) -> int | None:
    cached = _OWNERS.get(id(plan.ownership))
    if cached is None or cached[0] is not plan.ownership:
        by_account: dict[int, list[Any]] = defaultdict(list)
        for o in plan.ownership:
            by_account[o.account_id].append(o)
        cached = (plan.ownership, by_account)
        _OWNERS[id(plan.ownership)] = cached
    for o in cached[1].get(account, []):
        if o.valid_from <= t and (o.valid_to is None or t < o.valid_to):
            return o.customer_id  # type: ignore[no-any-return]
    return None


# ---------------------------------------------------------------- bands


def band_at(plan: RatingPlan, t: datetime) -> str | None:
    tt = plan.timetable
    if tt is None:
        return None
    local = t.astimezone(ZoneInfo(tt.tz))
    for h in tt.holidays:
        if h.day == local.date():
            return h.band
    wd, tod = local.weekday(), local.time().replace(tzinfo=None)
    order = sorted(range(len(tt.rules)), key=lambda i: (-tt.rules[i].priority, i))
    for i in order:
        r = tt.rules[i]
        if r.start == r.end:
            hit = wd in r.weekdays
        elif r.start < r.end:
            hit = wd in r.weekdays and r.start <= tod < r.end
        else:
            hit = (wd in r.weekdays and tod >= r.start) or (
                (wd - 1) % 7 in r.weekdays and tod < r.end
            )
        if hit:
            return r.band
    return tt.default_band


# ---------------------------------------------------------------- rules


def _matches(rule: ContractRule, service: str | None, sku: str | None, region: str | None) -> bool:
    return (
        (rule.service is None or rule.service == service)
        and (rule.sku is None or rule.sku == sku)
        and (rule.region is None or rule.region == region)
    )


def winner(
    plan: RatingPlan,
    kinds: tuple[RuleKind, ...],
    service: str | None,
    sku: str | None,
    region: str | None,
) -> ContractRule | None:
    rules = [
        r for r in plan.contract.rules if r.kind in kinds and _matches(r, service, sku, region)
    ]
    if not rules:
        return None
    return min(rules, key=lambda r: (-r.specificity, r.order, r.id))


def adjust(base: Decimal, rule: ContractRule | None) -> Decimal:
    if rule is None:
        return base
    assert rule.percent is not None
    pct = F(rule.percent)
    factor = (100 - pct) / 100 if rule.kind is RuleKind.DISCOUNT else (100 + pct) / 100
    return round10(F(base) * factor)


def label(row: RefRow) -> str | None:
    parts = []
    if row.passthrough:
        parts.append("passthrough")
    if row.override is not None:
        parts.append(f"override:{row.override.id}")
    if row.adjust is not None:
        parts.append(f"{row.adjust.kind.value}:{row.adjust.id}")
    return ",".join(parts) or None


# ---------------------------------------------------------------- tiers


def tiers_of(
    mode: TierMode, tiers: tuple[Tier, ...], flat: Decimal
) -> list[tuple[Fraction, Fraction]]:
    if mode is TierMode.NONE:
        return [(Fraction(0), F(flat))]
    return [(F(t.from_qty), F(t.unit_price)) for t in tiers]


def price_slice(
    a: Fraction,
    q: Fraction,
    tiers: list[tuple[Fraction, Fraction]],
    volume: bool,
    included: Fraction,
    total: Fraction,
    per: int,
) -> tuple[Decimal, Fraction, int | None, int | None]:
    """(amount, covered, first tier, last tier) of the slice [a, a + q); prices per `per` units."""
    lo, hi = min(a, a + q), max(a, a + q)
    sign = -1 if q < 0 else 1
    # The allowance is [0, included): a refund's part below zero is outside it
    # and priced in the first tier (docs/rating.md, section 6).
    covered = (
        max(Fraction(0), min(hi, included) - max(lo, Fraction(0))) if included > 0 else Fraction(0)
    )
    charge_lo = max(lo, included) if included > 0 else lo
    below = max(Fraction(0), min(hi, Fraction(0)) - lo) if included > 0 else Fraction(0)
    amount = Decimal(0)
    first = last = None
    if volume:
        k = max(i for i, (frm, _) in enumerate(tiers) if i == 0 or frm <= total)
        part = max(Fraction(0), hi - charge_lo) + below
        amount = round10(part * tiers[k][1] / per)
        if part > 0:
            first = last = k
    else:
        for k, (frm, price) in enumerate(tiers):
            t_lo = frm if k > 0 else None
            t_hi = tiers[k + 1][0] if k + 1 < len(tiers) else None
            p_lo = charge_lo if t_lo is None else max(charge_lo, t_lo)
            p_hi = hi if t_hi is None else min(hi, t_hi)
            part = max(Fraction(0), p_hi - p_lo) + (below if k == 0 else 0)
            if part > 0:
                amount += round10(part * price / per)
                first = k if first is None else first
                last = k
    return sign * amount, sign * covered, first, last


# ---------------------------------------------------------------- CDRs


def _version_at(plan: RatingPlan, t: datetime, *, voice: bool = False) -> Any:
    """The version in force at t: of the tariff deck for CDRs when the plan
    has one besides its price book."""
    book = plan.tariff_book if voice and plan.tariff_book is not None else plan.price_book
    if book is None:
        return None
    found = None
    for v in sorted(book.versions, key=lambda v: v.effective_from):
        if v.effective_from <= t:
            found = v
    return found


_INDEX: dict[int, tuple[Any, dict[Any, Any]]] = {}


def _index(version: Any, attr: str) -> dict[Any, Any]:
    """A plain dict over a version's entries, keyed prefix (a list) or (sku, region),
    built once per version so the benchmark can afford the reference on a sample."""
    slot = id(version) * 2 + (attr == "prices")
    cached = _INDEX.get(slot)
    if cached is None or cached[0] is not version:
        if attr == "prices":
            table = {(e.sku, e.region): e for e in version.prices}
        else:
            table = defaultdict(list)
            for e in version.tariffs:
                table[e.prefix].append(e)
        cached = (version, table)
        _INDEX[slot] = cached
    return cached[1]


def _timing_holds(timing: Timing | None, local: datetime) -> bool:
    if timing is None:
        return True
    return (
        (not timing.years or local.year in timing.years)
        and (not timing.months or local.month in timing.months)
        and (not timing.monthdays or local.day in timing.monthdays)
        and (not timing.weekdays or local.weekday() in timing.weekdays)
        and local.time().replace(tzinfo=None) >= timing.start
    )


def _tariff_for(version: Any, dest: str, band: str | None, local: datetime) -> TariffEntry | None:
    """Try the destination's prefixes from the longest (down to the empty
    one): among the entries applying (band-less or for the call's band, timing
    holding at the local start), a banded one first, then the highest weight,
    the latest timing start, the lowest rate, connect fee and id."""
    entries = _index(version, "tariffs")
    number = dest[:15]
    for length in range(len(number), -1, -1):
        applying = [
            e
            for e in entries.get(number[:length], [])
            if (e.band is None or (band is not None and e.band == band))
            and _timing_holds(e.timing, local)
        ]
        if any(e.band is not None for e in applying):
            applying = [e for e in applying if e.band is not None]
        if applying:
            return min(
                applying,
                key=lambda e: (
                    -e.weight,
                    -(0 if e.timing is None else _seconds_of_day(e.timing.start)),
                    e.rate_per_minute,
                    e.connect_fee,
                    e.id,
                ),
            )
    return None


def _seconds_of_day(t: time) -> Fraction:
    return Fraction(t.hour * 3600 + t.minute * 60 + t.second) + Fraction(t.microsecond, 10**6)


def round_places(x: Fraction, places: int) -> Fraction:
    """x rounded half away from zero to `places` decimals."""
    scaled = abs(x) * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r >= scaled.denominator:
        q += 1
    return Fraction(-q if x < 0 else q, 10**places)


def walks(e: TariffEntry) -> bool:
    """Priced through the rate-group walk rather than seconds x rate."""
    return bool(e.rate_groups) or e.increment_decimals is not None


def group_walk(
    e: TariffEntry, s: int, floor: bool
) -> tuple[int, list[tuple[Fraction, list[int]]], int]:
    """(billed seconds, [(rate, increment lengths)] per group used, floor extra)."""
    groups: list[tuple[int, Fraction, int]] = [(0, F(e.rate_per_minute), 0)] + [
        (g.from_seconds, F(g.rate_per_minute), g.increment) for g in e.rate_groups
    ]
    t = 0
    parts: list[tuple[Fraction, list[int]]] = []
    for j, (frm, rate, incr) in enumerate(groups):
        start = max(frm, t)
        end = s if j + 1 == len(groups) else min(s, groups[j + 1][0])
        lengths: list[int] = []
        pos = start
        while pos < end:
            if j == 0:
                step = e.initial_increment if not lengths else e.subsequent_increment
            else:
                step = incr
            lengths.append(step)
            pos += step
        if lengths:
            parts.append((rate, lengths))
            t = pos
    extra = max(e.min_seconds - t, 0) if floor and s > 0 else 0
    return t + extra, parts, extra


def walk_cost(e: TariffEntry, s: int, floor: bool) -> Fraction:
    """Time charge of a call of s seconds through the walk."""
    _, parts, extra = group_walk(e, s, floor)
    total = Fraction(0)
    for k, (rate, lengths) in enumerate(parts):
        more = extra if k == len(parts) - 1 else 0
        if e.increment_decimals is None:
            total += F(round10((sum(lengths) + more) * rate / 60))
        else:
            d = e.increment_decimals
            total += sum((round_places(n * rate / 60, d) for n in lengths), Fraction(0))
            total += round_places(more * rate / 60, d)
    return total


def _increments(s: int, e: TariffEntry) -> int:
    if s <= 0:
        return 0
    if s <= e.initial_increment:
        rounded = e.initial_increment
    else:
        extra = s - e.initial_increment
        steps = -(-extra // e.subsequent_increment)
        rounded = e.initial_increment + steps * e.subsequent_increment
    return max(rounded, e.min_seconds)


def _rate_cdr(plan: RatingPlan, row: dict[str, Any], out: RefRow) -> None:
    out.service, out.unit = "voice", "second"
    out.band = band_at(plan, row["usage_start"])
    zone = plan.timetable.tz if plan.timetable is not None else plan.contract.billing_tz
    local = row["usage_start"].astimezone(ZoneInfo(zone))
    dest = row.get("destination")
    if not dest or not (dest.isascii() and dest.isdigit()) or len(dest) > 15:
        out.reason = "invalid_destination"
        return
    version = _version_at(plan, row["usage_start"], voice=True)
    if version is None:
        out.reason = "no_tariff"
        return
    entry = _tariff_for(version, dest, out.band if plan.timetable is not None else None, local)
    if entry is None:
        out.reason = "no_tariff"
        return
    billable = row.get("billable_seconds") or 0
    billed = group_walk(entry, billable, True)[0] if walks(entry) else _increments(billable, entry)
    out.status, out.reason = "rated", None
    out.entry, out.entry_id, out.version_id = entry, entry.id, version.id
    out.item, out.prefix = entry.destination_group, entry.prefix
    out.billed_seconds = billed
    out.billable = billable
    out.qty = Fraction(billed)
    out.rate = F(entry.rate_per_minute)
    out.connect = F(entry.connect_fee) if (billable > 0 or entry.charge_unanswered) else Fraction(0)
    out.override = winner(
        plan, (RuleKind.UNIT_PRICE_OVERRIDE,), "voice", entry.destination_group, None
    )
    out.adjust = winner(
        plan, (RuleKind.DISCOUNT, RuleKind.MARKUP), "voice", entry.destination_group, None
    )
    for p in sorted(plan.profiles, key=lambda p: p.id):
        if p.unit is not ProfileUnit.MINUTES or row["account_id"] not in p.account_ids:
            continue
        if p.scope_destination_group is None or entry.destination_group.startswith(
            p.scope_destination_group
        ):
            out.profile = p
            break


def _finish_cdrs(rows: list[RefRow]) -> None:
    """Profiles in call order, then amounts."""
    groups: dict[tuple[int, int], list[RefRow]] = defaultdict(list)
    for r in rows:
        if r.profile is not None:
            groups[(r.profile.id, r.account_id)].append(r)
    covered: dict[int, tuple[Fraction, Decimal | None, int | None, int | None]] = {}
    for members in groups.values():
        members.sort(key=lambda r: (r.start, r.record_id))
        total = sum((r.qty for r in members), Fraction(0))
        pos = Fraction(0)
        for r in members:
            p = r.profile
            assert p is not None
            inc = F(p.included_quantity) * 60
            if p.tiers:
                tiers = [(F(t.from_qty) * 60, F(t.unit_price)) for t in p.tiers]
                amount, cov, first, last = price_slice(
                    pos, r.qty, tiers, p.tier_mode is TierMode.VOLUME, inc, total, 60
                )
                covered[id(r)] = (cov, amount, first, last)
            else:
                cov = max(Fraction(0), min(pos + r.qty, inc) - pos) if inc > 0 else Fraction(0)
                covered[id(r)] = (cov, None, None, None)
            pos += r.qty
    for r in rows:
        cov, tier_amount, first, last = covered.get(id(r), (Fraction(0), None, None, None))
        chargeable = r.qty - cov
        e = r.entry
        if tier_amount is not None:
            time_amount = tier_amount
        elif walks(e):
            # The allowance covers the call's first seconds: their walk's cost
            # comes off the whole walk's.
            full = walk_cost(e, r.billable, True)
            part = walk_cost(e, int(cov), False) if cov > 0 else Fraction(0)
            time_amount = round10(max(full - part, Fraction(0)))
        else:
            time_amount = round10(chargeable * r.rate / 60)
        list_amount = round10(r.connect) + time_amount
        if e.call_decimals is not None:
            list_amount = list_amount.quantize(
                Decimal(1).scaleb(-e.call_decimals), rounding=e.call_rounding.decimal_mode
            ).quantize(Decimal("1E-10"))
        if e.max_cost is not None:
            list_amount = min(list_amount, e.max_cost.quantize(Decimal("1E-10")))
        if r.override is not None:
            assert r.override.unit_price is not None
            net_base = round10(r.connect) + round10(chargeable * F(r.override.unit_price) / 60)
        else:
            net_base = list_amount
        r.quantity = Decimal(r.billed_seconds or 0).quantize(Decimal("1E-10"))
        r.included = round10(cov)
        r.list_amount = list_amount
        r.net_amount = adjust(net_base, r.adjust)
        r.profile_id = r.profile.id if r.profile is not None else None
        r.tier_first, r.tier_last = first, last
        r.rules = label(r)


# ---------------------------------------------------------------- cloud


def _price_for(version: Any, sku: str | None, region: str | None) -> PriceEntry | None:
    if version is None or sku is None:
        return None
    entries = _index(version, "prices")
    if region is not None and (sku, region) in entries:
        return entries[(sku, region)]  # type: ignore[no-any-return]
    return entries.get((sku, None))


def _rate_cloud(plan: RatingPlan, row: dict[str, Any], out: RefRow) -> None:
    out.service, out.item, out.region, out.unit = (
        row.get("service"),
        row.get("sku"),
        row.get("region"),
        row.get("unit"),
    )
    version = _version_at(plan, row["usage_start"])
    entry = _price_for(version, row.get("sku"), row.get("region"))
    override = winner(
        plan, (RuleKind.UNIT_PRICE_OVERRIDE,), row.get("service"), row.get("sku"), row.get("region")
    )
    contract = plan.contract
    if entry is not None or override is not None:
        if row.get("quantity") is None:
            out.reason = "invalid_quantity"
            return
        out.status, out.reason = "rated", None
        out.entry = entry
        out.override = override
        out.qty = F(row["quantity"])
        if entry is not None:
            out.entry_id, out.version_id = entry.id, version.id
            if entry.unit:
                out.unit = entry.unit
        for p in sorted(plan.profiles, key=lambda p: p.id):
            if (
                p.unit is ProfileUnit.UNITS
                and row["account_id"] in p.account_ids
                and p.scope_sku == row.get("sku")
            ):
                out.profile = p
                break
    elif contract.passthrough_unpriced:
        if row.get("list_cost") is None:
            out.reason = "no_price"
            return
        if row.get("currency") != contract.currency:
            out.reason = "currency_mismatch"
            return
        out.status, out.reason = "rated", None
        out.passthrough = True
    else:
        out.reason = "no_price"
        return
    out.adjust = winner(
        plan,
        (RuleKind.DISCOUNT, RuleKind.MARKUP),
        row.get("service"),
        row.get("sku"),
        row.get("region"),
    )


def _finish_cloud(rows: list[RefRow], by_id: dict[str, dict[str, Any]]) -> None:
    groups: dict[tuple[int, str], list[RefRow]] = defaultdict(list)
    for r in rows:
        if not r.passthrough:
            groups[(r.account_id, r.item or "")].append(r)
    for members in groups.values():
        members.sort(key=lambda r: (r.start, r.record_id))
        total = sum((r.qty for r in members), Fraction(0))
        pos = Fraction(0)
        for r in members:
            p = r.profile
            inc = F(p.included_quantity) if p is not None else Fraction(0)
            if p is not None and p.tiers:
                tiers, volume = (
                    tiers_of(p.tier_mode, p.tiers, Decimal(0)),
                    p.tier_mode is TierMode.VOLUME,
                )
            elif r.entry is not None:
                e = r.entry
                tiers, volume = (
                    tiers_of(e.tier_mode, e.tiers, e.unit_price),
                    e.tier_mode is TierMode.VOLUME,
                )
            else:
                tiers, volume = [(Fraction(0), Fraction(0))], False
            amount, cov, first, last = price_slice(pos, r.qty, tiers, volume, inc, total, 1)
            src = by_id[r.record_id]
            if r.entry is not None:
                r.list_amount = amount
            else:
                r.list_amount = src["list_cost"] if src.get("list_cost") is not None else Decimal(0)
            tiered_entry = r.entry is not None and r.entry.tier_mode is not TierMode.NONE
            if (p is not None and p.tiers) or (tiered_entry and not (p is not None and p.tiers)):
                r.tier_first, r.tier_last = first, last
            if r.override is not None:
                assert r.override.unit_price is not None
                net_base = round10((r.qty - cov) * F(r.override.unit_price))
            else:
                net_base = r.list_amount
            r.included = round10(cov)
            r.profile_id = p.id if p is not None else None
            r.net_amount = adjust(net_base, r.adjust)
            r.rules = label(r)
            pos += r.qty
    for r in rows:
        if r.passthrough:
            r.list_amount = by_id[r.record_id]["list_cost"]
            r.net_amount = adjust(r.list_amount, r.adjust)
            r.included = Decimal(0)
            r.rules = label(r)


# ---------------------------------------------------------------- the run


def _billing_day(start: datetime, period: Period) -> date:
    return max(start, period.start_utc).astimezone(ZoneInfo(period.tz)).date()


def reference_rate(usage: list[dict[str, Any]], plan: RatingPlan, period: Period) -> RefResult:
    rows: list[RefRow] = []
    out_of_period = 0
    by_id = {u["record_id"]: u for u in usage}
    for u in usage:
        if not in_period(u, period, plan.overlap_selection):
            out_of_period += 1
            continue
        r = RefRow(
            u["record_id"], u["kind"], u["account_id"], _billing_day(u["usage_start"], period)
        )
        r.start = u["usage_start"]
        rows.append(r)
        if u["kind"] not in ("cdr", "cloud"):
            r.reason = "unknown_kind"
            r.kind = "other"
            continue
        if u["kind"] == "cloud" and u.get("quantity") is not None:
            r.quantity = Decimal(u["quantity"]).quantize(Decimal("1E-10"))
        if owner_at(plan, u["account_id"], u["usage_start"]) != plan.customer_id:
            r.reason = "account_not_owned"
            if u["kind"] == "cdr":
                r.service, r.unit = "voice", "second"
                r.band = band_at(plan, u["usage_start"])
            else:
                r.service, r.item, r.region, r.unit = (
                    u.get("service"),
                    u.get("sku"),
                    u.get("region"),
                    u.get("unit"),
                )
            continue
        if u["kind"] == "cdr":
            _rate_cdr(plan, u, r)
        else:
            _rate_cloud(plan, u, r)
    rated = [r for r in rows if r.status == "rated"]
    _finish_cdrs([r for r in rated if r.kind == "cdr"])
    _finish_cloud([r for r in rated if r.kind == "cloud"], by_id)
    for r in rated:
        r.currency = plan.contract.currency
    if plan.timetable is None:
        for r in rows:
            r.band = None
    daily = _daily(rated)
    with localcontext() as ctx:
        ctx.prec = 100
        usage_list = sum((r.list_amount for r in rated if r.list_amount is not None), Decimal(0))
        usage_net = sum((r.net_amount for r in rated if r.net_amount is not None), Decimal(0))
        lines = _lines(plan, period, rated)
        total = round_money(usage_net, plan.contract.currency, plan.contract.rounding) + sum(
            (ln[3] for ln in lines), Decimal(0)
        )
    return RefResult(rows, out_of_period, daily, lines, usage_list, usage_net, total)


def _daily(rated: list[RefRow]) -> dict[tuple[Any, ...], dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rated:
        key = (
            r.account_id,
            r.day,
            r.kind,
            r.service,
            r.item,
            r.region,
            r.band,
            r.unit,
            r.version_id,
            r.rules,
        )
        d = out.setdefault(
            key,
            {
                "rows": 0,
                "quantity": Decimal(0),
                "included_quantity": Decimal(0),
                "list_amount": Decimal(0),
                "net_amount": Decimal(0),
                "entries": set(),
                "prefixes": set(),
            },
        )
        d["rows"] += 1
        d["quantity"] += r.quantity or Decimal(0)
        d["included_quantity"] += r.included or Decimal(0)
        d["list_amount"] += r.list_amount or Decimal(0)
        d["net_amount"] += r.net_amount or Decimal(0)
        d["entries"].add(r.entry_id)
        d["prefixes"].add(r.prefix)
    for d in out.values():
        entries, prefixes = d.pop("entries"), d.pop("prefixes")
        d["entry_id"] = next(iter(entries)) if len(entries) == 1 else None
        d["prefix"] = next(iter(prefixes)) if len(prefixes) == 1 else None
    return out


def _scope_spend(rule: ContractRule, rated: list[RefRow]) -> Decimal:
    total = Decimal(0)
    for r in rated:
        if _matches(rule, r.service, r.item, r.region):
            assert r.net_amount is not None
            total += r.net_amount
    return total


def _lines(plan: RatingPlan, period: Period, rated: list[RefRow]) -> list[tuple[Any, ...]]:
    """(kind, source id, account, amount, month) per period line, in order."""
    c = plan.contract
    cur, mode = c.currency, c.rounding
    out: list[tuple[Any, ...]] = []

    def by_kind(kind: RuleKind) -> list[ContractRule]:
        return sorted((r for r in c.rules if r.kind is kind), key=lambda r: (r.order, r.id))

    for rule in by_kind(RuleKind.SUPPORT_FEE):
        assert rule.percent is not None
        spend = _scope_spend(rule, rated)
        out.append(
            ("support_fee", rule.id, None, round_money(spend * rule.percent / 100, cur, mode), None)
        )
    for rule in by_kind(RuleKind.MINIMUM_COMMITMENT):
        assert rule.amount is not None
        spend = _scope_spend(rule, rated)
        if spend < rule.amount:
            out.append(
                (
                    "minimum_commitment",
                    rule.id,
                    None,
                    round_money(rule.amount - spend, cur, mode),
                    None,
                )
            )
    for rule in by_kind(RuleKind.CREDIT):
        if rule.amount is not None:
            out.append(("credit", rule.id, None, round_money(-rule.amount, cur, mode), None))
        else:
            assert rule.percent is not None
            spend = _scope_spend(rule, rated)
            out.append(
                (
                    "credit",
                    rule.id,
                    None,
                    round_money(-(spend * rule.percent / 100), cur, mode),
                    None,
                )
            )
    for item in sorted(c.custom_line_items, key=lambda i: i.id):
        amount = round_money(item.amount, cur, mode)
        if item.one_off_date is not None:
            if period.start <= item.one_off_date < period.end:
                out.append(("custom", item.id, None, amount, None))
            continue
        assert item.recurring_from is not None
        m = Month.of(period.start)
        while m.first_day < period.end:
            first, after = m.first_day, m.next().first_day
            if item.recurring_from < after and (
                item.recurring_to is None or item.recurring_to >= first
            ):
                out.append(("custom", item.id, None, amount, str(m)))
            m = m.next()
    owned: set[int] = set()
    for o in plan.ownership:
        if (
            o.customer_id == plan.customer_id
            and o.valid_from < period.end_utc
            and (o.valid_to is None or o.valid_to > period.start_utc)
        ):
            owned.add(o.account_id)
    for p in sorted(plan.profiles, key=lambda p: p.id):
        if p.period_fee is None:
            continue
        for a in sorted(p.account_ids):
            if a in owned:
                out.append(("profile_fee", p.id, a, round_money(p.period_fee, cur, mode), None))
    return out
