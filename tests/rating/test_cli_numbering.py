"""`rerate rate cdrs` normalises `called_number` with per-country numbering
rules; a number that does not normalise is rated invalid_destination."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerate.cli.rate import app

runner = CliRunner()

TARIFFS = """
version,effective_from,prefix,destination_group,rate_per_minute,connect_fee,initial_increment,subsequent_increment,band,currency
1,2026-01-01T00:00:00Z,1212,New York,0.01,0,60,60,,USD
1,2026-01-01T00:00:00Z,44,United Kingdom,0.05,0,60,60,,USD
1,2026-01-01T00:00:00Z,91,India,0.50,0,60,60,,USD
"""

# The kinds of called numbers a US switch writes.
CDRS = """
record_id,account_id,start,billable_seconds,called_number
trunk,1,2026-08-03T12:00:00Z,60,1 (212) 555-0100
national,1,2026-08-03T12:00:00Z,60,+1 212.555.0100
intl_011,1,2026-08-03T12:00:00Z,60,011 44 20 7946 0000
short_code,1,2026-08-03T12:00:00Z,60,911
sip,1,2026-08-03T12:00:00Z,60,sip:bob@example.com
too_long,1,2026-08-03T12:00:00Z,60,+1 212 555 0100 9999 99
intl_00_in_nanp,1,2026-08-03T12:00:00Z,60,00 44 20 7946 0000
"""


def _files(tmp: Path) -> list[str]:
    (tmp / "t.csv").write_text(TARIFFS.strip() + "\n", encoding="utf-8")
    (tmp / "c.csv").write_text(CDRS.strip() + "\n", encoding="utf-8")
    timetable = {"tz": "UTC", "default_band": "offpeak", "rules": []}
    (tmp / "tt.json").write_text(json.dumps(timetable), encoding="utf-8")
    return [
        "cdrs",
        "--usage",
        str(tmp / "c.csv"),
        "--tariffs",
        str(tmp / "t.csv"),
        "--timetable",
        str(tmp / "tt.json"),
        "--period",
        "2026-08",
        "--out",
        str(tmp / "rated.csv"),
    ]


def _rated(tmp: Path) -> dict[str, dict[str, str]]:
    with (tmp / "rated.csv").open(newline="") as fh:
        return {r["record_id"]: r for r in csv.DictReader(fh)}


def test_nanp_numbers_normalise_and_non_numbers_are_invalid(tmp_path: Path) -> None:
    result = runner.invoke(app, [*_files(tmp_path), "--numbering", "NANP"])
    assert result.exit_code == 0, result.output
    rows = _rated(tmp_path)
    assert rows["trunk"]["prefix"] == "1212"
    assert rows["trunk"]["list_amount"] == "0.0100000000"
    assert rows["national"]["prefix"] == "1212"
    assert rows["intl_011"]["prefix"] == "44"
    # 911 would match India's 91 if it were looked up: it is a short code.
    for rid in ("short_code", "sip", "too_long", "intl_00_in_nanp"):
        assert rows[rid]["status"] == "unrated", rid
        assert rows[rid]["reason"] == "invalid_destination", rid
        assert rows[rid]["prefix"] == "", rid
    assert json.loads(result.output)["unrated_by_reason"] == {"invalid_destination": 4}


def test_prefixes_can_be_given_one_by_one(tmp_path: Path) -> None:
    options = ["--country-code", "1", "--international-prefix", "011", "--trunk-prefix", "1"]
    result = runner.invoke(app, [*_files(tmp_path), *options])
    assert result.exit_code == 0, result.output
    rows = _rated(tmp_path)
    assert rows["trunk"]["prefix"] == "1212"
    assert rows["intl_011"]["prefix"] == "44"
    assert rows["intl_00_in_nanp"]["reason"] == "invalid_destination"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--numbering", "Mars"], "error: unknown numbering 'Mars'"),
        (["--numbering", "US", "--trunk-prefix", "x"], "error: trunk prefix must be"),
        (["--country-code", "0044"], "error: country code must be 1-3 digits"),
        (["--international-prefix", "+"], "error: international prefix must be 1-4 digits"),
    ],
)
def test_invalid_numbering_settings_are_one_line(
    tmp_path: Path, options: list[str], message: str
) -> None:
    result = runner.invoke(app, [*_files(tmp_path), *options])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(message)


def test_called_numbers_need_numbering_rules(tmp_path: Path) -> None:
    result = runner.invoke(app, _files(tmp_path))
    assert result.exit_code == 2
    assert "c.csv line 2, field called_number: pass --numbering or --country-code" in (
        result.output
    )
