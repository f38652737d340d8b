"""Writing a billing run: all files at once, never over an existing run."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rerate.kit.periods import Month
from rerate.rating.engine import RUN_FILE_OMITS, RatingResult, rate
from rerate.rating.output import FILES, write_run

from .helpers import usage_table, utc
from .test_golden import plan, price


def _result(**kw: Any) -> RatingResult:
    rows = [
        {
            "kind": "cloud",
            "account_id": 1,
            "usage_start": utc("2026-08-03T10:00"),
            "sku": "s1",
            "quantity": Decimal("3"),
            "unit": "h",
        },
        {
            "kind": "cloud",
            "account_id": 1,
            "usage_start": utc("2026-08-03T10:00"),
            "sku": "nope",
            "quantity": Decimal("1"),
            "unit": "h",
        },
    ]
    return rate(
        usage_table(rows),
        plan((price(1, "s1", "0.3333333333"),)),
        Month(2026, 8).in_zone("UTC"),
        **kw,
    )


def test_write_run_writes_every_file_with_money_as_strings(tmp_path: Path) -> None:
    result = _result()
    target = write_run(result, tmp_path / "run-1")
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    summary = json.loads((target / "summary.json").read_text())
    # 3 * 0.3333333333 = 0.9999999999 at full scale; 1.00 once rounded
    assert summary["totals"]["EUR"]["usage_net"] == "0.9999999999"
    assert summary["totals"]["EUR"]["usage_net_rounded"] == "1.00"
    assert summary["unrated_by_reason"] == {"no_price": 1}
    rated = pq.read_table(target / "rated")
    assert rated.num_rows == 2
    assert rated.schema.field("net_amount").type == result.rated.schema.field("net_amount").type
    # Run-constant and entry-determined columns are left out of the files only.
    assert set(result.rated.column_names) - set(rated.column_names) == set(RUN_FILE_OMITS)
    kept = result.rated.drop_columns(sorted(RUN_FILE_OMITS))
    assert rated.to_pylist() == kept.to_pylist()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_write_run_never_overwrites(tmp_path: Path) -> None:
    result = _result()
    write_run(result, tmp_path / "run")
    with pytest.raises(FileExistsError):
        write_run(result, tmp_path / "run")


def test_streamed_parts_are_the_rated_and_daily_rows_without_the_omitted_columns() -> None:
    whole = _result()
    parts: list[tuple[int, pa.Table, pa.Table]] = []
    got = _result(part_sink=lambda i, rated, daily: parts.append((i, rated, daily)))
    assert got.rated.num_rows == 0  # handed over, not kept
    assert [i for i, _, _ in parts] == [0]
    expected = whole.rated.drop_columns(sorted(RUN_FILE_OMITS))
    assert parts[0][1].to_pylist() == expected.to_pylist()
    assert parts[0][2].to_pylist() == got.daily.to_pylist() == whole.daily.to_pylist()


def test_every_file_and_directory_of_a_run_is_synced_before_it_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run is published by a commit naming its directory: after a power loss
    every file must be on disk, so each is synced before the rename, and the
    rename itself (the parent directory) before write_run returns."""
    events: list[tuple[str, str]] = []
    real_fdatasync, real_fsync, real_rename = os.fdatasync, os.fsync, os.rename

    def name(fd: int) -> str:
        return os.readlink(f"/proc/self/fd/{fd}")

    def recorded(real: Any) -> Any:
        def sync(fd: int) -> None:
            events.append(("sync", name(fd)))
            real(fd)

        return sync

    def rename(a: Any, b: Any) -> None:
        events.append(("rename", str(b)))
        real_rename(a, b)

    monkeypatch.setattr(os, "fdatasync", recorded(real_fdatasync))
    monkeypatch.setattr(os, "fsync", recorded(real_fsync))
    monkeypatch.setattr(os, "rename", rename)
    target = write_run(_result(), tmp_path / "run-1")
    renamed = events.index(("rename", str(target)))
    synced_before = {Path(p).name for kind, p in events[:renamed] if kind == "sync"}
    files = [p for p in target.rglob("*") if p.is_file()]
    assert {p.name for p in files} <= synced_before
    assert {"rated", "daily"} <= synced_before  # the directory entries of the parts
    assert ("sync", str(tmp_path)) in events[renamed:]  # the rename
