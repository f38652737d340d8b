"""Rules of `rerate rate` that docs/rating.md states for the offline CLI
(section 10): default ownership and the CDR CSV's usage_end."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from rerate.cli.rate import app
from tests.rating.test_cli_rate import _voice_files, _write

runner = CliRunner()


def _rate(f: dict[str, Path], tmp: Path, *extra: str) -> Path:
    out = tmp / "rated.parquet"
    args = ["cdrs", "--usage", str(f["usage"]), "--tariffs", str(f["tariffs"])]
    args += ["--timetable", str(f["timetable"]), "--country-code", "33"]
    args += ["--period", "2026-08", "--out", str(out), "--run-dir", str(tmp / "run"), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_without_ownership_profile_accounts_pay_their_fee(tmp_path: Path) -> None:
    f = _voice_files(tmp_path)
    profiles = json.loads(f["profiles"].read_text())
    profiles[0]["account_ids"] = [1, 9]  # account 9 has no CDR this month
    f["profiles"].write_text(json.dumps(profiles))
    _rate(f, tmp_path, "--profiles", str(f["profiles"]))
    lines = pq.read_table(tmp_path / "run" / "period_lines.parquet").to_pylist()
    fees = sorted((ln["account_id"], str(ln["amount"])) for ln in lines)
    # Before: only account 1 (the usage file's) was the customer's, so 9 paid nothing.
    assert fees == [(1, "2.5000000000"), (9, "2.5000000000")]


def test_cdr_csv_usage_end_is_start_plus_duration(tmp_path: Path) -> None:
    f = _voice_files(tmp_path)
    _write(
        f["usage"],
        """
record_id,account_id,start,billable_seconds,duration_seconds,called_number
d1,1,2026-08-03T08:00:00+02:00,65,90,0612345678
d2,1,2026-08-03T08:00:00Z,65,,0612345678
d3,1,2026-08-03T08:00:00Z,0,,0612345678
d4,1,2026-08-03T08:00:00Z,0,-5,0612345678
""",
    )
    out = _rate(f, tmp_path)
    ends = {
        r["record_id"]: (r["usage_start"], r["usage_end"]) for r in pq.read_table(out).to_pylist()
    }
    t = datetime(2026, 8, 3, 8, 0, tzinfo=UTC)
    # d1: duration 90 s (ringing included); the offset is applied: 06:00Z
    assert ends["d1"] == (
        datetime(2026, 8, 3, 6, 0, tzinfo=UTC),
        datetime(2026, 8, 3, 6, 1, 30, tzinfo=UTC),
    )
    # d2: no duration -> billable seconds; d3: unanswered, no duration -> start
    assert ends["d2"] == (t, datetime(2026, 8, 3, 8, 1, 5, tzinfo=UTC))
    assert ends["d3"] == (t, t)
    # d4: a negative duration never puts the end before the start
    assert ends["d4"] == (t, t)


def test_rated_csv_writes_zero_as_0_and_instants_as_iso(tmp_path: Path) -> None:
    prices = _write(
        tmp_path / "prices.csv",
        """
version,effective_from,sku,region,unit,unit_price,tier_mode,tiers,currency
1,2026-01-01T00:00:00Z,vm,,h,0.0000001,none,,EUR
""",
    )
    usage = _write(
        tmp_path / "usage.csv",
        """
record_id,account_id,usage_start,usage_end,sku,quantity
u1,1,2026-08-03T08:00:00+02:00,2026-08-03T09:00:00.250000+02:00,vm,0
u2,1,2026-08-03T08:00:00Z,,vm,-0.001
u3,1,2026-08-03T08:00:00Z,,vm,2
""",
    )
    out = tmp_path / "rated.csv"
    args = ["usage", "--usage", str(usage), "--prices", str(prices), "--period", "2026-08"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        rows = {r["record_id"]: r for r in csv.DictReader(fh)}
    # Zero is 0, not 0E-10; a tiny amount has no exponent (-1E-10 before).
    assert (rows["u1"]["quantity"], rows["u1"]["net_amount"]) == ("0", "0")
    assert rows["u1"]["included_quantity"] == "0"
    assert rows["u2"]["net_amount"] == "-0.0000000001"  # -0.001 * 1e-7, half away from zero
    assert rows["u3"]["net_amount"] == "0.0000002000"  # non-zero keep all 10 places
    # Instants as the input files write them: ISO 8601, UTC, T and Z, a fraction
    # only when there is one (before: "2026-08-03 06:00:00.000000Z").
    assert rows["u1"]["usage_start"] == "2026-08-03T06:00:00Z"
    assert rows["u1"]["usage_end"] == "2026-08-03T07:00:00.250000Z"
    assert rows["u2"]["usage_end"] == "2026-08-03T08:00:00Z"
    assert rows["u1"]["day"] == "2026-08-03"
