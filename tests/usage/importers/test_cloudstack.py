from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --------------------------------------------------------------------------- storage by size
# Our own records in the shape CloudStack's listUsageRecords writes them (as in
# jclouds' listusagerecordsresponse fixture): `size` in bytes beside rawusage.

GIB = 1 << 30


def volume(size: Any, hours: str = "24", **kw: Any) -> dict[str, Any]:
    return {
        **RECORD,
        "usagetype": 6,
        "rawusage": hours,
        "usage": f"{hours} Hrs",
        "usageid": "vol-1",
        "size": size,
        "type": "VOLUME",
        **kw,
    }


def test_volume_quantity_is_size_times_hours_in_gb_hours(tmp_path: Path) -> None:
    records = [volume(50 * GIB), volume(str(3 * GIB // 2), "12.5", usageid="vol-2")]
    rows = parse("cloudstack", dump(tmp_path, records)).table.to_pylist()
    # 50 GiB x 24 h = 1200 GB-h; 1.5 GiB x 12.5 h = 18.75 GB-h.
    assert [(r["service"], r["unit"], r["quantity"]) for r in rows] == [
        ("VOLUME", "GB-Hrs", Decimal(1200)),
        ("VOLUME", "GB-Hrs", Decimal("18.75")),
    ]
    assert rows[0]["sku"] == "6:off-1"


def test_volume_gb_hours_round_once_half_up_at_ten_places(tmp_path: Path) -> None:
    # 1 byte x 1 h = 2^-30 GB-h = 0.00000000093132257... -> 0.0000000009;
    # 3 bytes x 1 h = 0.0000000027939677 -> 0.0000000028.
    records = [volume(1, "1"), volume(3, "1", usageid="vol-2")]
    got = parse("cloudstack", dump(tmp_path, records)).table.column("quantity").to_pylist()
    assert got == [Decimal("0.0000000009"), Decimal("0.0000000028")]


def test_a_resized_volume_keeps_both_records_of_the_day(tmp_path: Path) -> None:
    # CloudStack writes one record per size the volume had in the interval.
    records = [volume(10 * GIB, "6"), volume(20 * GIB, "18")]
    rows = parse("cloudstack", dump(tmp_path, records)).table.to_pylist()
    assert len({r["record_id"] for r in rows}) == 2
    assert sum(r["quantity"] for r in rows) == Decimal(60 + 360)


def test_a_volume_without_size_is_refused_naming_the_field(tmp_path: Path) -> None:
    broken = {k: v for k, v in volume(GIB).items() if k != "size"}
    with pytest.raises(ImportRejected) as err:
        parse("cloudstack", dump(tmp_path, [RECORD, broken]))
    assert str(err.value) == "usage.json:2: size: missing value (a volume is billed by size)"


def test_bad_sizes_become_rejects(tmp_path: Path) -> None:
    records = [volume("big"), volume(-5), volume(10**26, "1000000000000")]
    result = parse("cloudstack", dump(tmp_path, records), ImportOptions(skip_bad_rows=True))
    assert [(r.line, r.column, r.reason) for r in result.rejects] == [
        (1, "size", "unparsable number: 'big'"),
        (2, "size", "negative size: '-5'"),
        (3, "size", f"GB-hours beyond 27 integer digits: '{10**26}'"),
    ]


def test_other_usage_types_ignore_size(tmp_path: Path) -> None:
    template = {**RECORD, "usagetype": 7, "rawusage": "24", "size": 3117171712}
    row = parse("cloudstack", dump(tmp_path, [template])).table.to_pylist()[0]
    assert (row["service"], row["unit"], row["quantity"]) == ("TEMPLATE", "Hrs", Decimal(24))


def test_usage_type_29_is_bucket_storage_in_gb_hours(tmp_path: Path) -> None:
    # Type 29 (UsageTypes.BUCKET): rawusage is the bucket's size in bytes over
    # the interval; 2 GiB over a whole day (00:00 to 23:59:59) = 48 GB-h.
    bucket = {
        **RECORD,
        "usagetype": 29,
        "rawusage": str(2 * GIB),
        "usage": f"{2 * GIB} bytes",
        "usageid": "bucket-7",
        "offeringid": None,
    }
    row = parse("cloudstack", dump(tmp_path, [bucket])).table.to_pylist()[0]
    assert (row["service"], row["sku"], row["unit"], row["quantity"]) == (
        "BUCKET",
        "29",
        "GB-Hrs",
        Decimal(48),
    )


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=10**15),
    hours=st.decimals(min_value=0, max_value=744, places=6, allow_nan=False),
)
def test_volume_gb_hours_are_exact_decimal_products(size: int, hours: Decimal) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = dump(Path(tmp), [volume(size, str(hours))])
        got = parse("cloudstack", path).table.column("quantity")[0].as_py()
    with localcontext(Context(prec=80)):
        want = (Decimal(size) * hours / Decimal(2**30)).quantize(
            Decimal("1e-10"), rounding=ROUND_HALF_UP
        )
    assert got == want
