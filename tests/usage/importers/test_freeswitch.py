from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import ImportOptions, parse
from rerate.usage.importers.freeswitch import DEFAULT_TEMPLATE

from ..helpers import EXAMPLES, write


def line(
    *, answer: str = "2026-08-01 10:00:02", cause: str = "NORMAL_CLEARING", account: str = "peer-1"
) -> str:
    fields = [
        "Desk", "+4930999", "0301234567", "default", "2026-08-01 10:00:00", answer,
        "2026-08-01 10:01:00", "60", "58" if answer else "0", cause,
        "0a1b2c3d-0000-4000-8000-000000000001", "", account, "PCMA", "PCMA",
    ]  # fmt: skip
    return ",".join(f'"{f}"' for f in fields) + "\n"


def test_example_maps_the_default_template() -> None:
    options = ImportOptions(source_tz="Europe/Berlin", country_code="49")
    result = parse("freeswitch", EXAMPLES / "freeswitch" / "Master.csv", options)
    rows = result.table.to_pylist()
    assert [r["disposition"] for r in rows] == ["ANSWERED", "NO ANSWER", "BUSY"]
    assert rows[0]["record_id"] == "freeswitch::6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    assert rows[0]["usage_start"] == datetime(2026, 8, 1, 9, 30, tzinfo=UTC)
    assert (rows[0]["account_ref"], rows[0]["destination"]) == ("peer-acme", "49891234567")
    assert (rows[0]["duration_seconds"], rows[0]["billable_seconds"]) == (125, 120)


@pytest.mark.parametrize(
    ("cause", "answered", "expected"),
    [
        ("NORMAL_CLEARING", True, "ANSWERED"),
        ("ORIGINATOR_CANCEL", False, "NO ANSWER"),
        ("USER_BUSY", False, "BUSY"),
        ("NO_ROUTE_DESTINATION", False, "FAILED"),
    ],
)
def test_hangup_cause_maps_to_disposition(
    tmp_path: Path, cause: str, answered: bool, expected: str
) -> None:
    text = line(answer="2026-08-01 10:00:02" if answered else "", cause=cause)
    result = parse("freeswitch", write(tmp_path / "Master.csv", text))
    assert result.table.column("disposition").to_pylist() == [expected]


def test_missing_accountcode_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse("freeswitch", write(tmp_path / "Master.csv", line() + line(account="")))
    assert (
        str(err.value)
        == "Master.csv:2: accountcode: missing value (set account_from to read the account"
        " elsewhere, e.g. caller_id_number)"
    )


def test_another_template_is_read_with_explicit_columns(tmp_path: Path) -> None:
    # The `sql`-style template: no codecs.
    fields = line().strip().split(",")[:13]
    options = ImportOptions(columns=DEFAULT_TEMPLATE[:13])
    result = parse("freeswitch", write(tmp_path / "Master.csv", ",".join(fields) + "\n"), options)
    assert result.table.num_rows == 1


def test_a_template_missing_a_needed_field_is_refused(tmp_path: Path) -> None:
    options = ImportOptions(columns=tuple(c for c in DEFAULT_TEMPLATE if c != "billsec"))
    with pytest.raises(ImportRejected) as err:
        parse("freeswitch", write(tmp_path / "Master.csv", line()), options)
    assert (err.value.line, err.value.column) == (1, "billsec")
