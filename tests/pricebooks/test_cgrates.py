"""pricebooks/cgrates.py: CGRateS tariff plans as deck entries (our own
fixtures under fixtures/cgrates, one per variant of CGRateS's sample plans)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.kit.money import RoundingMode
from rerate.pricebooks import cgrates
from rerate.pricebooks.cgrates_files import duration_ns
from rerate.rating import formats, tariff_terms
from rerate.rating.formats import FormatError
from rerate.rating.plan import RateGroup, TariffEntry, Timing

FIXTURES = Path(__file__).parent / "fixtures" / "cgrates"


def _files(name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (FIXTURES / name).iterdir() if p.suffix == ".csv"}


def _by(entries: list[TariffEntry]) -> dict[tuple[str, str], TariffEntry]:
    return {(e.prefix, e.timing.name if e.timing else "*any"): e for e in entries}


def test_rating_plan_with_timings_groups_and_rounding():
    done = cgrates.import_plan(FIXTURES / "standard", plan="RP_RETAIL")
    assert done.plans == ("RP_RETAIL",)
    got = _by(done.entries)
    assert sorted(got) == [
        ("33", "*any"),
        ("33", "NEW_YEAR"),
        ("44", "DAYTIME"),
        ("44", "EARLY"),
        ("44", "EVENING"),
        ("44", "WEEKEND"),
        ("49", "*any"),
    ]
    peak = got["44", "DAYTIME"]
    assert peak.rate_per_minute == Decimal("1.8")
    assert peak.connect_fee == Decimal("0.3")
    assert (peak.initial_increment, peak.subsequent_increment) == (60, 60)
    assert peak.rate_groups == (RateGroup(60, Decimal("1.8"), 1),)
    assert (peak.call_decimals, peak.call_rounding) == (4, RoundingMode.CEILING)
    assert peak.increment_decimals == 5
    assert peak.max_cost is None
    # CGRateS weekdays 1..5 are Monday..Friday, 6;7 Saturday and Sunday.
    assert peak.timing == Timing(weekdays=frozenset(range(5)), start=time(8), name="DAYTIME")
    assert got["44", "WEEKEND"].timing.weekdays == frozenset({5, 6})
    cheap = got["44", "EVENING"]
    assert cheap.rate_per_minute == Decimal("1.2")  # 0.02 per second
    assert (cheap.initial_increment, cheap.connect_fee) == (1, Decimal("0.05"))
    new_year = got["33", "NEW_YEAR"]
    assert (new_year.timing.months, new_year.timing.monthdays) == ({1}, {1})
    assert (new_year.weight, got["33", "*any"].weight) == (20, 10)
    assert {e.destination_group for e in done.entries} >= {"DST_INTL", "DST_INTL_NY"}
    assert [e.id for e in done.entries] == list(range(1, len(done.entries) + 1))
    # The voicemail destination is not a number: left out, saying where.
    assert done.warnings == [
        "Destinations.csv line 8, Prefix: 'voicemail' is not a number; rerate destinations "
        "are numbers: skipped"
    ]


def test_subject_with_fallback_plus_prefixes_and_rounding_methods():
    done = cgrates.import_plan(FIXTURES / "standard", subject="alice", tenant="example.net")
    assert done.plans == ("RP_VIP", "RP_RETAIL")
    got = _by(done.entries)
    mobile = got["447", "*any"]  # '+447': the '+' is not part of a rerate prefix
    assert mobile.rate_per_minute == Decimal("0.5")
    assert mobile.initial_increment == 30
    assert mobile.rate_groups == (RateGroup(300, Decimal("0.25"), 10),)
    assert (mobile.call_decimals, mobile.call_rounding) == (2, RoundingMode.HALF_UP)
    assert "4478" in {p for p, _ in got}
    short = got["5005", "*any"]
    assert (short.call_decimals, short.call_rounding) == (3, RoundingMode.FLOOR)
    # The fallback's prefixes no primary prefix covers are there.
    assert ("44", "DAYTIME") in got
    assert ("33", "*any") in got


def test_fallback_entries_covered_by_the_primary_are_left_out():
    done = cgrates.import_plan(FIXTURES / "capped", subject="carol")
    assert done.plans == ("RP_GOLD", "RP_SILVER")
    prefixes = [e.prefix for e in done.entries]
    # RP_SILVER's 3301 is covered by RP_GOLD's 3301; its 33 and *any are not.
    assert prefixes == ["3301", "3302", "3303", "33", ""]
    assert done.entries[0].rate_per_minute == Decimal("0.3")
    assert any("RP_SILVER: 1 entries left out" in n for n in done.notes)


def test_any_in_the_primary_covers_every_fallback_entry():
    files = _files("any_dest")
    files["RatingPlans.csv"] += b"RP_OTHER,DR_7007,*any,10\n"
    files["RatingProfiles.csv"] = (
        b"#Tenant,Category,Subject,ActivationTime,RatingPlanId,RatesFallbackSubject\n"
        b"example.com,call,erin,2015-03-01T00:00:00Z,RP_ONLY,frank\n"
        b"example.com,call,frank,2015-03-01T00:00:00Z,RP_OTHER,\n"
    )
    done = cgrates.import_plan(files, subject="erin")
    assert done.plans == ("RP_ONLY", "RP_OTHER")
    assert sorted(e.prefix for e in done.entries) == ["", "7007"]


def test_latest_activation_wins():
    assert cgrates.import_plan(FIXTURES / "capped", subject="bob").plans == ("RP_GOLD",)


def test_caps_free_is_imported_disconnect_is_a_note():
    done = cgrates.import_plan(FIXTURES / "capped", plan="RP_GOLD")
    got = {e.prefix: e for e in done.entries}
    assert got["3303"].max_cost == Decimal("0.25")
    assert got["3302"].max_cost is None
    assert done.notes == [
        "DestinationRates.csv line 3, MaxCost: 0.25 with *disconnect is not a cap on a "
        "completed call's cost in CGRateS (*disconnect only ends calls while they run): "
        "not imported"
    ]
    silver = cgrates.import_plan(FIXTURES / "capped", plan="RP_SILVER").entries
    any_entry = next(e for e in silver if e.prefix == "")
    assert any_entry.destination_group == "*any"
    assert any_entry.call_decimals is None
    assert any_entry.max_cost is None


def test_a_single_plan_is_chosen_without_options():
    done = cgrates.import_plan(FIXTURES / "any_dest")
    assert done.plans == ("RP_ONLY",)
    got = {e.prefix: e for e in done.entries}
    assert (got["7007"].weight, got[""].weight) == (20, 10)
    assert got[""].rate_groups == (RateGroup(60, Decimal("0.06"), 1),)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "RatingPlans.csv holds rating plans RP_RETAIL, RP_VIP, RP_FLAT, RP_BYTES, RP_SMS"),
        ({"plan": "RP_NONE"}, "no rating plan 'RP_NONE'"),
        ({"plan": "RP_VIP", "subject": "alice"}, "not both"),
        ({"subject": "nobody", "category": "fax"}, "no profile for subject 'nobody'"),
        (
            {"subject": "*any", "category": "data"},
            "Rates.csv line 22, RateUnit: '2048' is 2048 ns; rerate prices calls by whole seconds",
        ),
        ({"plan": "RP_SMS"}, "Rates.csv line 25, RateUnit: '1' is 1 ns"),
    ],
)
def test_refusals_name_what_and_where(kwargs, message):
    with pytest.raises(FormatError) as err:
        cgrates.import_plan(FIXTURES / "standard", **kwargs)
    assert message in str(err.value)


def _edited(name: str, file: str, text: str) -> dict[str, bytes]:
    files = _files(name)
    files[file] = text.encode()
    return files


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        (
            "RatingPlans.csv",
            "#Id,DestinationRatesId,TimingTag,Weight\nRP_ONLY,DR_7007,LUNCH,20\n",
            "RatingPlans.csv line 2, TimingTag: timing 'LUNCH' no Timings.csv",
        ),
        (
            "Rates.csv",
            "#Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart\n"
            "RT_ANY,0.3,0.12,60s,60s,30s\nRT_7007,0,0.03,60s,60s,0s\n",
            "Rates.csv line 2, GroupIntervalStart: rates 'RT_ANY' have no group starting at 0 "
            "(the first starts at 30 s); rerate needs the price of a call's first second",
        ),
        (
            "Rates.csv",
            "#Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart\n"
            "RT_ANY,0.3,0.12,60s,500ms,0\nRT_7007,0,0.03,60s,60s,0s\n",
            "Rates.csv line 2, RateIncrement: '500ms' is 0.5 s; rerate prices calls by whole "
            "seconds",
        ),
        (
            "Rates.csv",
            "#Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart\n"
            "RT_ANY,0.3,1,7s,1s,0\nRT_7007,0,0.03,60s,60s,0s\n",
            "Rates.csv line 2, Rate: '1' is",
        ),
        (
            "Rates.csv",
            "#Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart\n"
            "RT_ANY,0.3,abc,60s,1s,0\nRT_7007,0,0.03,60s,60s,0s\n",
            "Rates.csv line 2, Rate: not a decimal number: 'abc'",
        ),
        (
            "Destinations.csv",
            "#Id,Prefix\nDST_7007,7007\nDST_7007,+7007\n",
            "plan RP_ONLY: prefix 7007 at timing *any comes twice",
        ),
        (
            "DestinationRates.csv",
            "#Id,DestinationId,RatesTag,RoundingMethod,RoundingDecimals,MaxCost,"
            "MaxCostStrategy\nDR_7007,DST_7007,RT_7007,*up,4,1,*maybe\nDR_ANY,*any,RT_ANY,,,,\n",
            "DestinationRates.csv line 2, MaxCostStrategy: '*maybe' is not *free or *disconnect",
        ),
    ],
)
def test_file_errors_name_file_line_and_field(file, text, message):
    with pytest.raises(FormatError) as err:
        cgrates.import_plan(_edited("any_dest", file, text))
    assert message in str(err.value)


def test_missing_file_is_named():
    files = _files("any_dest")
    del files["Rates.csv"]
    with pytest.raises(FormatError, match=r"^Rates.csv: missing"):
        cgrates.import_plan(files)


def test_header_variants_and_direction_column():
    files = _files("any_dest")
    files["Destinations.csv"] = b"Id,Prefix\nDST_7007,7007\n"  # an uncommented header
    files["RatingProfiles.csv"] = b"*out,example.com,call,erin,2015-03-01T00:00:00Z,RP_ONLY,\n"
    done = cgrates.import_plan(files, subject="erin")
    assert sorted(e.prefix for e in done.entries) == ["", "7007"]


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("60s", 60 * 10**9),
        ("1m", 60 * 10**9),
        ("1h", 3600 * 10**9),
        ("1m30s", 90 * 10**9),
        ("500ms", 5 * 10**8),
        ("0", 0),
        ("0s", 0),
        ("1024", 1024),
        ("", 0),
    ],
)
def test_durations_as_cgrates_reads_them(text, ns):
    assert duration_ns(text) == ns


@pytest.mark.parametrize("text", ["abc", "1x", "s", "1m-"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="not a duration"):
        duration_ns(text)


_timings = st.builds(
    Timing,
    years=st.frozensets(st.integers(1, 9999), max_size=3),
    months=st.frozensets(st.integers(1, 12), max_size=3),
    monthdays=st.frozensets(st.integers(1, 31), max_size=3),
    weekdays=st.frozensets(st.integers(0, 6), max_size=7),
    start=st.times().map(lambda t: t.replace(microsecond=0)),
    name=st.from_regex(r"[A-Z_]{0,8}", fullmatch=True),
)
_groups = st.lists(
    st.tuples(
        st.integers(1, 10**6),
        st.decimals(min_value=0, max_value=1000, places=10),
        st.integers(1, 3600),
    ),
    max_size=4,
    unique_by=lambda g: g[0],
).map(lambda gs: tuple(RateGroup(f, r, i) for f, r, i in sorted(gs)))


@given(_timings)
def test_timing_text_round_trip(timing):
    assert tariff_terms.parse_timing(tariff_terms.format_timing(timing)) == timing


@given(_groups)
def test_rate_groups_text_round_trip(groups):
    assert tariff_terms.parse_rate_groups(tariff_terms.format_rate_groups(groups)) == groups


def test_imported_entries_round_trip_through_the_tariffs_csv(tmp_path: Path):
    entries = cgrates.import_plan(FIXTURES / "standard", subject="alice").entries
    entries += cgrates.import_plan(FIXTURES / "capped", plan="RP_GOLD").entries[2:]
    entries = [e.__class__(**{**_fields(e), "id": i}) for i, e in enumerate(entries, start=2)]
    columns = formats.tariff_columns_for(entries)
    assert columns == formats.TARIFF_COLUMNS + formats.TARIFF_TERM_COLUMNS
    from datetime import UTC, datetime

    when = datetime(2026, 1, 1, tzinfo=UTC)
    lines = [",".join(columns)]
    lines += [",".join(formats.tariff_line(1, when, "EUR", e, terms=True)) for e in entries]
    path = tmp_path / "deck.csv"
    path.write_text("\n".join(lines) + "\n")
    read = [e for _, e in formats.read_tariffs(path).versions[0].entries]
    assert read == entries


def _fields(e: TariffEntry) -> dict[str, object]:
    return {f: getattr(e, f) for f in e.__slots__}


def test_ordinary_decks_are_written_as_before():
    plain = TariffEntry(id=1, prefix="33", destination_group="FR", rate_per_minute=Decimal(1))
    assert formats.tariff_columns_for([plain]) == formats.TARIFF_COLUMNS


def test_tariff_csv_errors_in_term_columns(tmp_path: Path):
    path = tmp_path / "deck.csv"
    header = ",".join(formats.TARIFF_COLUMNS + formats.TARIFF_TERM_COLUMNS)
    base = "1,2026-01-01T00:00:00Z,33,FR,1,0,0,1,1,,false,EUR"
    path.write_text(f"{header}\n{base},60:0.1,,,,,,0\n")
    with pytest.raises(FormatError, match=r"deck.csv line 2, field rate_groups: '60:0.1'"):
        formats.read_tariffs(path)
    path.write_text(f"{header}\n{base},,,,,,*any|*any|*any|8|08:00:00,0\n")
    with pytest.raises(FormatError, match=r"deck.csv line 2, field timing: weekdays: '8'"):
        formats.read_tariffs(path)
    path.write_text(f"{header}\n{base},,,2,ROUND_SIDEWAYS,,,0\n")
    with pytest.raises(FormatError, match=r"line 2, field call_rounding: unknown rounding"):
        formats.read_tariffs(path)
    path.write_text(f"{header}\n{base},,,,,0,,0\n")
    with pytest.raises(FormatError, match=r"line 2, field max_cost: must be more than 0"):
        formats.read_tariffs(path)
    # *any is the empty prefix; old files without the columns read as before.
    path.write_text(f"{header}\n{base.replace(',33,', ',*any,')},,,,,,,0\n")
    assert formats.read_tariffs(path).versions[0].entries[0][1].prefix == ""


def test_a_subject_without_a_profile_is_rated_by_the_any_subject() -> None:
    # CGRateS rates a subject with no profile of its own by the tenant's
    # *any subject: the import does the same, and says so.
    imported = cgrates.import_plan(FIXTURES / "standard", subject="nobody")
    assert imported.plans == ("RP_RETAIL",)
    assert any("no profile for subject 'nobody'" in w for w in imported.warnings)
