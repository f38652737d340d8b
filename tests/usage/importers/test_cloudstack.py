from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import ImportOptions, parse

from ..helpers import EXAMPLES, write

RECORD: dict[str, Any] = {
    "account": "tenant-a",
    "accountid": "acc-1",
    "zoneid": "zone-1",
    "usagetype": 1,
    "rawusage": "24",
    "usageid": "vm-1",
    "offeringid": "off-1",
    "startdate": "2026-08-01'T'00:00:00+02:00",
    "enddate": "2026-08-01'T'23:59:59+02:00",
}


def dump(tmp_path: Path, records: list[Any], raw: str | None = None) -> Path:
    return write(
        tmp_path / "usage.json", raw if raw is not None else json.dumps({"usagerecord": records})
    )


def test_example_maps_usage_types_offerings_and_half_open_days() -> None:
    result = parse("cloudstack", EXAMPLES / "cloudstack" / "usage.json")
    rows = result.table.to_pylist()
    assert result.line_numbers.tolist() == [1, 2, 3, 4]
    vm, volume, net, ip = rows
    assert vm["account_ref"] == "6a0f3c52-1d2e-4b7a-9c3d-5e6f7a8b9c01"
    assert (vm["service"], vm["sku"], vm["unit"]) == (
        "RUNNING_VM",
        "1:7e8f9a0b-1c2d-4e3f-a4b5-c6d7e8f9a0b1",
        "Hrs",
    )
    assert vm["usage_start"] == datetime(2026, 8, 1, tzinfo=UTC)
    # 23:59:59 is the last second of the day: the interval ends at midnight.
    assert vm["usage_end"] == datetime(2026, 8, 2, tzinfo=UTC)
    assert vm["region"] == "b3c4d5e6-f7a8-4b9c-8d0e-1f2a3b4c5d6e"
    assert volume["sku"].startswith("6:")
    assert (net["sku"], net["unit"], net["quantity"]) == ("4", "Bytes", Decimal(1073741824))
    assert ip["quantity"] == Decimal("12.5")
    assert result.account_column == "accountid"


def test_offsets_are_honoured(tmp_path: Path) -> None:
    result = parse("cloudstack", dump(tmp_path, [RECORD]))
    assert result.table.column("usage_start").to_pylist() == [datetime(2026, 7, 31, 22, tzinfo=UTC)]


def test_a_bare_list_and_json_numbers_are_accepted_exactly(tmp_path: Path) -> None:
    text = json.dumps([RECORD]).replace('"rawusage": "24"', '"rawusage": 0.1000000000000000055511')
    result = parse("cloudstack", dump(tmp_path, [], raw=text))
    assert result.table.column("quantity").to_pylist() == [Decimal("0.1")]


def test_missing_key_rejects_at_the_record_position(tmp_path: Path) -> None:
    broken = {k: v for k, v in RECORD.items() if k != "rawusage"}
    with pytest.raises(ImportRejected) as err:
        parse("cloudstack", dump(tmp_path, [RECORD, broken]))
    assert str(err.value) == "usage.json:2: rawusage: missing column"


def test_negative_rawusage_and_bad_dates_become_rejects(tmp_path: Path) -> None:
    records: list[Any] = [
        RECORD,
        {**RECORD, "rawusage": "-1"},
        {**RECORD, "startdate": "yesterday"},
        "junk",
    ]
    result = parse("cloudstack", dump(tmp_path, records), ImportOptions(skip_bad_rows=True))
    assert result.table.num_rows == 1
    assert [(r.line, r.column, r.reason) for r in result.rejects] == [
        (2, "rawusage", "negative quantity: '-1'"),
        (3, "startdate", "unparsable timestamp: 'yesterday'"),
        (4, None, "not a JSON object"),
    ]
    assert json.loads(result.rejects[0].raw)["rawusage"] == "-1"


def test_invalid_json_is_rejected_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse("cloudstack", dump(tmp_path, [], raw='{\n "usagerecord": [\n  {"a": 1,}\n ]}'))
    assert err.value.line == 3
    assert "not valid JSON" in err.value.message


def test_record_id_is_stable_and_ignores_description(tmp_path: Path) -> None:
    a = parse("cloudstack", dump(tmp_path, [RECORD])).table.column("record_id")
    b = parse("cloudstack", dump(tmp_path, [{**RECORD, "description": "reworded"}])).table.column(
        "record_id"
    )
    assert a == b
    assert a[0].as_py().startswith("cloudstack::#")
