"""`rerate rate cdrs|usage` through Typer's CliRunner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from rerate.cli.rate import app

runner = CliRunner()


def _write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def _voice_files(tmp: Path) -> dict[str, Path]:
    return {
        "tariffs": _write(
            tmp / "tariffs.csv",
            """
version,effective_from,prefix,destination_group,rate_per_minute,connect_fee,initial_increment,subsequent_increment,band,currency
1,2026-01-01T00:00:00Z,33,France,0.02,0,1,1,,EUR
1,2026-01-01T00:00:00Z,336,France Mobile,0.10,0,30,6,,EUR
1,2026-01-01T00:00:00Z,336,France Mobile,0.30,0,30,6,peak,EUR
""",
        ),
        "timetable": _write(
            tmp / "timetable.json",
            json.dumps(
                {
                    "tz": "Europe/Paris",
                    "default_band": "offpeak",
                    "rules": [
                        {
                            "band": "peak",
                            "weekdays": [0, 1, 2, 3, 4],
                            "start": "08:00",
                            "end": "19:00",
                            "priority": 1,
                        }
                    ],
                    "holidays": [{"date": "2026-08-15", "band": "offpeak"}],
                }
            ),
        ),
        "usage": _write(
            tmp / "cdrs.csv",
            """
record_id,account_id,start,billable_seconds,called_number
c1,1,2026-08-03T08:00:00Z,65,06 12 34 56 78
c2,1,2026-08-03T20:00:00Z,65,+33 1 23 45 67 89
c3,1,2026-08-03T20:00:00Z,10,+44 20 7946 0000
""",
        ),
        "contract": _write(
            tmp / "contract.json",
            json.dumps(
                {
                    "customer_id": 1,
                    "currency": "EUR",
                    "billing_tz": "Europe/Paris",
                    "rules": [
                        {"id": 1, "kind": "discount", "percent": "10"},
                        {"id": 2, "kind": "minimum_commitment", "amount": "1"},
                    ],
                }
            ),
        ),
        "profiles": _write(
            tmp / "profiles.json",
            json.dumps(
                [
                    {
                        "id": 1,
                        "name": "Bundle",
                        "unit": "minutes",
                        "account_ids": [1],
                        "included_quantity": "0.5",
                        "period_fee": "2.50",
                    }
                ]
            ),
        ),
    }


def test_rate_cdrs_csv_to_csv(tmp_path: Path) -> None:
    f = _voice_files(tmp_path)
    out = tmp_path / "rated.csv"
    result = runner.invoke(
        app,
        [
            "cdrs",
            "--usage",
            str(f["usage"]),
            "--tariffs",
            str(f["tariffs"]),
            "--timetable",
            str(f["timetable"]),
            "--contract",
            str(f["contract"]),
            "--profiles",
            str(f["profiles"]),
            "--country-code",
            "33",
            "--period",
            "2026-08",
            "--out",
            str(out),
            "--run-dir",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        rows = {r["record_id"]: r for r in csv.DictReader(fh)}
    # c1: 0612... -> 33612..., peak (10:00 CEST): 66 s billed (30/6), 30 s included
    #     (0.5 min), 36 s * 0.30 / 60 = 0.18 list; net -10% = 0.162
    assert rows["c1"]["band"] == "peak"
    assert rows["c1"]["list_amount"] == "0.1800000000"
    assert rows["c1"]["net_amount"] == "0.1620000000"
    # c2: 331..., offpeak, 65 s * 0.02 / 60 = 0.0216666667; net * 0.9 = 0.0195000000
    assert rows["c2"]["net_amount"] == "0.0195000000"
    # c3: 44... has no tariff: unrated, kept
    assert rows["c3"]["status"] == "unrated"
    assert rows["c3"]["reason"] == "no_tariff"
    summary = json.loads(result.output)
    assert summary["unrated_by_reason"] == {"no_tariff": 1}
    lines = pq.read_table(tmp_path / "run" / "period_lines.parquet").to_pylist()
    # commitment 1 - 0.1815 (0.162 + 0.0195) = 0.8185 -> 0.82; profile fee 2.50
    assert [(ln["kind"], str(ln["amount"])) for ln in lines] == [
        ("minimum_commitment", "0.8200000000"),
        ("profile_fee", "2.5000000000"),
    ]


def test_rate_usage_parquet_out(tmp_path: Path) -> None:
    prices = _write(
        tmp_path / "prices.csv",
        """
version,effective_from,sku,region,unit,unit_price,tier_mode,tiers,currency
1,2026-01-01T00:00:00Z,vm,,h,0.05,none,,EUR
1,2026-01-01T00:00:00Z,gb,,GB,0,graduated,0:0.10;10:0.08,EUR
""",
    )
    usage = _write(
        tmp_path / "usage.csv",
        """
record_id,account_id,usage_start,usage_end,service,sku,region,quantity,unit,list_cost,currency
u1,4,2026-08-03T08:00:00Z,2026-08-03T09:00:00Z,compute,vm,eu,3,h,0.2,EUR
u2,4,2026-08-03T08:00:00Z,2026-08-03T09:00:00Z,storage,gb,eu,12,GB,1.0,EUR
u3,4,2026-08-03T08:00:00Z,2026-08-03T09:00:00Z,other,xx,eu,1,h,0.7,EUR
""",
    )
    out = tmp_path / "rated.parquet"
    result = runner.invoke(
        app,
        [
            "usage",
            "--usage",
            str(usage),
            "--prices",
            str(prices),
            "--period",
            "2026-08",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["record_id"]: r for r in pq.read_table(out).to_pylist()}
    # u1: 3 * 0.05 = 0.15; u2: 10 * 0.10 + 2 * 0.08 = 1.16; u3: no price (no pass-through)
    assert str(rows["u1"]["net_amount"]) == "0.1500000000"
    assert str(rows["u2"]["net_amount"]) == "1.1600000000"
    assert rows["u3"]["reason"] == "no_price"


def test_bad_input_is_a_clean_error(tmp_path: Path) -> None:
    prices = _write(
        tmp_path / "prices.csv",
        """
version,effective_from,sku,unit_price,currency
1,2026-01-01T00:00:00,vm,0.05,EUR
""",
    )
    usage = _write(tmp_path / "usage.csv", "record_id,account_id,usage_start,sku,quantity\n")
    result = runner.invoke(
        app,
        [
            "usage",
            "--usage",
            str(usage),
            "--prices",
            str(prices),
            "--period",
            "2026-08",
            "--out",
            str(tmp_path / "x.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "prices.csv line 2, field effective_from" in result.output
