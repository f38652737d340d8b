"""A run's fingerprint depends on what it bills, not on row order or provenance ids."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rerate.billing.runs import fingerprint

DEC = pa.decimal128(38, 10)


def _write(
    path: Path, items: list[str], amounts: list[str], entry_ids: list[int], parts: int = 0
) -> Path:
    """A run directory; `parts` > 0 writes the daily rows as that many parts
    (daily/part-N.parquet), 0 as the single daily.parquet of older runs."""
    path.mkdir()
    daily = pa.table(
        {
            "account_id": pa.array([1] * len(items), pa.int64()),
            "item": pa.array(items),
            "region": pa.array([None] * len(items), pa.string()),
            "net_amount": pa.array([Decimal(a) for a in amounts], DEC),
            "entry_id": pa.array(entry_ids, pa.int64()),
        }
    )
    lines = pa.table({"kind": pa.array(["credit"]), "amount": pa.array([Decimal("-5")], DEC)})
    if parts:
        (path / "daily").mkdir()
        step = -(-daily.num_rows // parts)
        for i in range(parts):
            pq.write_table(daily.slice(i * step, step), path / "daily" / f"part-{i:05d}.parquet")
    else:
        pq.write_table(daily, path / "daily.parquet")
    pq.write_table(lines, path / "period_lines.parquet")
    return path


def test_order_and_provenance_do_not_matter_amounts_do(tmp_path: Path):
    a = _write(tmp_path / "a", ["vm", "disk"], ["1.08", "0.33333333"], [10, 11])
    b = _write(tmp_path / "b", ["disk", "vm"], ["0.33333333", "1.08"], [21, 20], parts=2)
    c = _write(tmp_path / "c", ["vm", "disk"], ["1.08", "0.33333334"], [10, 11])
    d = _write(tmp_path / "d", ["vm", "disk"], ["1.08", "0.33333333"], [10, 11], parts=1)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) == fingerprint(d)
    assert fingerprint(a) != fingerprint(c)
