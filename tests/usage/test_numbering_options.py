"""Numbering rules per usage source: import option, API batch, upload form
and `rerate import`; invalid settings are refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rerate.kit.numbering import NANP
from rerate.usage.importers import ImportOptions, parse
from rerate.usage.records import UsageRecordIn, records_to_table
from tests.usage.test_import_api import upload
from tests.world import World

from .helpers import write

HEADER = "Record_Id,Account,Start,Calling,Called,Duration_Seconds,Billable_Seconds,Disposition\n"
# Called numbers as a US switch writes them, and what each must become.
US_CALLS = {
    "trunk": ("1 (212) 555-0100", "12125550100"),
    "plus": ("+1 212 555 0100", "12125550100"),
    "intl": ("011 44 20 7946 0000", "442079460000"),
    "short": ("911", None),  # a short code, never looked up (91 is India)
    "sip": ("sip:bob@example.com", None),
    "long": ("0114412345678901234", None),  # 17 digits after 011: beyond E.164
}


def _us_file(tmp: Path) -> Path:
    lines = [
        f"{rid},peer-1,2026-08-01T10:00:00Z,2125550199,{called},60,55,ANSWERED\n"
        for rid, (called, _) in US_CALLS.items()
    ]
    return write(tmp / "us.csv", HEADER + "".join(lines))


@pytest.mark.parametrize(
    "options",
    [
        ImportOptions(numbering="NANP"),
        ImportOptions(numbering="us"),
        ImportOptions(country_code="1", international_prefix="011", trunk_prefix="1"),
    ],
)
def test_an_import_normalises_with_the_source_numbering(
    tmp_path: Path, options: ImportOptions
) -> None:
    rows = parse("generic_cdr", _us_file(tmp_path), options).table.to_pylist()
    got = {r["record_id"].rsplit(":", 1)[1]: r["destination"] for r in rows}
    expected = {rid: dest for rid, (_, dest) in US_CALLS.items()}
    if options.numbering is None:
        expected["short"] = "911"  # no preset: no minimum length (as before issue 13)
    assert got == expected
    # the dialled text stays, for the invoice and for a re-import with other rules
    assert [r["called_number"] for r in rows] == [c for c, _ in US_CALLS.values()]


def test_the_default_numbering_is_unchanged(tmp_path: Path) -> None:
    rows = parse("generic_cdr", _us_file(tmp_path)).table.to_pylist()
    # 011... is not an international prefix by default: kept as dialled digits
    assert rows[2]["destination"] == "011442079460000"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"numbering": "Mars"}, "unknown numbering 'Mars'"),
        ({"trunk_prefix": "O"}, "trunk prefix must be up to 4 digits"),
        ({"country_code": "01"}, "country code must be 1-3 digits"),
        ({"international_prefix": "00", "trunk_prefix": "00"}, "also an international prefix"),
    ],
)
def test_invalid_numbering_options_are_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImportOptions(**kwargs)  # type: ignore[arg-type]


def test_api_batch_uses_the_given_numbering() -> None:
    record = UsageRecordIn.model_validate(
        {
            "record_id": "c-1",
            "kind": "cdr",
            "account_ref": "peer-1",
            "usage_start": "2026-08-01T10:00:00Z",
            "usage_end": "2026-08-01T10:01:00Z",
            "called_number": "1-212-555-0100",
            "duration_seconds": 60,
            "billable_seconds": 55,
        }
    )
    [row] = records_to_table([record], numbering=NANP).table.to_pylist()
    assert row["destination"] == "12125550100"


def test_api_refuses_invalid_numbering(client: TestClient, world: World) -> None:
    record = {
        "record_id": "c-1",
        "kind": "cdr",
        "account_ref": "peer-1",
        "usage_start": "2026-08-01T10:00:00Z",
        "usage_end": "2026-08-01T10:01:00Z",
        "called_number": "1-212-555-0100",
        "duration_seconds": 60,
        "billable_seconds": 55,
    }
    r = client.post(
        "/api/v1/usage/records",
        json={"records": [record], "numbering": "Mars"},
        headers=world.headers("platform_admin"),
    )
    assert r.status_code == 422
    assert "unknown numbering 'Mars'" in r.json()["detail"]


def test_upload_refuses_invalid_numbering(client: TestClient, world: World, tmp_path: Path) -> None:
    r = upload(
        client,
        world,
        "platform_admin",
        _us_file(tmp_path),
        format="generic_cdr",
        trunk_prefix="x",
    )
    assert r.status_code == 422
    assert "trunk prefix must be" in r.json()["detail"]


def test_cli_import_refuses_invalid_numbering_in_one_line(tmp_path: Path) -> None:
    from rerate.cli.main import app

    result = CliRunner().invoke(
        app,
        [
            "import",
            "generic_cdr",
            str(_us_file(tmp_path)),
            "--as",
            "x@test.example",
            "--numbering",
            "Mars",
        ],
    )
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: unknown numbering 'Mars'")
