"""`rerate rate`: each bad input is one `error: ...` line on stderr, exit code 2,
naming the file, line and field (docs/rating.md, section 10, "Errors")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerate.cli.rate import app
from tests.rating.test_cli_rate import _voice_files, _write

runner = CliRunner()


def _cdrs(f: dict[str, Path], tmp: Path, *extra: str) -> list[str]:
    return [
        "cdrs",
        "--usage",
        str(f["usage"]),
        "--tariffs",
        str(f["tariffs"]),
        "--timetable",
        str(f["timetable"]),
        "--country-code",
        "33",
        "--period",
        "2026-08",
        "--out",
        str(tmp / "rated.csv"),
        *extra,
    ]


def _one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(("value", "shown"), [(None, "got null"), ("", "got ''"), (" ", "got ' '")])
def test_null_or_empty_default_band(tmp_path: Path, value: str | None, shown: str) -> None:
    f = _voice_files(tmp_path)
    data = json.loads(f["timetable"].read_text())
    data["default_band"] = value
    f["timetable"].write_text(json.dumps(data, indent=1))  # key on line 3
    line = _one_line_error(_cdrs(f, tmp_path))
    assert "timetable.json line 3, field default_band: a band name is required" in line
    assert shown in line


def test_timetable_unknown_zone(tmp_path: Path) -> None:
    f = _voice_files(tmp_path)
    data = json.loads(f["timetable"].read_text())
    data["tz"] = "Europe/Atlantis"
    f["timetable"].write_text(json.dumps(data))
    line = _one_line_error(_cdrs(f, tmp_path))
    assert "timetable.json line 1, field tz: unknown time zone 'Europe/Atlantis'" in line


def test_unknown_tz_option(tmp_path: Path) -> None:
    f = _voice_files(tmp_path)
    line = _one_line_error(_cdrs(f, tmp_path, "--tz", "Mars/Olympus"))
    assert line.startswith("error: --tz: unknown time zone 'Mars/Olympus'")


def test_contract_unknown_zone_and_rounding(tmp_path: Path) -> None:
    f = _voice_files(tmp_path)
    base = json.loads(f["contract"].read_text())
    f["contract"].write_text(json.dumps({**base, "billing_tz": "Nowhere/X"}))
    line = _one_line_error(_cdrs(f, tmp_path, "--contract", str(f["contract"])))
    assert "contract.json line 1, field billing_tz: unknown time zone 'Nowhere/X'" in line
    f["contract"].write_text(json.dumps({**base, "rounding": "ROUND_WEIRD"}, indent=1))
    line = _one_line_error(_cdrs(f, tmp_path, "--contract", str(f["contract"])))
    assert "contract.json line" in line
    assert "field rounding: unknown rounding mode 'ROUND_WEIRD' (one of ROUND_HALF_UP," in line


def _usage_args(tmp: Path, rows: str) -> list[str]:
    prices = _write(
        tmp / "prices.csv",
        """
version,effective_from,sku,region,unit,unit_price,tier_mode,tiers,currency
1,2026-01-01T00:00:00Z,vm,,h,10,none,,EUR
""",
    )
    usage = _write(tmp / "usage.csv", "record_id,account_id,usage_start,sku,quantity\n" + rows)
    return [
        "usage",
        "--usage",
        str(usage),
        "--prices",
        str(prices),
        "--period",
        "2026-08",
        "--out",
        str(tmp / "rated.csv"),
    ]


@pytest.mark.parametrize(
    ("quantity", "says"),
    [
        ("100000000000000000000", "beyond the engine's fixed point"),
        ("1" + "0" * 30, "beyond the engine's fixed point"),
        ("0.00728385531", "more than 10 decimal places"),
    ],
)
def test_quantity_beyond_the_fixed_point(tmp_path: Path, quantity: str, says: str) -> None:
    rows = f"u1,1,2026-08-03T08:00:00Z,vm,1\nu2,1,2026-08-03T09:00:00Z,vm,{quantity}\n"
    line = _one_line_error(_usage_args(tmp_path, rows))
    assert "usage.csv line 3, field quantity" in line
    assert says in line


def test_amount_beyond_the_fixed_point(tmp_path: Path) -> None:
    # 10**9 units x 10.00 = 10**10: a valid quantity whose amount no row can hold.
    line = _one_line_error(_usage_args(tmp_path, "u1,1,2026-08-03T08:00:00Z,vm,1000000000\n"))
    assert "usage.csv" in line
    assert "beyond what one row can hold" in line


def test_plan_objects_refuse_a_null_band_and_an_unknown_zone() -> None:
    # The API and the jobs build plans without these loaders: the plan checks too.
    from rerate.rating.plan import Contract, PlanError, Timetable

    with pytest.raises(PlanError, match="default_band: a band name is required"):
        Timetable(id=1, tz="UTC", default_band=None)  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="tz: unknown time zone 'Europe/Atlantis'"):
        Timetable(id=1, tz="Europe/Atlantis", default_band="offpeak")
    with pytest.raises(PlanError, match="billing_tz: unknown time zone 'Mars/Olympus'"):
        Contract(id=1, customer_id=1, currency="EUR", billing_tz="Mars/Olympus")
