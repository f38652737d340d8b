"""Hypothesis strategies: random but nasty plans and usage.

Everything is drawn small (few digits, few accounts, few prefixes) so that
collisions are frequent: nested prefixes, equal start instants, tier
boundaries inside rows, ownership changes and version activations inside
the period, bands crossing midnight, periods around DST changes and leap days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from rerate.kit.money import RoundingMode
from rerate.kit.periods import Month, Period
from rerate.rating.plan import (
    BandRule,
    ConsumptionProfile,
    Contract,
    ContractRule,
    CustomLineItem,
    Holiday,
    Ownership,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
    ProfileUnit,
    RateGroup,
    RatingPlan,
    RuleKind,
    TariffEntry,
    Tier,
    TierMode,
    Timetable,
    Timing,
)

ZONES = ("UTC", "Europe/Paris", "America/New_York", "Australia/Sydney", "America/Santiago")
# Months with a DST change in at least one zone above, a leap February and a plain one.
MONTHS = (
    Month(2026, 3),
    Month(2026, 4),
    Month(2026, 10),
    Month(2026, 11),
    Month(2024, 2),
    Month(2026, 8),
)
BANDS = ("peak", "offpeak", "weekend")
CUSTOMER = 7
OTHER = 8
ACCOUNTS = (1, 2, 3)
GROUPS = ("Alpha", "Alpha Mobile", "Beta", "Gamma")
SKUS = ("s1", "s2", "s3")
REGIONS = ("eu", "us")
SERVICES = ("compute", "storage")


@st.composite
def money(draw: st.DrawFn, max_int: int = 10**6, max_places: int = 10) -> Decimal:
    """A non-negative Decimal with up to max_places decimals: awkward digits on purpose."""
    places = draw(st.integers(0, max_places))
    return Decimal(draw(st.integers(0, max_int))).scaleb(-places)


@st.composite
def percent(draw: st.DrawFn) -> Decimal:
    return Decimal(draw(st.integers(0, 10**4))).scaleb(-draw(st.integers(0, 6)))


def instant_in(period: Period, margin_days: int = 3) -> st.SearchStrategy[datetime]:
    """An instant from a little before the period to a little after it; seconds
    are drawn from a coarse grid so that equal instants happen."""
    lo = period.start_utc
    margin = margin_days * 86400
    span = int((period.end_utc - lo).total_seconds())
    return st.one_of(
        st.integers(-margin // 900, (span + margin) // 900).map(
            lambda k: lo + timedelta(seconds=900 * k)
        ),
        st.integers(-margin, span + margin).map(lambda s: lo + timedelta(seconds=s)),
        # Right around the period's boundaries.
        st.sampled_from([period.start_utc, period.end_utc]).flatmap(
            lambda b: st.integers(-7200, 7200).map(lambda s: b + timedelta(seconds=s))
        ),
    )


@st.composite
def periods(draw: st.DrawFn) -> Period:
    return draw(st.sampled_from(MONTHS)).in_zone(draw(st.sampled_from(ZONES)))


@st.composite
def timetables(draw: st.DrawFn, period: Period) -> Timetable | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        rules.append(
            BandRule(
                band=draw(st.sampled_from(BANDS)),
                weekdays=frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
                start=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))),
                end=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))),
                priority=draw(st.integers(0, 2)),
            )
        )
    days = period.start + timedelta(days=draw(st.integers(0, 27)))
    holidays = (Holiday(days, draw(st.sampled_from(BANDS))),) if draw(st.booleans()) else ()
    return Timetable(
        id=1,
        tz=draw(st.sampled_from(ZONES)),
        default_band=draw(st.sampled_from(BANDS)),
        rules=tuple(rules),
        holidays=holidays,
    )


@st.composite
def tiers(draw: st.DrawFn, scale: int = 1) -> tuple[TierMode, tuple[Tier, ...]]:
    mode = draw(st.sampled_from([TierMode.NONE, TierMode.GRADUATED, TierMode.VOLUME]))
    if mode is TierMode.NONE:
        return mode, ()
    bounds = sorted(draw(st.sets(st.integers(1, 40), max_size=3)))
    froms = [Decimal(0)] + [Decimal(b).scaleb(-1) * scale for b in bounds]
    return mode, tuple(Tier(f, draw(money(10**5))) for f in froms)


@st.composite
def versions(draw: st.DrawFn, period: Period, cloud: bool) -> tuple[PriceBookVersion, ...]:
    count = draw(st.integers(1, 3))
    instants = {
        draw(instant_in(period, margin_days=10)).replace(microsecond=0) for _ in range(count)
    }
    if draw(st.integers(0, 3)):
        # Usually a version is already in force when the period starts.
        instants.add(period.start_utc - timedelta(days=40))
    out = []
    next_id = 1000
    for i, eff in enumerate(sorted(instants)):
        tariffs = []
        prices = []
        if cloud:
            for sku in SKUS:
                for region in (None, *REGIONS):
                    if draw(st.integers(0, 2)):
                        mode, ts = draw(tiers())
                        prices.append(
                            PriceEntry(
                                next_id,
                                sku,
                                draw(money(10**5)),
                                region=region,
                                unit=draw(st.sampled_from(["", "GB"])),
                                tier_mode=mode,
                                tiers=ts,
                            )
                        )
                        next_id += 1
        else:
            short = st.text("123", min_size=1, max_size=2)
            prefixes = draw(
                st.sets(
                    st.one_of(short, short, st.text("123", min_size=3, max_size=4), st.just("")),
                    min_size=1,
                    max_size=10,
                )
            )
            for p in sorted(prefixes):
                for band in draw(
                    st.sets(st.sampled_from((None, *BANDS, "foreign")), min_size=1, max_size=2)
                ):
                    # Usually one untimed entry; sometimes timed ones beside it.
                    timings = draw(
                        st.one_of(
                            st.just([None]),
                            st.just([None]),
                            st.lists(
                                st.one_of(st.none(), st.sampled_from(TIMINGS)),
                                min_size=1,
                                max_size=3,
                                unique_by=lambda t: None if t is None else t.key,
                            ),
                        )
                    )
                    for timing in timings:
                        tariffs.append(
                            TariffEntry(
                                id=next_id,
                                prefix=p,
                                destination_group=draw(st.sampled_from(GROUPS)),
                                rate_per_minute=draw(money(10**6)),
                                connect_fee=draw(st.sampled_from([Decimal(0), Decimal("0.0123")])),
                                min_seconds=draw(st.sampled_from([0, 0, 10, 60])),
                                initial_increment=draw(st.sampled_from([1, 6, 30, 60])),
                                subsequent_increment=draw(st.sampled_from([1, 6, 30, 60])),
                                band=band,
                                charge_unanswered=draw(st.booleans()),
                                timing=timing,
                                **draw(carrier_terms()),
                            )
                        )
                        next_id += 1
        out.append(
            PriceBookVersion(10 + i, i + 1, eff, prices=tuple(prices), tariffs=tuple(tariffs))
        )
    return tuple(out)


# Timings overlap on purpose (weekday mornings and evenings, a month, a day
# of the month, a year), so weights and start times have to decide.
TIMINGS = (
    Timing(weekdays=frozenset(range(5)), start=time(8), name="PEAK"),
    Timing(weekdays=frozenset(range(5)), start=time(19), name="EVENING"),
    Timing(weekdays=frozenset({5, 6}), name="WEEKEND"),
    Timing(months=frozenset({3, 10}), start=time(1, 30), name="DST MONTHS"),
    Timing(monthdays=frozenset({1, 15, 29, 31}), start=time(12), name="DAYS"),
    Timing(years=frozenset({2024}), name="2024"),
    # Starts with PEAK in every drawn month: ties go to the lower rate.
    Timing(months=frozenset({2, 3, 4, 8, 10, 11}), start=time(8), name="MONTHS"),
)


@st.composite
def carrier_terms(draw: st.DrawFn) -> dict[str, Any]:
    """Rate groups, increment and call rounding, maximum cost and weight of a
    tariff entry; often none of them."""
    if draw(st.integers(0, 2)) == 0:
        return {"weight": draw(st.sampled_from([0, 0, 10]))}
    starts = sorted(draw(st.sets(st.sampled_from([10, 30, 45, 60, 61, 120, 300]), max_size=3)))
    groups = tuple(
        RateGroup(frm, draw(money(10**3, 6)), draw(st.sampled_from([1, 6, 30, 60])))
        for frm in starts
    )
    call_decimals = draw(st.one_of(st.none(), st.integers(0, 5)))
    return {
        "rate_groups": groups,
        "increment_decimals": draw(st.one_of(st.none(), st.integers(0, 6))),
        "call_decimals": call_decimals,
        "call_rounding": draw(st.sampled_from(list(RoundingMode))),
        "max_cost": draw(st.one_of(st.none(), money(10, 4).filter(lambda m: m > 0))),
        "weight": draw(st.sampled_from([0, 0, 10])),
    }


@st.composite
def ownership(draw: st.DrawFn, period: Period) -> tuple[Ownership, ...]:
    out = []
    for account in ACCOUNTS:
        moves = draw(st.sampled_from([0, 0, 0, 1, 2]))
        cuts = sorted({draw(instant_in(period)) for _ in range(moves)})
        edges = [datetime(2000, 1, 1, tzinfo=UTC), *cuts]
        owner = draw(st.sampled_from([CUSTOMER, CUSTOMER, CUSTOMER, OTHER]))
        for i, start in enumerate(edges):
            end = edges[i + 1] if i + 1 < len(edges) else None
            out.append(Ownership(account, owner, start, end))
            owner = OTHER if owner == CUSTOMER else CUSTOMER
    return tuple(out)


@st.composite
def contract_rules(draw: st.DrawFn, cloud: bool) -> tuple[ContractRule, ...]:
    skus = SKUS if cloud else GROUPS
    services = SERVICES if cloud else ("voice",)
    rules = []
    rid = 1
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(list(RuleKind)))
        scope: dict[str, Any] = {
            "service": draw(st.one_of(st.none(), st.sampled_from(services))),
            "sku": draw(st.one_of(st.none(), st.sampled_from(skus))),
            "region": draw(st.one_of(st.none(), st.sampled_from(REGIONS))) if cloud else None,
        }
        order = draw(st.integers(0, 2))
        if kind is RuleKind.UNIT_PRICE_OVERRIDE:
            scope["sku"] = scope["sku"] or skus[0]
            rules.append(ContractRule(rid, kind, order, unit_price=draw(money(10**5)), **scope))
        elif kind in (RuleKind.DISCOUNT, RuleKind.MARKUP, RuleKind.SUPPORT_FEE):
            pct = draw(percent())
            if kind is RuleKind.DISCOUNT:
                pct = min(pct, Decimal(100))
            rules.append(ContractRule(rid, kind, order, percent=pct, **scope))
        elif kind is RuleKind.MINIMUM_COMMITMENT:
            rules.append(ContractRule(rid, kind, order, amount=draw(money(10**4, 2)), **scope))
        elif draw(st.booleans()):
            rules.append(ContractRule(rid, kind, order, amount=draw(money(10**4, 4)), **scope))
        else:
            rules.append(ContractRule(rid, kind, order, percent=draw(percent()), **scope))
        rid += 1
    return tuple(rules)


@st.composite
def custom_items(draw: st.DrawFn, period: Period) -> tuple[CustomLineItem, ...]:
    items = []
    for i in range(draw(st.integers(0, 2))):
        day = period.start + timedelta(days=draw(st.integers(-40, 40)))
        if draw(st.booleans()):
            items.append(CustomLineItem(i + 1, f"item {i}", draw(money(10**6)), one_off_date=day))
        else:
            end = day + timedelta(days=draw(st.integers(0, 90))) if draw(st.booleans()) else None
            items.append(
                CustomLineItem(
                    i + 1, f"item {i}", draw(money(10**6)), recurring_from=day, recurring_to=end
                )
            )
    return tuple(items)


@st.composite
def profiles(draw: st.DrawFn, cloud: bool) -> tuple[ConsumptionProfile, ...]:
    out = []
    for i in range(draw(st.sampled_from([0, 1, 1, 2]))):
        # Quarter minutes: every allowance and tier bound is a whole number of seconds.
        included = Decimal(draw(st.integers(0, 40))) / 4
        mode, ts = draw(tiers(scale=1 if cloud else 5))
        common: dict[str, Any] = {
            "id": i + 1,
            "name": f"p{i}",
            "account_ids": frozenset(draw(st.sets(st.sampled_from(ACCOUNTS), min_size=1))),
            "included_quantity": included,
            "tier_mode": mode,
            "tiers": ts,
            "period_fee": draw(st.one_of(st.none(), money(10**5, 3))),
        }
        if cloud:
            out.append(
                ConsumptionProfile(
                    unit=ProfileUnit.UNITS, scope_sku=draw(st.sampled_from(SKUS)), **common
                )
            )
        else:
            scope = draw(st.one_of(st.none(), st.sampled_from(["Alpha", "Beta", "G"])))
            out.append(
                ConsumptionProfile(
                    unit=ProfileUnit.MINUTES, scope_destination_group=scope, **common
                )
            )
    return tuple(out)


@st.composite
def plans(draw: st.DrawFn, period: Period, cloud: bool) -> RatingPlan:
    book = PriceBook(1, "EUR", draw(versions(period, cloud)))
    contract = Contract(
        id=1,
        customer_id=CUSTOMER,
        currency="EUR",
        billing_tz=period.tz,
        rounding=draw(
            st.sampled_from([RoundingMode.HALF_UP, RoundingMode.HALF_EVEN, RoundingMode.DOWN])
        ),
        passthrough_unpriced=draw(st.booleans()),
        rules=draw(contract_rules(cloud)),
        custom_line_items=draw(custom_items(period)),
    )
    return RatingPlan(
        contract=contract,
        price_book=book,
        timetable=None if cloud else draw(timetables(period)),
        profiles=draw(profiles(cloud)),
        ownership=draw(ownership(period)),
        overlap_selection=draw(st.booleans()),
    )


@st.composite
def cdr_rows(
    draw: st.DrawFn, period: Period, prefixes: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """CDRs; most destinations extend one of `prefixes` so that they match."""
    known = st.sampled_from(prefixes or ("1",))
    extended = st.tuples(known, st.text("123", max_size=3)).map("".join)
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        start = draw(instant_in(period))
        billable = draw(st.one_of(st.just(0), st.none(), *[st.integers(1, 400)] * 4))
        dest = draw(
            st.one_of(
                *[extended] * 4,
                st.text("123", min_size=1, max_size=6),
                st.sampled_from(["", "12a", "3" * 17]),
            )
        )
        rows.append(
            {
                "kind": "cdr",
                "account_id": draw(st.sampled_from((*ACCOUNTS, *ACCOUNTS, 9))),
                "usage_start": start,
                "usage_end": start + timedelta(seconds=(billable or 0) + draw(st.integers(0, 30))),
                "destination": draw(st.one_of(st.just(dest), st.none())) if dest == "" else dest,
                "billable_seconds": billable,
                "duration_seconds": (billable or 0) + 5,
            }
        )
    return rows


@st.composite
def cloud_rows(draw: st.DrawFn, period: Period) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        start = draw(instant_in(period))
        qty = draw(
            st.one_of(
                st.integers(1, 60).map(lambda k: Decimal(k).scaleb(-1)),
                money(10**4, 6),
                st.none(),
                money(10**3, 2).map(lambda q: -q),
            )
        )
        rows.append(
            {
                "kind": draw(st.sampled_from(["cloud", "cloud", "cloud", "cloud", "other"])),
                "account_id": draw(st.sampled_from((*ACCOUNTS, *ACCOUNTS, 9))),
                "usage_start": start,
                "usage_end": start + timedelta(hours=draw(st.sampled_from([0, 1, 24, 30 * 24]))),
                "service": draw(st.sampled_from(SERVICES)),
                "sku": draw(st.sampled_from((*SKUS, *SKUS, "s9", None))),
                "region": draw(st.one_of(st.none(), st.sampled_from(REGIONS))),
                "quantity": qty,
                "unit": "h",
                "list_cost": draw(st.one_of(st.none(), money(10**5, 4))),
                "currency": draw(st.sampled_from(["EUR", "EUR", "USD", None])),
            }
        )
    return rows


def day_of(period: Period, offset: int) -> date:
    return period.start + timedelta(days=offset)
