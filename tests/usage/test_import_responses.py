"""What an import over the API answers: rejects as sent, and no server paths."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from rerate.kit import csvout
from rerate.usage.errors import RejectedRow, write_rejects_csv
from tests.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EVIL = '=HYPERLINK("http://evil.example","x")'


def _upload(client: TestClient, world: World, name: str, body: bytes, fmt: str, **form: str):
    return client.post(
        "/api/v1/usage/imports",
        files={"file": (name, body, "application/octet-stream")},
        data={"format": fmt, **form},
        headers=world.headers("platform_admin"),
    )


def _assert_no_server_path(text: str, data_dir: Path) -> None:
    assert tempfile.gettempdir() not in text
    assert str(data_dir) not in text
    assert str(Path.cwd()) not in text


def test_rejects_come_back_as_sent_and_without_paths(
    client: TestClient, world: World, data_dir: Path
):
    lines = (EXAMPLES / "focus" / "sample.csv").read_text().splitlines()
    columns, bad = lines[0].split(","), lines[1].split(",")
    bad[0] = EVIL.replace(",", ";")  # the raw line starts like a formula
    bad[columns.index("ConsumedQuantity")] = "many"  # not a number: the row is rejected
    body = "\n".join([*lines, ",".join(bad)]) + "\n"
    r = _upload(
        client,
        world,
        "usage.csv",
        body.encode(),
        "focus",
        skip_bad_rows="true",
        create_accounts="true",
        owner_customer_id=str(world.nodes["cust_a1x"].id),
    )
    assert r.status_code == 201, r.text
    _assert_no_server_path(r.text, data_dir)
    assert "rejects_file" not in r.json()
    [reject] = r.json()["rejects"]
    assert reject["raw"] == ",".join(bad)  # not the spreadsheet-escaped form


def test_a_broken_parquet_upload_names_no_server_path(
    client: TestClient, world: World, data_dir: Path
):
    r = _upload(client, world, "usage.parquet", b"PAR1 this is not parquet", "focus")
    assert r.status_code == 422, r.text
    _assert_no_server_path(r.text, data_dir)


def test_the_rejects_file_escapes_formulas(tmp_path: Path):
    path = tmp_path / "rejects.csv"
    write_rejects_csv(
        path, [RejectedRow(file="=evil.csv", line=3, column="@col", reason="-bad", raw=EVIL)]
    )
    with path.open(newline="", encoding="utf-8") as fh:
        [_header, cells] = list(csv.reader(fh))
    assert cells == ["'=evil.csv", "3", "'@col", "'-bad", "'" + EVIL]
    with path.open(newline="", encoding="utf-8") as fh:
        [row] = list(csvout.read_dicts(fh))
    assert row == {
        "file": "=evil.csv",
        "line": "3",
        "column": "@col",
        "reason": "-bad",
        "raw": EVIL,
    }
