"""Golden cases: small scenarios whose expected numbers were worked out by hand.

The arithmetic is written next to every expected value. Amounts are per-row
values at 10 decimal places (half away from zero) unless the test says it
checks a period line or a total, which are rounded to the cent.
Every scenario is also run through the reference rater (`compare`), so a
golden case checks the engine, the reference and the documentation at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from rerate.kit.money import RoundingMode
from rerate.kit.periods import Month, Period
from rerate.rating.engine import RatingResult
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
    RatingPlan,
    RuleKind,
    TariffEntry,
    Tier,
    TierMode,
    Timetable,
)

from .helpers import compare, utc

D = Decimal
AUG = Month(2026, 8).in_zone("UTC")
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
OWN = (Ownership(1, 7, SINCE), Ownership(2, 7, SINCE))


def tariff(tid: int, prefix: str, rate: str, group: str = "G", **kw: Any) -> TariffEntry:
    return TariffEntry(tid, prefix, group, D(rate), **kw)


def book(*versions: tuple[str, tuple[Any, ...]]) -> PriceBook:
    """Versions as (effective_from, entries); entries are tariffs or prices."""
    out = []
    for i, (eff, entries) in enumerate(versions):
        tariffs = tuple(e for e in entries if isinstance(e, TariffEntry))
        prices = tuple(e for e in entries if isinstance(e, PriceEntry))
        out.append(PriceBookVersion(10 + i, i + 1, utc(eff), prices=prices, tariffs=tariffs))
    return PriceBook(1, "EUR", tuple(out))


def plan(
    entries: tuple[Any, ...] = (),
    *,
    versions: PriceBook | None = None,
    tz: str = "UTC",
    rules: tuple[ContractRule, ...] = (),
    items: tuple[CustomLineItem, ...] = (),
    timetable: Timetable | None = None,
    profiles: tuple[ConsumptionProfile, ...] = (),
    ownership: tuple[Ownership, ...] = OWN,
    passthrough: bool = False,
    rounding: RoundingMode = RoundingMode.HALF_UP,
    overlap: bool = False,
    customer: int = 7,
) -> RatingPlan:
    return RatingPlan(
        contract=Contract(1, customer, "EUR", tz, rounding, passthrough, rules, items),
        price_book=versions or book(("2026-01-01T00:00", entries)),
        timetable=timetable,
        profiles=profiles,
        ownership=ownership,
        overlap_selection=overlap,
    )


def cdr(
    dest: str, billable: int, start: str = "2026-08-03T10:00", account: int = 1
) -> dict[str, Any]:
    return {
        "kind": "cdr",
        "account_id": account,
        "usage_start": utc(start),
        "destination": dest,
        "billable_seconds": billable,
    }


def usage(
    sku: str | None,
    qty: str,
    start: str = "2026-08-03T10:00",
    *,
    region: str | None = None,
    service: str = "compute",
    cost: str | None = None,
    currency: str = "EUR",
    account: int = 1,
    end: str | None = None,
) -> dict[str, Any]:
    return {
        "kind": "cloud",
        "account_id": account,
        "usage_start": utc(start),
        "usage_end": utc(end or start),
        "service": service,
        "sku": sku,
        "region": region,
        "quantity": D(qty),
        "unit": "h",
        "list_cost": D(cost) if cost else None,
        "currency": currency,
    }


def run(rows: list[dict[str, Any]], p: RatingPlan, period: Period = AUG) -> RatingResult:
    result, _ = compare(rows, p, period)
    return result


def col(result: RatingResult, name: str) -> list[Any]:
    return [r[name] for r in result.rated.to_pylist()]


# ------------------------------------------------------------------ voice


def test_per_second_billing_rounds_half_up_at_ten_places() -> None:
    r = run([cdr("3312345", 65)], plan((tariff(1, "33", "0.02"),)))
    # 65 s * 0.02 EUR/min / 60 = 1.3 / 60 = 0.0216666666|66... -> 0.0216666667
    assert col(r, "list_amount") == [D("0.0216666667")]
    assert col(r, "billed_seconds") == [65]


def test_increments_30_6_round_up_the_tail() -> None:
    r = run(
        [cdr("3312345", 65), cdr("3312345", 10)],
        plan((tariff(1, "33", "0.10", initial_increment=30, subsequent_increment=6),)),
    )
    # 65 s -> 30 + ceil((65 - 30) / 6) * 6 = 30 + 6 * 6 = 66 s; 66 * 0.10 / 60 = 0.11
    # 10 s -> shorter than the initial increment: 30 s; 30 * 0.10 / 60 = 0.05
    assert col(r, "billed_seconds") == [66, 30]
    assert col(r, "list_amount") == [D("0.11"), D("0.05")]


def test_increments_60_60() -> None:
    r = run(
        [cdr("3312345", 61)],
        plan((tariff(1, "33", "0.05", initial_increment=60, subsequent_increment=60),)),
    )
    # 61 s -> 60 + ceil(1 / 60) * 60 = 120 s; 120 * 0.05 / 60 = 0.10
    assert col(r, "billed_seconds") == [120]
    assert col(r, "list_amount") == [D("0.10")]


def test_minimum_billable_seconds() -> None:
    r = run([cdr("3312345", 7)], plan((tariff(1, "33", "0.03", min_seconds=60),)))
    # 7 s with 1/1 increments is 7 s, raised to the 60 s minimum; 60 * 0.03 / 60 = 0.03
    assert col(r, "billed_seconds") == [60]
    assert col(r, "list_amount") == [D("0.03")]


def test_connect_fee_is_added_to_answered_calls() -> None:
    r = run([cdr("3312345", 10)], plan((tariff(1, "33", "0.12", connect_fee=D("0.05")),)))
    # 0.05 connect + 10 * 0.12 / 60 = 0.05 + 0.02 = 0.07
    assert col(r, "list_amount") == [D("0.07")]


def test_unanswered_calls_are_free_unless_the_entry_charges_them() -> None:
    free = run([cdr("3312345", 0)], plan((tariff(1, "33", "0.12", connect_fee=D("0.05")),)))
    charged = run(
        [cdr("3312345", 0)],
        plan((tariff(1, "33", "0.12", connect_fee=D("0.05"), charge_unanswered=True),)),
    )
    # 0 billable seconds: 0 s billed; the connect fee only when charge_unanswered
    assert col(free, "status") == ["rated"]
    assert col(free, "list_amount") == [D(0)]
    assert col(charged, "list_amount") == [D("0.05")]


def test_longest_prefix_wins() -> None:
    p = plan((tariff(1, "33", "0.02"), tariff(2, "336", "0.10"), tariff(3, "3367", "0.20")))
    r = run([cdr("33671234567", 60), cdr("33612", 60), cdr("3312", 60)], p)
    # 60 s each: 3367 -> 0.20; 336 -> 0.10; 33 -> 0.02 (rate per minute * 1 minute)
    assert col(r, "prefix") == ["3367", "336", "33"]
    assert col(r, "list_amount") == [D("0.20"), D("0.10"), D("0.02")]


def test_a_number_shorter_than_a_prefix_never_matches_it() -> None:
    p = plan((tariff(1, "33", "0.02"), tariff(2, "33610", "0.50")))
    r = run([cdr("3361", 60), cdr("336105", 60)], p)
    # "3361" is not "33610..." although zero padding would make it look so: 33 -> 0.02
    # "336105" starts with 33610 -> 0.50
    assert col(r, "prefix") == ["33", "33610"]
    assert col(r, "list_amount") == [D("0.02"), D("0.50")]


PARIS_TT = Timetable(
    1, "Europe/Paris", "offpeak", rules=(BandRule("peak", frozenset(range(5)), time(8), time(19)),)
)


def test_banded_entry_beats_band_less_in_its_band() -> None:
    p = plan(
        (tariff(1, "336", "0.10"), tariff(2, "336", "0.30", band="peak")),
        timetable=PARIS_TT,
        tz="Europe/Paris",
    )
    # Monday 2026-08-03 08:00Z = 10:00 CEST -> peak -> 0.30 per minute for 60 s
    # Monday 2026-08-03 18:00Z = 20:00 CEST -> offpeak -> the band-less 0.10
    r = run(
        [cdr("33612", 60, "2026-08-03T08:00"), cdr("33612", 60, "2026-08-03T18:00")],
        p,
        Month(2026, 8).in_zone("Europe/Paris"),
    )
    assert col(r, "band") == ["peak", "offpeak"]
    assert col(r, "list_amount") == [D("0.30"), D("0.10")]


def test_band_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    tt = Timetable(
        1, "UTC", "day", rules=(BandRule("night", frozenset({4}), time(22), time(6), priority=5),)
    )
    p = plan((tariff(1, "1", "0.06"), tariff(2, "1", "0.01", band="night")), timetable=tt)
    # Friday 22:00 -> Saturday 06:00 is "night": Saturday 03:00 is night (0.01 per minute);
    # Sunday 03:00 follows Saturday, which is not listed: day (0.06 per minute).
    r = run([cdr("155", 60, "2026-08-08T03:00"), cdr("155", 60, "2026-08-09T03:00")], p)
    assert col(r, "band") == ["night", "day"]
    assert col(r, "list_amount") == [D("0.01"), D("0.06")]


def test_bands_follow_local_time_across_the_spring_dst_change() -> None:
    tt = Timetable(
        1,
        "Europe/Paris",
        "offpeak",
        rules=(BandRule("peak", frozenset(range(7)), time(8), time(19)),),
    )
    p = plan(
        (tariff(1, "33", "0.10"), tariff(2, "33", "0.30", band="peak")),
        timetable=tt,
        tz="Europe/Paris",
    )
    # 2026-03-29 06:30Z is 08:30 CEST (clocks went 02:00 -> 03:00 that night): peak, 0.30
    # 2026-03-28 06:30Z is 07:30 CET: offpeak, 0.10
    r = run(
        [cdr("331", 60, "2026-03-29T06:30"), cdr("331", 60, "2026-03-28T06:30")],
        p,
        Month(2026, 3).in_zone("Europe/Paris"),
    )
    assert col(r, "band") == ["peak", "offpeak"]
    assert col(r, "list_amount") == [D("0.30"), D("0.10")]


def test_holiday_band_beats_the_weekday_rules() -> None:
    tt = Timetable(
        1,
        "UTC",
        "offpeak",
        rules=(BandRule("peak", frozenset(range(5)), time(8), time(19)),),
        holidays=(Holiday(date(2026, 8, 14), "holiday"),),
    )
    p = plan((tariff(1, "1", "0.06"), tariff(2, "1", "0", band="holiday")), timetable=tt)
    # Friday 2026-08-14 10:00 would be peak, but the date is a holiday: 0 per minute
    # Thursday 2026-08-13 10:00 is peak; no peak entry, so the band-less 0.06 applies
    r = run([cdr("12", 60, "2026-08-14T10:00"), cdr("12", 60, "2026-08-13T10:00")], p)
    assert col(r, "band") == ["holiday", "peak"]
    assert col(r, "list_amount") == [D(0), D("0.06")]


def test_tariff_version_in_force_at_the_call_start() -> None:
    versions = book(
        ("2026-01-01T00:00", (tariff(1, "33", "0.02"),)),
        ("2026-08-15T00:00", (tariff(2, "33", "0.04"),)),
    )
    r = run(
        [cdr("331", 60, "2026-08-14T23:59:59"), cdr("331", 60, "2026-08-15T00:00")],
        plan(versions=versions),
    )
    # One second before the activation: version 1 (0.02 per minute * 1 min);
    # at the activation instant itself (effective_from is inclusive): version 2, 0.04
    assert col(r, "version_id") == [10, 11]
    assert col(r, "list_amount") == [D("0.02"), D("0.04")]


def test_a_later_version_can_remove_a_prefix() -> None:
    versions = book(
        ("2026-01-01T00:00", (tariff(1, "33", "0.02"), tariff(2, "336", "0.10"))),
        ("2026-08-10T00:00", (tariff(3, "33", "0.03"),)),
    )
    r = run(
        [cdr("3361", 60, "2026-08-05T10:00"), cdr("3361", 60, "2026-08-12T10:00")],
        plan(versions=versions),
    )
    # Before: 336 at 0.10; after v2 (a complete deck without 336): 33 at 0.03
    assert col(r, "entry_id") == [2, 3]
    assert col(r, "list_amount") == [D("0.10"), D("0.03")]


def test_unmatched_calls_are_kept_unrated_and_counted() -> None:
    r = run([cdr("4420123", 60), cdr("331", 60)], plan((tariff(1, "33", "0.02"),)))
    assert col(r, "status") == ["unrated", "rated"]
    assert col(r, "reason") == ["no_tariff", None]
    assert r.summary.unrated_by_reason == {"no_tariff": 1}
    # Only the rated call counts: 0.02 per minute * 1 minute
    assert r.summary.totals["EUR"].usage_net == D("0.02")


def test_profile_allowance_splits_the_crossing_call_by_seconds() -> None:
    prof = ConsumptionProfile(
        1, "bundle", ProfileUnit.MINUTES, frozenset({1}), included_quantity=D("1.5")
    )
    r = run(
        [cdr("331", 66, "2026-08-03T10:00"), cdr("331", 65, "2026-08-03T11:00")],
        plan((tariff(1, "33", "0.02"),), profiles=(prof,)),
    )
    # 1.5 min = 90 s included. Call 1: 66 s, all covered -> 0.
    # Call 2: 65 s, 24 covered (90 - 66), 41 chargeable: 41 * 0.02 / 60 = 0.82 / 60
    #   = 0.013666666|6... -> 0.0136666667
    assert col(r, "included_quantity") == [D(66), D(24)]
    assert col(r, "list_amount") == [D(0), D("0.0136666667")]


def test_profile_graduated_minute_tiers_split_a_call() -> None:
    prof = ConsumptionProfile(
        1,
        "tiers",
        ProfileUnit.MINUTES,
        frozenset({1}),
        tier_mode=TierMode.GRADUATED,
        tiers=(Tier(D(0), D("0.05")), Tier(D(2), D("0.02"))),
    )
    r = run(
        [cdr("331", 100, "2026-08-03T10:00"), cdr("331", 50, "2026-08-03T11:00")],
        plan((tariff(1, "33", "0.99"),), profiles=(prof,)),
    )
    # Tier bound 2 min = 120 s; the tariff's 0.99 is replaced by the profile's rates.
    # Call 1 [0, 100 s): 100 * 0.05 / 60 = 5 / 60 = 0.0833333333|3 -> 0.0833333333
    # Call 2 [100, 150 s): 20 s * 0.05 / 60 = 0.0166666666|7 -> 0.0166666667
    #                      30 s * 0.02 / 60 = 0.01;  sum 0.0266666667
    assert col(r, "list_amount") == [D("0.0833333333"), D("0.0266666667")]
    assert col(r, "tier_first") == [0, 0]
    assert col(r, "tier_last") == [0, 1]


def test_profile_volume_tiers_price_every_second_at_the_reached_tier() -> None:
    prof = ConsumptionProfile(
        1,
        "volume",
        ProfileUnit.MINUTES,
        frozenset({1}),
        tier_mode=TierMode.VOLUME,
        tiers=(Tier(D(0), D("0.05")), Tier(D(2), D("0.02"))),
    )
    r = run(
        [cdr("331", 100, "2026-08-03T10:00"), cdr("331", 50, "2026-08-03T11:00")],
        plan((tariff(1, "33", "0.99"),), profiles=(prof,)),
    )
    # Period total 150 s = 2.5 min >= 2 min: every second at 0.02 per minute.
    # 100 * 0.02 / 60 = 0.0333333333; 50 * 0.02 / 60 = 0.0166666667
    assert col(r, "list_amount") == [D("0.0333333333"), D("0.0166666667")]


def test_account_ownership_moves_between_customers() -> None:
    moved = datetime(2026, 8, 10, tzinfo=UTC)
    own = (Ownership(1, 7, SINCE, moved), Ownership(1, 8, moved))
    rows = [cdr("331", 60, "2026-08-09T10:00"), cdr("331", 60, "2026-08-11T10:00")]
    first = run(rows, plan((tariff(1, "33", "0.02"),), ownership=own, customer=7))
    second = run(rows, plan((tariff(1, "33", "0.02"),), ownership=own, customer=8))
    # Customer 7 owned account 1 until 2026-08-10T00:00Z, customer 8 from then on.
    assert col(first, "reason") == [None, "account_not_owned"]
    assert col(second, "reason") == ["account_not_owned", None]
    # Each run bills exactly one of the two calls: 0.02 per minute * 1 minute
    assert first.summary.totals["EUR"].usage_net == D("0.02")
    assert second.summary.totals["EUR"].usage_net == D("0.02")


def test_voice_override_then_discount() -> None:
    rules = (
        ContractRule(1, RuleKind.UNIT_PRICE_OVERRIDE, sku="France Mobile", unit_price=D("0.06")),
        ContractRule(2, RuleKind.DISCOUNT, sku="France Mobile", percent=D(10)),
    )
    r = run(
        [cdr("33612", 65)],
        plan(
            (
                tariff(
                    1, "336", "0.10", "France Mobile", initial_increment=30, subsequent_increment=6
                ),
            ),
            rules=rules,
        ),
    )
    # 65 s -> 66 s billed. List: 66 * 0.10 / 60 = 0.11.
    # Net: override 66 * 0.06 / 60 = 0.066, then -10%: 0.066 * 0.9 = 0.0594
    assert col(r, "list_amount") == [D("0.11")]
    assert col(r, "net_amount") == [D("0.0594")]
    assert col(r, "rules") == ["override:1,discount:2"]


# ------------------------------------------------------------------ cloud


def price(pid: int, sku: str, unit_price: str, **kw: Any) -> PriceEntry:
    return PriceEntry(pid, sku, D(unit_price), **kw)


def test_cloud_flat_price() -> None:
    r = run([usage("s1", "3")], plan((price(1, "s1", "0.05"),)))
    # 3 h * 0.05 = 0.15
    assert col(r, "list_amount") == [D("0.15")]


def test_region_specific_price_beats_generic() -> None:
    p = plan((price(1, "s1", "0.05"), price(2, "s1", "0.07", region="eu")))
    r = run([usage("s1", "2", region="eu"), usage("s1", "2", region="us"), usage("s1", "2")], p)
    # eu: 2 * 0.07 = 0.14; us (no us entry) and no region: generic 2 * 0.05 = 0.10
    assert col(r, "entry_id") == [2, 1, 1]
    assert col(r, "list_amount") == [D("0.14"), D("0.10"), D("0.10")]


GRAD = (Tier(D(0), D("0.10")), Tier(D(10), D("0.08")))


def test_graduated_tiers_split_the_row_that_crosses_mid_day() -> None:
    p = plan((price(1, "s1", "0", tier_mode=TierMode.GRADUATED, tiers=GRAD),))
    rows = [
        usage("s1", "6", "2026-08-03T08:00"),
        usage("s1", "6", "2026-08-03T14:00"),
        usage("s1", "3", "2026-08-04T09:00"),
    ]
    r = run(rows, p)
    # Axis [0, 6): 6 * 0.10 = 0.60
    # Axis [6, 12): 4 * 0.10 + 2 * 0.08 = 0.40 + 0.16 = 0.56 (split at 10)
    # Axis [12, 15): 3 * 0.08 = 0.24
    assert col(r, "list_amount") == [D("0.60"), D("0.56"), D("0.24")]
    assert col(r, "tier_first") == [0, 0, 1]
    assert col(r, "tier_last") == [0, 1, 1]


def test_volume_tiers_use_the_period_total() -> None:
    p = plan((price(1, "s1", "0", tier_mode=TierMode.VOLUME, tiers=GRAD),))
    rows = [
        usage("s1", "6", "2026-08-03T08:00"),
        usage("s1", "6", "2026-08-03T14:00"),
        usage("s1", "3", "2026-08-04T09:00"),
    ]
    r = run(rows, p)
    # Total 15 >= 10: every unit at 0.08: 6 * 0.08 = 0.48, 0.48, 3 * 0.08 = 0.24
    assert col(r, "list_amount") == [D("0.48"), D("0.48"), D("0.24")]


def test_unpriced_usage_passes_through_only_when_the_contract_allows() -> None:
    rows = [usage("zz", "1", cost="1.2345"), usage("zz", "1", cost="2", currency="USD")]
    allowed = run(rows, plan((price(1, "s1", "0.05"),), passthrough=True))
    refused = run(rows, plan((price(1, "s1", "0.05"),), passthrough=False))
    # Pass-through: list = net = the source's list_cost 1.2345; USD is not the contract's EUR
    assert col(allowed, "net_amount") == [D("1.2345"), None]
    assert col(allowed, "reason") == [None, "currency_mismatch"]
    assert col(allowed, "rules") == ["passthrough", None]
    assert col(refused, "reason") == ["no_price", "no_price"]


def test_most_specific_discount_wins() -> None:
    rules = (
        ContractRule(1, RuleKind.DISCOUNT, service="compute", percent=D(10)),
        ContractRule(2, RuleKind.DISCOUNT, sku="s1", percent=D(20)),
    )
    r = run(
        [usage("s1", "2"), usage("s2", "2")],
        plan((price(1, "s1", "0.05"), price(2, "s2", "0.05")), rules=rules),
    )
    # s1: 2 * 0.05 = 0.10, sku rule (specificity 4) beats service rule (1): 0.10 * 0.8 = 0.08
    # s2: 0.10, only the service rule: 0.10 * 0.9 = 0.09
    assert col(r, "net_amount") == [D("0.08"), D("0.09")]
    assert col(r, "rules") == ["discount:2", "discount:1"]


def test_markup() -> None:
    r = run(
        [usage("s1", "3")],
        plan((price(1, "s1", "0.05"),), rules=(ContractRule(1, RuleKind.MARKUP, percent=D(15)),)),
    )
    # 3 * 0.05 = 0.15; +15%: 0.15 * 1.15 = 0.1725
    assert col(r, "net_amount") == [D("0.1725")]


def test_cloud_unit_price_override() -> None:
    rules = (ContractRule(1, RuleKind.UNIT_PRICE_OVERRIDE, sku="s1", unit_price=D("0.04")),)
    r = run([usage("s1", "3")], plan((price(1, "s1", "0.05"),), rules=rules))
    # list 3 * 0.05 = 0.15 (price book); net 3 * 0.04 = 0.12 (contract)
    assert col(r, "list_amount") == [D("0.15")]
    assert col(r, "net_amount") == [D("0.12")]


def test_units_profile_allowance() -> None:
    prof = ConsumptionProfile(
        1, "free s1", ProfileUnit.UNITS, frozenset({1}), included_quantity=D(5), scope_sku="s1"
    )
    r = run(
        [usage("s1", "3", "2026-08-03T08:00"), usage("s1", "4", "2026-08-03T09:00")],
        plan((price(1, "s1", "0.05"),), profiles=(prof,)),
    )
    # 5 units included: row 1 [0, 3) covered -> 0; row 2 [3, 7): 2 covered, 2 * 0.05 = 0.10
    assert col(r, "included_quantity") == [D(3), D(2)]
    assert col(r, "list_amount") == [D(0), D("0.10")]


@pytest.mark.parametrize(
    ("tier_mode", "tiers"),
    [(TierMode.NONE, ()), (TierMode.GRADUATED, ((0, "0.10"), (8, "0.05")))],
)
def test_refund_below_zero_under_an_allowance_is_credited_at_the_first_tier(
    tier_mode: TierMode, tiers: tuple[tuple[int, str], ...]
) -> None:
    prof = ConsumptionProfile(
        1,
        "free s1",
        ProfileUnit.UNITS,
        frozenset({1}),
        included_quantity=D(5),
        scope_sku="s1",
        tier_mode=tier_mode,
        tiers=tuple(Tier(D(f), D(p)) for f, p in tiers),
    )
    r = run(
        [
            usage("s1", "3", "2026-08-03T08:00"),
            usage("s1", "-5", "2026-08-03T09:00"),
            usage("s1", "-1", "2026-08-03T10:00", account=2),
        ],
        plan((price(1, "s1", "0.10"),), profiles=(prof,)),
    )
    # The allowance is [0, 5) of the axis. Row 1 [0, 3): covered, 0.
    # Row 2 takes back [-2, 3): [0, 3) was covered (3 back, no money), [-2, 0) is
    # below zero, outside the allowance: 2 * 0.10 credited -> -0.20.
    # Account 2 (not in the profile) refunds 1 * 0.10 at the price entry.
    # (Before: the part below zero counted as covered and nothing was credited.)
    assert col(r, "included_quantity") == [D(3), D(-3), D(0)]
    assert col(r, "list_amount") == [D(0), D("-0.20"), D("-0.10")]


@pytest.mark.parametrize(
    ("mode", "shortfall", "total"),
    [
        # 150 - 100.135 = 49.865: half-up 49.87, half-even 49.86 (6 is even)
        (RoundingMode.HALF_UP, D("49.87"), D("138.00")),
        (RoundingMode.HALF_EVEN, D("49.86"), D("137.99")),
    ],
)
def test_period_lines_support_commitment_credits(
    mode: RoundingMode, shortfall: Decimal, total: Decimal
) -> None:
    rules = (
        ContractRule(1, RuleKind.SUPPORT_FEE, percent=D(3)),
        ContractRule(2, RuleKind.MINIMUM_COMMITMENT, amount=D(150)),
        ContractRule(3, RuleKind.CREDIT, percent=D(5)),
        ContractRule(4, RuleKind.CREDIT, amount=D(10)),
    )
    r = run(
        [usage("zz", "1", cost="100.135")], plan((), passthrough=True, rules=rules, rounding=mode)
    )
    lines = [(ln.kind, ln.amount) for ln in r.lines]
    # support: 100.135 * 3% = 3.00405 -> 3.00; credit 5%: 5.00675 -> -5.01; credit -10.00
    assert lines == [
        ("support_fee", D("3.00")),
        ("minimum_commitment", shortfall),
        ("credit", D("-5.01")),
        ("credit", D("-10.00")),
    ]
    # usage 100.135 -> 100.14 (half-up; half-even too, 3 is odd)
    # total 100.14 + 3.00 + shortfall - 5.01 - 10.00
    assert r.summary.totals["EUR"].total == total


@pytest.mark.parametrize(
    ("mode", "usage_line", "fixed", "percent", "total"),
    [
        # The mode applies to the signed amount (docs/rating.md, section 7):
        # ceiling rounds the bill towards +infinity, so a credit of 1.005 is
        # -1.00 (not -round(1.005) = -1.01) and 5% of 100.135 = -5.00675 -> -5.00.
        (RoundingMode.CEILING, D("100.14"), D("-1.00"), D("-5.00"), D("94.14")),
        # floor rounds towards -infinity: the customer gets the larger credit.
        (RoundingMode.FLOOR, D("100.13"), D("-1.01"), D("-5.01"), D("94.11")),
        # Symmetric modes give the same either way: half away from zero.
        (RoundingMode.HALF_UP, D("100.14"), D("-1.01"), D("-5.01"), D("94.12")),
    ],
)
def test_credits_under_directional_rounding_round_the_signed_amount(
    mode: RoundingMode, usage_line: Decimal, fixed: Decimal, percent: Decimal, total: Decimal
) -> None:
    rules = (
        ContractRule(1, RuleKind.CREDIT, amount=D("1.005")),
        ContractRule(2, RuleKind.CREDIT, percent=D(5)),
    )
    r = run(
        [usage("zz", "1", cost="100.135")], plan((), passthrough=True, rules=rules, rounding=mode)
    )
    assert [(ln.kind, ln.amount) for ln in r.lines] == [("credit", fixed), ("credit", percent)]
    assert r.summary.totals["EUR"].usage_net_rounded == usage_line
    assert r.summary.totals["EUR"].total == total


def test_a_refund_total_rounds_by_the_signed_mode_too() -> None:
    # A month of refunds only: usage net -0.005 under ceiling -> -0.00 = 0.
    r = run(
        [usage("zz", "1", cost="-0.005")],
        plan((), passthrough=True, rounding=RoundingMode.CEILING),
    )
    assert str(r.summary.totals["EUR"].usage_net_rounded) == "0.00"  # not -0.00
    r = run(
        [usage("zz", "1", cost="-0.005")],
        plan((), passthrough=True, rounding=RoundingMode.FLOOR),
    )
    assert r.summary.totals["EUR"].usage_net_rounded == D("-0.01")


def test_custom_line_items_one_off_and_recurring() -> None:
    items = (
        CustomLineItem(1, "setup", D(100), one_off_date=date(2026, 8, 15)),
        CustomLineItem(2, "late", D(5), one_off_date=date(2026, 9, 1)),
        CustomLineItem(
            3,
            "support",
            D("19.999"),
            recurring_from=date(2026, 6, 10),
            recurring_to=date(2026, 8, 1),
        ),
        CustomLineItem(4, "future", D(7), recurring_from=date(2026, 9, 1)),
    )
    r = run([], plan((), items=items))
    # 2026-08-15 is in [Aug 1, Sep 1); Sep 1 is not (half-open period).
    # Item 3 recurs through Aug 1 inclusive: August counts once; 19.999 -> 20.00.
    # Item 4 starts in September.
    assert [(ln.source_id, ln.amount, ln.month) for ln in r.lines] == [
        (1, D("100.00"), None),
        (3, D("20.00"), "2026-08"),
    ]
    assert r.summary.totals["EUR"].total == D("120.00")


def test_rounding_happens_once_on_the_period_total() -> None:
    p = plan((price(1, "s1", "0.3333333333"),))
    r = run([usage("s1", "1"), usage("s1", "1"), usage("s1", "1")], p)
    # 3 rows of 0.3333333333: net 0.9999999999 -> 1.00 when rounded once
    # (rounding each row to the cent first would give 0.99)
    assert r.summary.totals["EUR"].usage_net == D("0.9999999999")
    assert r.summary.totals["EUR"].usage_net_rounded == D("1.00")


def test_overlap_selection_largest_share_and_ties() -> None:
    rows = [
        usage("s1", "1", "2026-07-31T20:00", end="2026-08-01T10:00"),
        usage("s1", "1", "2026-07-31T22:00", end="2026-08-01T02:00"),
    ]
    p_overlap = plan((price(1, "s1", "1"),), overlap=True)
    aug = run(rows, p_overlap)
    jul = run(rows, p_overlap, Month(2026, 7).in_zone("UTC"))
    # Row 1: 4 h in July, 10 h in August -> August; row 2: 2 h each -> the earlier, July.
    assert [r["record_id"] for r in aug.rated.to_pylist()] == ["r00000"]
    assert [r["record_id"] for r in jul.rated.to_pylist()] == ["r00001"]
    # Its billing day is the period's first day (it started before the period).
    assert col(aug, "day") == [date(2026, 8, 1)]
    # Without overlap selection both rows belong to July, where they start.
    plain = run(rows, plan((price(1, "s1", "1"),)), Month(2026, 7).in_zone("UTC"))
    assert plain.summary.rows == 2


def test_overlap_selection_in_a_dst_zone_and_on_a_leap_day() -> None:
    paris = plan((price(1, "s1", "1"),), overlap=True, tz="Europe/Paris")
    # 2026-10-31T22:30Z -> 2026-11-01T00:30Z. Paris is UTC+1 after 25 October, so
    # November starts at 2026-10-31T23:00Z: 30 min in October, 90 min in November.
    row = [usage("s1", "1", "2026-10-31T22:30", end="2026-11-01T00:30")]
    assert run(row, paris, Month(2026, 11).in_zone("Europe/Paris")).summary.rows == 1
    assert run(row, paris, Month(2026, 10).in_zone("Europe/Paris")).summary.rows == 0
    leap = plan((price(1, "s1", "1"),), overlap=True)
    # 2024-02-29T23:00Z -> 2024-03-01T00:30Z: 60 min in February, 30 in March.
    rows = [usage("s1", "1", "2024-02-29T23:00", end="2024-03-01T00:30")]
    feb = run(rows, leap, Month(2024, 2).in_zone("UTC"))
    assert col(feb, "day") == [date(2024, 2, 29)]
    assert run(rows, leap, Month(2024, 3).in_zone("UTC")).summary.rows == 0


def test_daily_rows_sum_full_precision_per_day() -> None:
    p = plan((tariff(1, "33", "0.02"),))
    rows = [
        cdr("331", 65, "2026-08-03T10:00"),
        cdr("332", 65, "2026-08-03T11:00"),
        cdr("331", 60, "2026-08-04T10:00"),
    ]
    r = run(rows, p)
    daily = sorted(r.daily.to_pylist(), key=lambda d: d["day"])
    # Aug 3: 2 calls of 0.0216666667 = 0.0433333334 (full scale, not rounded to cents)
    # Aug 4: 60 * 0.02 / 60 = 0.02
    assert [(d["day"], d["rows"], d["net_amount"]) for d in daily] == [
        (date(2026, 8, 3), 2, D("0.0433333334")),
        (date(2026, 8, 4), 1, D("0.02")),
    ]
    assert daily[0]["prefix"] == "33"
    assert daily[0]["entry_id"] == 1


def test_a_contract_with_a_cloud_price_book_and_a_voip_deck_rates_each_kind_with_its_own() -> None:
    """Cloud rows are priced with the cloud book's version in force, CDRs with
    the VoIP deck's, each row's provenance naming its own book's version."""
    voip = PriceBook(
        2,
        "EUR",
        (
            PriceBookVersion(20, 1, utc("2026-01-01T00:00"), tariffs=(tariff(1, "33", "0.60"),)),
            PriceBookVersion(21, 2, utc("2026-08-10T00:00"), tariffs=(tariff(2, "33", "1.20"),)),
        ),
    )
    # The cloud book also has a tariff for 33: it must not rate the CDRs.
    cloud = book(("2026-01-01T00:00", (price(3, "s1", "0.05"), tariff(4, "33", "9.00"))))
    p = replace(plan(versions=cloud), tariff_book=voip)
    r = run(
        [
            cdr("3312345", 60),
            cdr("3312345", 60, start="2026-08-12T10:00"),
            usage("s1", "2"),
        ],
        p,
    )
    # 60 s at 0.60/min = 0.60, then at 1.20/min = 1.20; 2 h * 0.05 = 0.10.
    assert col(r, "list_amount") == [D("0.60"), D("1.20"), D("0.10")]
    assert col(r, "entry_id") == [1, 2, 3]
    assert col(r, "version_id") == [20, 21, 10]
    assert sorted(r.daily.column("version_id").to_pylist()) == [10, 20, 21]


def test_volume_tier_of_a_negative_period_total_is_the_first_tier() -> None:
    entry = PriceEntry(
        1,
        "s1",
        D(0),
        tier_mode=TierMode.VOLUME,
        tiers=(Tier(D(0), D("0.10")), Tier(D(10), D("0.08"))),
    )
    r = run(
        [usage("s1", "12", "2026-08-03T08:00"), usage("s1", "-15", "2026-08-04T08:00")],
        plan((entry,)),
    )
    # Period total 12 - 15 = -3: below every bound but the first tier's (which
    # extends to -inf), so 0.10 prices every row: 1.20 and -1.50. The 12 units
    # alone would have reached the 0.08 tier; volume is decided by the total.
    assert col(r, "list_amount") == [D("1.20"), D("-1.50")]
    assert col(r, "tier_first") == [0, 0]
