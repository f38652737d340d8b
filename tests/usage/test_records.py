from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from rerate.usage.records import UsageRecordIn, records_to_table
from rerate.usage.schema import USAGE_SCHEMA

BATCH = TypeAdapter(list[UsageRecordIn])
CLOUD: dict[str, Any] = {
    "record_id": "r-1",
    "kind": "cloud",
    "account_ref": "acme",
    "usage_start": "2026-08-01T00:00:00Z",
    "usage_end": "2026-08-01T01:00:00+00:00",
    "sku": "vm.small",
    "quantity": "1.5",
    "unit": "Hours",
    "list_cost": "0.123456789012",
    "currency": "EUR",
}
CDR: dict[str, Any] = {
    "record_id": "c-1",
    "kind": "cdr",
    "account_ref": "peer-1",
    "usage_start": "2026-08-01T10:00:00+02:00",
    "usage_end": "2026-08-01T10:01:00+02:00",
    "calling_number": "+4930999",
    "called_number": "0301234567",
    "duration_seconds": 60,
    "billable_seconds": 55,
    "disposition": "answered",
}


def test_a_json_batch_becomes_canonical_rows() -> None:
    records = BATCH.validate_json(json.dumps([CLOUD, CDR]))
    result = records_to_table(records, namespace="cust-7", country_code="49")
    assert result.table.schema == USAGE_SCHEMA
    cloud, cdr = result.table.to_pylist()
    assert cloud["record_id"] == "api:cust-7:r-1"
    assert (cloud["kind"], cloud["source"]) == ("cloud", "api")
    assert cloud["quantity"] == Decimal("1.5")
    assert cloud["list_cost"] == Decimal("0.1234567890")  # 10 places, half up
    assert cdr["usage_start"] == datetime(2026, 8, 1, 8, tzinfo=UTC)
    assert (cdr["destination"], cdr["disposition"]) == ("49301234567", "ANSWERED")
    assert result.line_numbers.tolist() == [1, 2]
    assert result.file == "request"


@pytest.mark.parametrize("value", [1.5, 2, True])
def test_json_numbers_are_refused_for_money_and_quantities(value: object) -> None:
    with pytest.raises(ValidationError, match="not a JSON number"):
        BATCH.validate_json(json.dumps([{**CLOUD, "quantity": value}]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"usage_start": "2026-08-01T00:00:00"}, "timezone"),
        ({"usage_end": "2026-07-31T00:00:00Z"}, "before usage_start"),
        ({"quantity": "-1"}, "negative"),
        ({"quantity": "NaN"}, "finite"),
        ({"quantity": "abc"}, "not a decimal"),
        ({"sku": None}, "needs sku"),
        ({"extra": "x"}, "Extra inputs"),
        ({"currency": None}, "needs a currency"),
    ],
)
def test_invalid_records_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BATCH.validate_json(json.dumps([{**CLOUD, **change}]))


def test_cdr_records_need_their_durations() -> None:
    with pytest.raises(ValidationError, match="needs called_number"):
        BATCH.validate_json(json.dumps([{**CDR, "billable_seconds": None}]))


def test_python_callers_may_pass_decimals() -> None:
    record = UsageRecordIn.model_validate({**CLOUD, "quantity": Decimal("2.25")})
    assert records_to_table([record]).table.column("quantity").to_pylist() == [Decimal("2.25")]


def test_same_record_same_hashes_and_changed_quantity_changes_only_the_content_hash() -> None:
    a = records_to_table(BATCH.validate_json(json.dumps([CLOUD]))).table
    b = records_to_table(BATCH.validate_json(json.dumps([CLOUD]))).table
    c = records_to_table(BATCH.validate_json(json.dumps([{**CLOUD, "quantity": "2"}]))).table
    assert a.column("content_hash") == b.column("content_hash")
    assert a.column("record_id") == c.column("record_id")
    assert a.column("content_hash") != c.column("content_hash")
