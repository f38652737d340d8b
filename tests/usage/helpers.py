"""Helpers shared by the usage tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from rerate.usage.records import UsageRecordIn, records_to_table
from rerate.usage.resolve import resolve_accounts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = datetime(2026, 8, 1, tzinfo=UTC)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def cloud_batch(
    rows: Iterable[tuple[str, str, str, int]],
    *,
    accounts: Mapping[str, int] | None = None,
) -> pa.Table:
    """A resolved canonical table from (record_id, account_ref, quantity, hour offset)."""
    records = [
        UsageRecordIn(
            record_id=rid,
            kind="cloud",
            account_ref=account,
            usage_start=T0 + timedelta(hours=hours),
            usage_end=T0 + timedelta(hours=hours + 1),
            sku="SKU-1",
            quantity=Decimal(quantity),
            unit="Hours",
        )
        for rid, account, quantity, hours in rows
    ]
    result = records_to_table(records)
    lookup = dict(accounts or {"acme": 1, "globex": 2})
    table, _ = resolve_accounts(result, lookup, file="request", skip_bad_rows=False)
    return table
