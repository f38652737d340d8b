from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rerate.usage.errors import StoreBusy
from rerate.usage.importers import parse
from rerate.usage.resolve import resolve_accounts
from rerate.usage.schema import USAGE_SCHEMA
from rerate.usage.store import UsageStore, null_columns

from .helpers import EXAMPLES, T0, cloud_batch


def commit(store: UsageStore, table: pa.Table, import_id: int, visible: list[int]) -> None:
    """What the service does: plan and write under the lock, then 'commit'."""
    with store.import_lock():
        plan = store.plan_import(table, visible)
        store.write_import(plan, import_id)
    visible.append(import_id)


def quantities(store: UsageStore, visible: list[int], **kw: object) -> dict[str, Decimal]:
    t = store.scan(visible, **kw)  # type: ignore[arg-type]
    ids = t.column("record_id").to_pylist()
    assert len(ids) == len(set(ids)), "a record id came back twice"
    return dict(zip(ids, t.column("quantity").to_pylist(), strict=True))


def test_example_file_round_trips_through_the_store(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    result = parse("focus", EXAMPLES / "focus" / "sample.csv")
    lookup = {"444455556666": 1, "777788889999": 2, "111122223333": 3}
    table, _ = resolve_accounts(result, lookup, file=result.file, skip_bad_rows=False)
    with store.import_lock():
        plan = store.plan_import(table, [])
        written = store.write_import(plan, 1)
    assert (plan.new, plan.unchanged, plan.corrected, plan.duplicates_in_batch) == (4, 0, 0, 0)
    assert written.rows_written == 4
    assert [p.relative_to(tmp_path).as_posix() for p in written.files] == [
        "usage/day=2026-08-01/1.parquet"
    ]
    assert not [n for n in os.listdir(tmp_path / "usage" / "day=2026-08-01") if n.startswith(".")]
    back = store.scan([1])
    assert back.schema == USAGE_SCHEMA
    assert back.num_rows == 4
    assert set(back.column("import_id").to_pylist()) == {1}
    assert sorted(back.column("record_id").to_pylist()) == sorted(
        table.column("record_id").to_pylist()
    )


def test_files_are_split_by_utc_day_of_usage_start(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(
        store,
        cloud_batch([("a", "acme", "1", 0), ("b", "acme", "1", 23), ("c", "acme", "1", 24)]),
        1,
        visible,
    )
    days = sorted(p.name for p in (tmp_path / "usage").glob("day=*"))
    assert days == ["day=2026-08-01", "day=2026-08-02"]
    assert pq.read_table(tmp_path / "usage" / "day=2026-08-02" / "1.parquet").num_rows == 1


def test_importing_the_same_file_twice_adds_nothing(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    batch = cloud_batch([("a", "acme", "1", 0), ("b", "globex", "2", 1)])
    commit(store, batch, 1, visible)
    with store.import_lock():
        plan = store.plan_import(batch, visible)
        written = store.write_import(plan, 2)
    assert (plan.new, plan.unchanged, plan.corrected) == (0, 2, 0)
    assert (written.rows_written, written.files) == (0, ())
    assert store.scan([*visible, 2]).num_rows == 2


def test_overlapping_files_add_only_the_new_records(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(store, cloud_batch([(f"r{i}", "acme", "1", i) for i in range(10)]), 1, visible)
    second = cloud_batch([(f"r{i}", "acme", "1", i) for i in range(5, 15)])
    with store.import_lock():
        plan = store.plan_import(second, visible)
    assert (plan.new, plan.unchanged, plan.corrected) == (5, 5, 0)
    store.write_import(plan, 2)
    visible.append(2)
    assert len(quantities(store, visible)) == 15


def test_corrected_rows_supersede_the_old_version(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(store, cloud_batch([("a", "acme", "1", 0), ("b", "acme", "1", 1)]), 1, visible)
    with store.import_lock():
        plan = store.plan_import(
            cloud_batch([("a", "acme", "3", 0), ("b", "acme", "1", 1)]), visible
        )
        store.write_import(plan, 2)
    visible.append(2)
    assert (plan.new, plan.unchanged, plan.corrected) == (0, 1, 1)
    assert quantities(store, visible) == {"api::a": Decimal(3), "api::b": Decimal(1)}
    # Until import 2 is visible, readers still see the first version.
    assert quantities(store, [1]) == {"api::a": Decimal(1), "api::b": Decimal(1)}


def test_duplicates_within_a_batch_keep_the_last_occurrence(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    batch = cloud_batch([("a", "acme", "1", 0), ("b", "acme", "1", 1), ("a", "acme", "2", 0)])
    plan = store.plan_import(batch, [])
    assert (plan.new, plan.duplicates_in_batch, plan.table.num_rows) == (2, 1, 2)
    store.write_import(plan, 1)
    assert quantities(store, [1]) == {"api::a": Decimal(2), "api::b": Decimal(1)}


def test_a_correction_moving_to_another_day_leaves_no_stale_copy(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(store, cloud_batch([("a", "acme", "1", 0)]), 1, visible)  # 2026-08-01
    commit(store, cloud_batch([("a", "acme", "1", 30)]), 2, visible)  # moved to 08-02
    day1 = {"start_utc": T0, "end_utc": T0 + timedelta(days=1)}
    day2 = {"start_utc": T0 + timedelta(days=1), "end_utc": T0 + timedelta(days=2)}
    assert quantities(store, visible, **day1) == {}
    assert quantities(store, visible, **day2) == {"api::a": Decimal(1)}
    assert quantities(store, [1], **day1) == {"api::a": Decimal(1)}
    # And back again: the day-1 copy written by import 3 is the live one.
    commit(store, cloud_batch([("a", "acme", "4", 0)]), 3, visible)
    assert quantities(store, visible, **day1) == {"api::a": Decimal(4)}
    assert quantities(store, visible, **day2) == {}


def test_account_filter_applies_after_choosing_the_latest_version(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(store, cloud_batch([("a", "acme", "1", 0)]), 1, visible)
    commit(store, cloud_batch([("a", "globex", "1", 0)]), 2, visible)  # re-assigned
    assert quantities(store, visible, account_ids=[1]) == {}
    assert quantities(store, visible, account_ids=[2]) == {"api::a": Decimal(1)}
    assert quantities(store, visible, account_ids=[]) == {}


def test_scan_window_is_half_open_on_usage_start(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(
        store,
        cloud_batch([("a", "acme", "1", 0), ("b", "acme", "1", 1), ("c", "acme", "1", 2)]),
        1,
        visible,
    )
    got = quantities(
        store, visible, start_utc=T0 + timedelta(hours=1), end_utc=T0 + timedelta(hours=2)
    )
    assert list(got) == ["api::b"]
    assert store.scan(visible, kind="cdr").num_rows == 0
    assert store.scan(visible, kind="cloud").num_rows == 3
    with pytest.raises(ValueError, match="timezone-aware"):
        store.scan(visible, start_utc=datetime(2026, 8, 1))


def test_invisible_imports_are_ignored_then_discarded_or_swept(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(store, cloud_batch([("a", "acme", "1", 0)]), 1, visible)
    # Import 2 writes but never commits (crash), import 3 is rolled back.
    for import_id in (2, 3):
        with store.import_lock():
            store.write_import(
                store.plan_import(cloud_batch([("b", "acme", "1", 0)]), visible), import_id
            )
    assert list(quantities(store, visible)) == ["api::a"]
    assert store.discard_import(3) == 1
    assert store.import_ids() == {1, 2}
    assert store.sweep_orphans(visible) == []  # too young: might still commit
    later = datetime.now(UTC) + timedelta(days=1)
    swept = store.sweep_orphans(visible, now=later)
    assert [p.name for p in swept] == ["2.parquet"]
    assert store.import_ids() == {1}


def test_leftover_temporary_files_are_invisible_and_swept(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(store, cloud_batch([("a", "acme", "1", 0)]), 1, visible)
    leftover = tmp_path / "usage" / "day=2026-08-01" / ".2.parquet.tmp-999"
    leftover.write_bytes(b"half a parquet file")
    assert list(quantities(store, visible)) == ["api::a"]
    assert store.sweep_orphans(visible, now=datetime.now(UTC) + timedelta(days=1)) == [leftover]


def test_write_refuses_ids_that_do_not_grow(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(store, cloud_batch([("a", "acme", "1", 0)]), 5, visible)
    plan = store.plan_import(cloud_batch([("b", "acme", "1", 0)]), visible)
    with pytest.raises(ValueError, match="must grow"):
        store.write_import(plan, 4)


def test_rewriting_an_id_replaces_its_leftover_files(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    store.write_import(store.plan_import(cloud_batch([("a", "acme", "1", 0)]), []), 1)
    # The attempt never committed; the database hands out id 1 again.
    store.write_import(store.plan_import(cloud_batch([("b", "acme", "1", 48)]), []), 1)
    assert list(quantities(store, [1])) == ["api::b"]


def test_plan_refuses_unresolved_accounts(tmp_path: Path) -> None:
    result = parse("focus", EXAMPLES / "focus" / "sample.csv")
    with pytest.raises(ValueError, match="resolve accounts"):
        UsageStore(tmp_path).plan_import(result.table, [])


def test_import_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    store = UsageStore(tmp_path)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.import_lock():
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with pytest.raises(StoreBusy), UsageStore(tmp_path).import_lock(timeout=0.2):
            pass
        assert time.monotonic() - started >= 0.2
    finally:
        release.set()
        thread.join()
    with store.import_lock(timeout=1):
        pass  # free again


def test_empty_store_scans_empty(tmp_path: Path) -> None:
    assert UsageStore(tmp_path).scan([1, 2]).schema == USAGE_SCHEMA
    assert UsageStore(tmp_path).scan([]).num_rows == 0


def test_a_resent_cdr_file_with_one_corrected_call_supersedes_only_that_call(
    tmp_path: Path,
) -> None:
    store = UsageStore(tmp_path / "data")
    lookup = {"peer-acme": 1, "peer-globex": 2}
    original = (EXAMPLES / "asterisk" / "Master.csv").read_text()
    corrected = original.replace("1810,1800", "1810,1790")
    visible: list[int] = []
    for import_id, text in enumerate([original, original, corrected], start=1):
        path = tmp_path / f"Master-{import_id}.csv"
        path.write_text(text)
        result = parse("asterisk", path)
        table, _ = resolve_accounts(result, lookup, file=result.file, skip_bad_rows=False)
        with store.import_lock():
            plan = store.plan_import(table, visible)
            store.write_import(plan, import_id)
        visible.append(import_id)
        if import_id == 2:
            assert (plan.new, plan.unchanged, plan.corrected) == (0, 3, 0)
    assert (plan.new, plan.unchanged, plan.corrected) == (0, 2, 1)
    rows = store.scan(visible).to_pylist()
    assert len(rows) == 3
    assert sorted(r["billable_seconds"] for r in rows) == [0, 120, 1790]
    assert store.import_ids() == {1, 3}


def _by_id(table: pa.Table) -> dict[str, tuple[object, ...]]:
    rows = table.to_pylist()
    return {r["record_id"]: tuple(r.values()) for r in rows}


def test_unordered_and_projected_scans_return_the_same_latest_rows(tmp_path: Path) -> None:
    """The rater's scan (some columns, storage order) sees exactly the rows of
    the full ordered scan: clean days read straight, days with corrections or
    moves resolved."""
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(
        store,
        cloud_batch(
            [(f"r{i}", "acme" if i % 2 else "globex", "1", i * 7) for i in range(20)]
            + [("m", "acme", "1", 0), ("s", "acme", "1", 50)]
        ),
        1,
        visible,
    )
    # Same-day correction of s, m moved from day 1 to day 3, a new row on day 2.
    commit(
        store,
        cloud_batch([("s", "acme", "2", 51), ("m", "acme", "5", 60), ("n", "acme", "1", 30)]),
        2,
        visible,
    )
    columns = ["record_id", "account_id", "usage_start", "quantity"]
    windows: list[dict[str, object]] = [
        {},
        {"start_utc": T0, "end_utc": T0 + timedelta(days=1)},
        {"start_utc": T0 + timedelta(hours=20), "end_utc": T0 + timedelta(days=3)},
        {"account_ids": [1]},
        {"account_ids": [2], "kind": "cloud"},
        {"kind": "cdr"},
    ]
    for window in windows:
        full = store.scan(visible, **window)  # type: ignore[arg-type]
        fast = store.scan(visible, columns=columns, ordered=False, **window)  # type: ignore[arg-type]
        assert fast.schema.names == columns
        assert fast.schema == pa.schema([USAGE_SCHEMA.field(c) for c in columns])
        assert _by_id(fast) == _by_id(full.select(columns)), window
        # The same call gives the same order (storage order), run after run.
        again = store.scan(visible, columns=columns, ordered=False, **window)  # type: ignore[arg-type]
        assert again.column("record_id").to_pylist() == fast.column("record_id").to_pylist()
        assert store.scan(visible, columns=columns, **window).equals(full.select(columns))  # type: ignore[arg-type]
    latest = _by_id(store.scan(visible, columns=["record_id", "quantity"], ordered=False))
    assert latest["api::m"][1] == Decimal(5)
    assert latest["api::s"][1] == Decimal(2)
    assert len(latest) == 23
    with pytest.raises(ValueError, match="not usage columns"):
        store.scan(visible, columns=["record_id", "nope"])


def test_scans_can_leave_out_columns_that_are_null_in_every_file(tmp_path: Path) -> None:
    """The rater's scan skips columns no stored row fills (the cloud columns of
    a month of CDRs): judged over every file read, never per file, and never
    a column some row of the window's days fills."""
    store = UsageStore(tmp_path)
    visible: list[int] = []
    commit(store, cloud_batch([("a", "acme", "1", 0), ("b", "acme", "2", 30)]), 1, visible)
    columns = ["record_id", "account_id", "usage_start", "sku", "region", "destination"]
    skipped = store.scan(visible, columns=columns, ordered=False, skip_null_columns=True)
    assert skipped.column_names == ["record_id", "account_id", "usage_start", "sku"]
    full = store.scan(visible, columns=columns, ordered=False)
    assert skipped.equals(full.select(skipped.column_names))
    # A later import fills `region` on one row of another day: kept from then on,
    # including when versions must be resolved (the ordered scan).
    filled = cloud_batch([("c", "globex", "3", 50)])
    filled = filled.set_column(
        filled.schema.get_field_index("region"),
        USAGE_SCHEMA.field("region"),
        pa.array(["eu-west-1"], pa.string()),
    )
    commit(store, filled, 2, visible)
    for ordered in (False, True):
        got = store.scan(visible, columns=columns, ordered=ordered, skip_null_columns=True)
        assert got.column_names == ["record_id", "account_id", "usage_start", "sku", "region"]
        assert sorted(got.column("region").to_pylist(), key=str) == [None, None, "eu-west-1"]


def test_null_columns_reads_footers_and_never_reports_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "u.parquet"
    table = pa.table(
        {
            "record_id": pa.array([None, None], pa.string()),  # not nullable: never skipped
            "sku": pa.array([None, "x"], pa.string()),
            "region": pa.array([None, None], pa.string()),
        }
    )
    pq.write_table(table, path, row_group_size=1)  # two row groups
    assert null_columns([path], ["record_id", "sku", "region", "unit"]) == {"region", "unit"}
    pq.write_table(table, path, write_statistics=False)  # no null counts: assume values
    assert null_columns([path], ["sku", "region"]) == set()
