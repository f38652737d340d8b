"""`rerate rate` on the files shipped in examples/rate, as the README shows them.

The totals below were worked out by hand (README, "Rate files offline"):
they pin the examples, the CLI and the engine together.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from rerate.cli.rate import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "rate"
runner = CliRunner()


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {row["record_id"]: row for row in csv.DictReader(fh)}


def test_the_voice_example_rates_as_the_readme_says(tmp_path: Path):
    out = tmp_path / "rated.csv"
    done = runner.invoke(
        app,
        [
            *("cdrs", "--usage", str(EXAMPLES / "cdrs.csv")),
            *("--tariffs", str(EXAMPLES / "tariffs.csv")),
            *("--timetable", str(EXAMPLES / "timetable.json")),
            *("--contract", str(EXAMPLES / "contract-voice.json")),
            *("--numbering", "FR", "--period", "2026-08", "--out", str(out)),
        ],
    )
    assert done.exit_code == 0, done.output
    totals = json.loads(done.stdout)["totals"]["EUR"]
    # 0.63 + 0.11 + 0.20 + 0.24 + 0 + 0.125 + 0.37 list, 5 % off; then the
    # number rental 4.00 less the goodwill credit 1.50.
    assert totals["usage_list"] == "1.6750000000"
    assert totals["usage_net_rounded"] == "1.59"
    assert totals["period_lines"] == "2.50"
    assert totals["total"] == "4.09"
    rows = _rows(out)
    # 125 s in 30 + 6 s steps is 126 s, at the peak rate 0.30 a minute.
    assert rows["c-0001"]["billed_seconds"] == "126"
    assert rows["c-0001"]["list_amount"] == "0.6300000000"
    assert rows["c-0001"]["usage_start"] == "2026-08-03T07:30:00Z"
    # Unanswered: no billable seconds, zero written as 0.
    assert rows["c-0005"]["list_amount"] == "0"
    # 3615 does not normalise to a French number: never looked up.
    assert rows["c-0008"]["reason"] == "invalid_destination"
    # From 15 August the deck's version 2 applies.
    assert rows["c-0004"]["version_id"] == "2"


def test_the_cloud_example_rates_as_the_readme_says(tmp_path: Path):
    out = tmp_path / "rated.csv"
    done = runner.invoke(
        app,
        [
            *("usage", "--usage", str(EXAMPLES / "usage.csv")),
            *("--prices", str(EXAMPLES / "prices.csv")),
            *("--contract", str(EXAMPLES / "contract-cloud.json")),
            *("--period", "2026-08", "--out", str(out)),
        ],
    )
    assert done.exit_code == 0, done.output
    totals = json.loads(done.stdout)["totals"]["EUR"]
    compute = (Decimal("24") * 2 * Decimal("0.055") + Decimal("12.5") * Decimal("0.05")) * (
        Decimal(1) - Decimal("0.10")
    )
    storage = Decimal(1000) * Decimal("0.10") + Decimal(200) * Decimal("0.08")  # graduated
    storage += Decimal("250.75") * Decimal("0.10")  # the other account starts at the first tier
    assert Decimal(totals["usage_net"]) == compute + storage
    assert totals["usage_net_rounded"] == "144.01"
    assert totals["period_lines"] == "4.32"  # 3 % support on 144.01
    assert totals["total"] == "148.33"
    assert _rows(out)["u-0004"]["list_amount"] == "116.0000000000"
