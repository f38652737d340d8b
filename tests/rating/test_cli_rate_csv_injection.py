"""`rerate rate ... --out rated.csv`: text from tariff decks and usage files
(destination groups, record ids) reaches a spreadsheet as text (issue 14, section 7)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from rerate.cli.rate import app
from tests.rating.test_cli_rate import _voice_files, _write

EVIL_GROUP = '=HYPERLINK("http://evil.example","x")'
EVIL_RECORD = "@SUM(A1:A9)"


def test_rated_rows_csv_escapes_formulas_and_keeps_amounts_numbers(tmp_path: Path) -> None:
    f = _voice_files(tmp_path)
    text = (
        f["tariffs"]
        .read_text(encoding="utf-8")
        .replace("France Mobile", f'"{EVIL_GROUP.replace(chr(34), chr(34) * 2)}"')
    )
    _write(f["tariffs"], text)
    _write(f["usage"], f["usage"].read_text(encoding="utf-8").replace("\nc1,", f"\n{EVIL_RECORD},"))
    out = tmp_path / "rated.csv"
    args = ["cdrs", "--usage", str(f["usage"]), "--tariffs", str(f["tariffs"])]
    args += ["--timetable", str(f["timetable"]), "--country-code", "33"]
    args += ["--period", "2026-08", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cells = [v for row in rows for v in row.values() if v]
    assert "'" + EVIL_GROUP in cells
    assert "'" + EVIL_RECORD in cells
    for cell in cells:
        if cell[:1] in ("=", "+", "-", "@"):
            Decimal(cell)  # only a plain number may start like a formula
    assert all(Decimal(row["net_amount"]) >= 0 for row in rows if row.get("net_amount"))
