"""End to end: a CGRateS tariff plan imported into a deck with
`rerate pricebooks import --format cgrates`, exported as the tariffs CSV and
rated with `rerate rate cdrs`; the costs are CGRateS's for the same plan
(docs/formats.md, "CGRateS tariff plans"): increments rounded half up to 5
decimals, then the call rounded by the DestinationRates method.

These need the engine's carrier terms (branch i13-engine): run after merging.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerate.cli.rate import app
from rerate.kit.db import Database
from tests.cli.test_cli_audit import _rerate
from tests.world import World

FIXTURES = Path(__file__).parent / "fixtures" / "cgrates"
WHO = ("--as", "partner_admin@test.example")
runner = CliRunner()


def _deck(database: Database, world: World, tmp_path: Path, fixture: str, *choice: str) -> Path:
    """The fixture plan imported into a new deck, exported as CSV."""
    created = _rerate(
        database,
        tmp_path,
        "pricebooks",
        "create",
        "--name",
        f"CGRateS {fixture} {' '.join(choice)}",
        "--kind",
        "voip",
        "--currency",
        "EUR",
        "--owner",
        str(world.nodes["partner_a1"].id),
        *WHO,
    )
    book = str(json.loads(created.stdout)["id"])
    _rerate(
        database,
        tmp_path,
        "pricebooks",
        "import",
        book,
        str(FIXTURES / fixture),
        "--format",
        "cgrates",
        *choice,
        "--effective",
        "2026-01-01T00:00:00Z",
        "--publish",
        "--reason",
        "from CGRateS",
        *WHO,
    )
    shown = json.loads(_rerate(database, tmp_path, "pricebooks", "show", book, *WHO).stdout)
    deck = tmp_path / f"{fixture}.csv"
    _rerate(
        database,
        tmp_path,
        "pricebooks",
        "export",
        book,
        str(shown["versions"][0]["id"]),
        "--out",
        str(deck),
        *WHO,
    )
    return deck


def _costs(tmp_path: Path, deck: Path, calls: list[tuple[str, str, int, str]]) -> dict[str, str]:
    """list_amount per call (id, start UTC, seconds, called number)."""
    usage = tmp_path / "cdrs.csv"
    lines = ["record_id,account_id,start,billable_seconds,called_number"]
    lines += [f"{r},1,{start},{secs},{number}" for r, start, secs, number in calls]
    usage.write_text("\n".join(lines) + "\n")
    timetable = tmp_path / "timetable.json"
    timetable.write_text(json.dumps({"tz": "UTC", "default_band": "standard", "rules": []}))
    out = tmp_path / "rated.csv"
    periods = sorted({start[:7] for _, start, _, _ in calls})
    rows: dict[str, str] = {}
    for period in periods:
        result = runner.invoke(
            app,
            [
                "cdrs",
                "--usage",
                str(usage),
                "--tariffs",
                str(deck),
                "--timetable",
                str(timetable),
                "--country-code",
                "44",
                "--period",
                period,
                "--out",
                str(out),
                "--run-dir",
                str(tmp_path / f"run-{period}"),
            ],
        )
        assert result.exit_code == 0, result.output
        with out.open(newline="") as fh:
            for r in csv.DictReader(fh):
                if r["status"] == "rated":
                    rows[r["record_id"]] = r["list_amount"]
    return rows


def _money(text: str) -> str:
    return (
        f"{text}{'0' * (10 - len(text.partition('.')[2]))}" if "." in text else f"{text}.0000000000"
    )


@pytest.mark.usefixtures("world")
def test_destination_with_any(database: Database, world: World, tmp_path: Path):
    deck = _deck(database, world, tmp_path, "any_dest")
    got = _costs(
        tmp_path,
        deck,
        [
            # 7007: 0.03 per started minute (weight 20 beats *any's 10)
            ("a", "2026-03-02T10:00:00Z", 60, "+70071234"),
            # *any: 0.3 to connect + 0.12 for the first minute
            ("b", "2026-03-02T10:00:00Z", 60, "+441234567"),
            # then 25 s at 0.06/min per second: 0.3 + 0.12 + 0.025
            ("c", "2026-03-02T10:00:00Z", 85, "+441234567"),
        ],
    )
    assert got == {"a": _money("0.03"), "b": _money("0.42"), "c": _money("0.445")}


def test_timings_and_weights(database: Database, world: World, tmp_path: Path):
    deck = _deck(database, world, tmp_path, "standard", "--plan", "RP_RETAIL")
    got = _costs(
        tmp_path,
        deck,
        [
            # Monday 09:00, DAYTIME: 0.3 + 1.8 for a first minute (45 s billed as 60)
            ("peak", "2026-08-03T09:00:00Z", 45, "+442071234567"),
            # Monday 21:00, EVENING: 0.05 + 45 * 0.02
            ("evening", "2026-08-03T21:00:00Z", 45, "+442071234567"),
            # Monday 03:00, EARLY
            ("early", "2026-08-03T03:00:00Z", 45, "+442071234567"),
            # Saturday, WEEKEND
            ("weekend", "2026-08-08T10:00:00Z", 45, "+442071234567"),
            # 33 any time: peak rates
            ("intl", "2026-08-03T21:00:00Z", 45, "+33123456789"),
            # 1 January: NEW_YEAR (weight 20) beats *any (weight 10)
            ("new_year", "2027-01-01T21:00:00Z", 45, "+33123456789"),
        ],
    )
    assert got == {
        "peak": _money("2.1"),
        "evening": _money("0.95"),
        "early": _money("0.95"),
        "weekend": _money("0.95"),
        "intl": _money("2.1"),
        "new_year": _money("0.95"),
    }


def test_groups_increments_and_call_rounding(database: Database, world: World, tmp_path: Path):
    deck = _deck(
        database, world, tmp_path, "standard", "--subject", "alice", "--tenant", "example.net"
    )
    got = _costs(
        tmp_path,
        deck,
        [
            # RT_LONG: 0.1 + 3 x 30 s at 0.5/min = 0.85 (*middle, 2 decimals)
            ("mobile_70", "2026-08-03T09:00:00Z", 70, "+447700900123"),
            # 0.1 + 10 x 0.25 + 1 x round5(0.25 * 10 / 60 = 0.041667) = 2.64167 -> 2.64
            ("mobile_310", "2026-08-03T09:00:00Z", 310, "+447700900123"),
            # RT_CHEAP with *down 3: 0.05 + 7 * 0.02
            ("short", "2026-08-03T09:00:00Z", 7, "5005"),
            # not in RP_VIP: the fallback RP_RETAIL prices 44 (Monday 09:00, DAYTIME)
            ("fallback", "2026-08-03T09:00:00Z", 45, "+442071234567"),
        ],
    )
    assert got == {
        "mobile_70": _money("0.85"),
        "mobile_310": _money("2.64"),
        "short": _money("0.19"),
        "fallback": _money("2.1"),
    }


def test_free_cap_and_disconnect(database: Database, world: World, tmp_path: Path):
    deck = _deck(database, world, tmp_path, "capped", "--plan", "RP_GOLD")
    got = _costs(
        tmp_path,
        deck,
        [
            # *free: 60 x 0.02 = 1.2, capped at 0.25
            ("free", "2026-08-03T09:00:00Z", 60, "+33031234"),
            # *disconnect: a completed call pays its full cost
            ("disconnect", "2026-08-03T09:00:00Z", 60, "+33021234"),
            # RT_30CNT: 0.6 + 0.3 + 30 x 0.0025 = 0.975
            ("groups", "2026-08-03T09:00:00Z", 90, "+33011234"),
        ],
    )
    assert got == {"free": _money("0.25"), "disconnect": _money("1.2"), "groups": _money("0.975")}
