from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import ImportOptions, parse

from ..helpers import EXAMPLES, write

HEADER = "Account,Start,Calling,Called,Duration_Seconds,Billable_Seconds,Disposition\n"


def test_example_computes_end_from_duration() -> None:
    result = parse(
        "generic_cdr", EXAMPLES / "generic" / "cdrs.csv", ImportOptions(country_code="49")
    )
    rows = result.table.to_pylist()
    assert rows[0]["record_id"] == "generic_cdr::call-0001"
    assert rows[0]["usage_start"] == datetime(2026, 8, 1, 7, 30, tzinfo=UTC)
    assert rows[0]["usage_end"] == datetime(2026, 8, 1, 7, 32, 5, tzinfo=UTC)
    assert rows[1]["destination"] == "4915112345678"
    assert rows[2]["record_id"].startswith("generic_cdr::#")  # no record_id given
    assert result.line_numbers.tolist() == [2, 3, 4]


def test_columns_match_without_case_and_in_any_order(tmp_path: Path) -> None:
    result = parse(
        "generic_cdr",
        write(
            tmp_path / "c.csv", HEADER + "p1,2026-08-01T10:00:00Z,1,+442071234567,60,55,answered\n"
        ),
    )
    row = result.table.to_pylist()[0]
    assert (row["account_ref"], row["destination"], row["disposition"]) == (
        "p1",
        "442071234567",
        "ANSWERED",
    )


def test_start_without_offset_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", HEADER + "p1,2026-08-01 10:00:00,1,2,60,55,ANSWERED\n")
    with pytest.raises(ImportRejected) as err:
        parse("generic_cdr", path)
    assert str(err.value) == "c.csv:2: Start: timestamp without UTC offset: '2026-08-01 10:00:00'"


def test_missing_column(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse("generic_cdr", write(tmp_path / "c.csv", HEADER.replace(",Disposition", "") + "p1\n"))
    assert str(err.value) == "c.csv:1: disposition: missing column"


def test_overlong_duration_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", HEADER + "p1,2026-08-01T10:00:00Z,1,2,999999999,55,ANSWERED\n")
    with pytest.raises(ImportRejected) as err:
        parse("generic_cdr", path)
    assert str(err.value) == "c.csv:2: Duration_Seconds: duration over 7 days: '999999999'"
