"""The canonical usage store: immutable Parquet files, one set per import.

Layout under `<root>/usage/`:

    day=YYYY-MM-DD/<import_id>.parquet              rows of one import, one UTC day
    _superseded/day=YYYY-MM-DD/<import_id>.parquet  record ids that import moved away
    .lock                                           the import lock (fcntl)

`day` is the UTC day of `usage_start`. Files are never edited: a re-import
adds only new and corrected rows, in new files named by the new import id.

Visibility: readers pass the ids of committed imports (`usage_imports` rows).
Files of other ids (a crash between write and commit, a rollback) are
invisible, and `sweep_orphans` deletes them after a grace period.

Latest version: a record id may have several versions (one per import that
sent it with a different content hash); `scan` returns only the one with the
highest visible import id, so a record is never counted twice. Import ids
must therefore grow in commit order: allocate the id while holding
`import_lock()`, and commit before releasing it.

A correction may move a record to another day (its `usage_start` changed).
The old version's day then gets a *superseded* marker with the new import id,
so a scan of the old day alone no longer returns the stale version.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rerate.kit.durable import sync_dir
from rerate.usage.errors import StoreBusy
from rerate.usage.importers.base import arrow_of, duck, mask_np
from rerate.usage.schema import USAGE_SCHEMA, UsageKind

_DAY_RE = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
_FILE_RE = re.compile(r"^(\d+)\.parquet$")
_TMP_RE = re.compile(r"^\.(\d+)\.parquet\.tmp-\d+$")
_US_PER_DAY = 86_400_000_000
_EPOCH = date(1970, 1, 1)

SUPERSEDED_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("import_id", pa.int64(), nullable=False),
    ]
)

DEFAULT_GRACE = timedelta(hours=6)
"""Orphans younger than this may belong to an import still committing."""


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an import would add, decided against the visible imports.

    `table` holds the rows to write (new and corrected), USAGE_SCHEMA, in
    input order; `superseded` the latest versions that corrections move to
    another day (`record_id`, old `day`).
    """

    table: pa.Table
    visible_import_ids: frozenset[int]
    rows_in: int
    new: int
    unchanged: int
    corrected: int
    duplicates_in_batch: int
    superseded: pa.Table
    previous_starts: pa.Table | None = None
    """For corrected rows: `record_id` and the `usage_start` of the version
    they replace (the service checks the caller owned that one too)."""


@dataclass(frozen=True, slots=True)
class WrittenImport:
    import_id: int
    files: tuple[Path, ...]
    rows_written: int
    days: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class _File:
    import_id: int
    day: date
    path: Path


class UsageStore:
    """Usage rows under `<root>/usage`; see the module docstring for the rules."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.usage_dir = self.root / "usage"
        self.superseded_dir = self.usage_dir / "_superseded"

    # ------------------------------------------------------------------ locking

    @contextmanager
    def import_lock(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the store's exclusive import lock (fcntl, across processes).

        Hold it around plan + write + commit, so two imports cannot both
        decide that the same record is new. `timeout=None` waits forever;
        otherwise `StoreBusy` is raised after `timeout` seconds.
        """
        self.usage_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.usage_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise StoreBusy(
                                f"usage store {self.root} is locked by another import"
                            ) from None
                        time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ listing

    def _day_dirs(
        self, base: Path, first: date | None, last: date | None
    ) -> Iterator[tuple[date, Path]]:
        if not base.is_dir():
            return
        with os.scandir(base) as entries:
            for entry in entries:
                m = _DAY_RE.match(entry.name)
                if not m or not entry.is_dir():
                    continue
                day = date.fromisoformat(m.group(1))
                if (first is None or day >= first) and (last is None or day <= last):
                    yield day, Path(entry.path)

    def _files(
        self,
        base: Path,
        visible: Collection[int] | None,
        first: date | None = None,
        last: date | None = None,
    ) -> list[_File]:
        found: list[_File] = []
        for day, folder in self._day_dirs(base, first, last):
            with os.scandir(folder) as entries:
                for entry in entries:
                    m = _FILE_RE.match(entry.name)
                    if m and (visible is None or int(m.group(1)) in visible):
                        found.append(_File(int(m.group(1)), day, Path(entry.path)))
        found.sort(key=lambda f: (f.day, f.import_id))
        return found

    def import_ids(self) -> set[int]:
        """Every import id with files in the store, visible or not."""
        ids = {f.import_id for f in self._files(self.usage_dir, None)}
        ids |= {f.import_id for f in self._files(self.superseded_dir, None)}
        return ids

    # ------------------------------------------------------------------ planning

    def plan_import(self, table: pa.Table, visible_import_ids: Collection[int]) -> ImportPlan:
        """Classify incoming rows by record id against the visible imports.

        new: never seen; unchanged: same content hash as the latest visible
        version (dropped); corrected: different hash (kept, supersedes).
        Within the batch the last occurrence of a record id wins; the others
        are counted in `duplicates_in_batch`. Call under `import_lock()`.
        """
        _check_schema(table)
        visible = frozenset(int(i) for i in visible_import_ids)
        if table.num_rows and mask_np(pc.less(table.column("account_id"), 0)).any():
            raise ValueError("rows without account_id: resolve accounts before planning")
        rows_in = table.num_rows
        # Keep the last occurrence of each record id, in input order.
        positions = pa.array(np.arange(rows_in, dtype=np.int64))
        keyed = pa.table({"record_id": table.column("record_id"), "pos": positions})
        last = keyed.group_by("record_id", use_threads=False).aggregate([("pos", "max")])
        keep = np.sort(last.column("pos_max").to_numpy())
        deduped = table.take(pa.array(keep)) if keep.size != rows_in else table
        duplicates = rows_in - int(keep.size)

        files = self._files(self.usage_dir, visible)
        empty_superseded = pa.table(
            {"record_id": pa.array([], pa.string()), "day": pa.array([], pa.date32())}
        )
        if not files or deduped.num_rows == 0:
            return ImportPlan(
                deduped, visible, rows_in, deduped.num_rows, 0, 0, duplicates, empty_superseded
            )

        con = duck()
        try:
            incoming = pa.table(
                {
                    "record_id": deduped.column("record_id"),
                    "content_hash": deduped.column("content_hash"),
                    "day": _days(deduped.column("usage_start")),
                    "pos": pa.array(np.arange(deduped.num_rows, dtype=np.int64)),
                }
            )
            con.register("incoming", incoming)
            found = arrow_of(
                con.execute(
                    """
                    WITH cur AS (
                        SELECT record_id,
                               arg_max(content_hash, import_id) AS old_hash,
                               arg_max(CAST(usage_start AS DATE), import_id) AS old_day,
                               arg_max(usage_start, import_id) AS old_start
                        FROM read_parquet(?)
                        WHERE record_id IN (SELECT record_id FROM incoming)
                        GROUP BY record_id
                    )
                    SELECT i.pos, cur.old_hash, cur.old_day, cur.old_start
                    FROM incoming i LEFT JOIN cur USING (record_id)
                    ORDER BY i.pos
                    """,
                    [[str(f.path) for f in files]],
                )
            )
        finally:
            con.close()
        old_hash = found.column("old_hash")
        seen = mask_np(pc.is_valid(old_hash))
        same = mask_np(pc.equal(old_hash, incoming.column("content_hash")))
        unchanged = seen & same
        corrected = seen & ~same
        write = ~unchanged
        old_day = found.column("old_day").cast(pa.date32())
        moved = corrected & mask_np(pc.not_equal(old_day, incoming.column("day")))
        superseded = pa.table(
            {
                "record_id": incoming.column("record_id").filter(pa.array(moved)),
                "day": old_day.filter(pa.array(moved)),
            }
        )
        return ImportPlan(
            table=deduped.filter(pa.array(write)),
            visible_import_ids=visible,
            rows_in=rows_in,
            new=int((~seen).sum()),
            unchanged=int(unchanged.sum()),
            corrected=int(corrected.sum()),
            duplicates_in_batch=duplicates,
            superseded=superseded,
            previous_starts=pa.table(
                {
                    "record_id": incoming.column("record_id").filter(pa.array(corrected)),
                    "usage_start": found.column("old_start").filter(pa.array(corrected)),
                }
            ),
        )

    # ------------------------------------------------------------------ writing

    def write_import(self, plan: ImportPlan, import_id: int) -> WrittenImport:
        """Write the plan's rows as `day=.../<import_id>.parquet`, atomically per file.

        Each file is written under a temporary name, fsynced, then renamed.
        Files already carrying this id can only be leftovers of an attempt
        that never committed (the database hands out an id once), so they
        are discarded first. Call under `import_lock()`, then commit.
        """
        if import_id <= 0:
            raise ValueError("import ids are positive")
        if plan.visible_import_ids and import_id <= max(plan.visible_import_ids):
            raise ValueError(
                f"import id {import_id} is not above the visible ones: "
                "ids must grow in commit order (allocate them under import_lock())"
            )
        self.discard_import(import_id)
        table = plan.table
        written: list[Path] = []
        days: list[date] = []
        if table.num_rows:
            ids = pa.array(np.full(table.num_rows, import_id, dtype=np.int64))
            table = table.set_column(
                table.schema.get_field_index("import_id"), USAGE_SCHEMA.field("import_id"), ids
            )
            start_us = _epoch_us(table.column("usage_start"))
            day_no = start_us // _US_PER_DAY
            # Sorted by account and time inside a day: row-group statistics
            # then let scans by account skip most of a file.
            order = np.lexsort((start_us, table.column("account_id").to_numpy(), day_no))
            table = table.take(pa.array(order))
            day_no = day_no[order]
            bounds = np.flatnonzero(np.diff(day_no)) + 1
            for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(day_no)], strict=True):
                day = _EPOCH + timedelta(days=int(day_no[lo]))
                path = self._day_path(self.usage_dir, day, import_id)
                _write_atomic(table.slice(int(lo), int(hi - lo)), path)
                written.append(path)
                days.append(day)
        sup = plan.superseded
        if sup.num_rows:
            for day in sorted(set(sup.column("day").to_pylist())):
                ids_of_day = sup.column("record_id").filter(
                    pc.equal(sup.column("day"), pa.scalar(day, pa.date32()))
                )
                marks = pa.table(
                    {
                        "record_id": ids_of_day,
                        "import_id": pa.array(np.full(len(ids_of_day), import_id, dtype=np.int64)),
                    },
                    schema=SUPERSEDED_SCHEMA,
                )
                path = self._day_path(self.superseded_dir, day, import_id)
                _write_atomic(marks, path)
                written.append(path)
        return WrittenImport(import_id, tuple(written), table.num_rows, tuple(days))

    def _day_path(self, base: Path, day: date, import_id: int) -> Path:
        return base / f"day={day.isoformat()}" / f"{import_id}.parquet"

    # ------------------------------------------------------------------ reading

    def scan_files(
        self,
        visible_import_ids: Collection[int],
        *,
        start_utc: datetime | None = None,
        end_utc: datetime | None = None,
        account_ids: Collection[int] | None = None,
    ) -> ScanFiles | None:
        """The files `scan` reads for these filters (None: nothing to read), for
        readers other than this process (rating/backends/spark.py reads them on
        a cluster and must resolve versions and order rows as `scan` does)."""
        visible = frozenset(int(i) for i in visible_import_ids)
        start_us = _aware_us(start_utc, "start_utc")
        end_us = _aware_us(end_utc, "end_utc")
        first = _EPOCH + timedelta(days=start_us // _US_PER_DAY) if start_us is not None else None
        last = _EPOCH + timedelta(days=(end_us - 1) // _US_PER_DAY) if end_us is not None else None
        if first is not None and last is not None and last < first:
            return None
        wanted = sorted({int(a) for a in account_ids}) if account_ids is not None else None
        if wanted is not None and not wanted:
            return None
        files = self._files(self.usage_dir, visible, first, last)
        if not files:
            return None
        marks = self._files(self.superseded_dir, visible, first, last)
        marked = {m.day for m in marks}
        per_day: dict[date, int] = {}
        for f in files:
            per_day[f.day] = per_day.get(f.day, 0) + 1
        dirty_days = {f.day for f in files if per_day[f.day] > 1 or f.day in marked}
        return ScanFiles(
            clean=[str(f.path) for f in files if f.day not in dirty_days],
            dirty=[str(f.path) for f in files if f.day in dirty_days],
            dirty_marks=[str(m.path) for m in marks if m.day in dirty_days],
            start_us=start_us,
            end_us=end_us,
            account_ids=wanted,
        )

    def scan(
        self,
        visible_import_ids: Collection[int],
        *,
        start_utc: datetime | None = None,
        end_utc: datetime | None = None,
        account_ids: Collection[int] | None = None,
        kind: UsageKind | str | None = None,
        columns: Sequence[str] | None = None,
        ordered: bool = True,
        skip_null_columns: bool = False,
    ) -> pa.Table:
        """Latest visible version of each record, then filtered.

        Rows with `start_utc <= usage_start < end_utc` (either bound may be
        omitted), of the given accounts and kind, ordered by usage_start then
        record_id. Versions are resolved before filtering, so a record whose
        correction changed its account or time is never returned stale.

        `columns` limits what is read and returned (default: every column of
        USAGE_SCHEMA, in its order); the rater needs half of them, and the
        others (the numbers as sent, hashes) are most of the bytes.
        `ordered=False` skips the sort for callers that do not need it (the
        rater orders what it allocates by itself) and reads the days that hold
        a single version of every record straight from Parquet: rows then come
        in a deterministic storage order (those days first, by day, account
        and usage_start; then the other days, by usage_start and record_id).

        Versions are resolved day by day, which is what the superseded markers
        are for: an import that corrects a record in the same day writes the
        new version into that day, and one that moves it to another day leaves
        a marker in the old one. So in a day with a single visible file and no
        visible marker every row is the latest version, and only the other days
        pay for resolving versions (by record id).

        `skip_null_columns=True` leaves out of the result every requested
        nullable column that is null in every row of every file read, as the
        files' footers tell (a month of CDRs has seven empty cloud columns:
        reading them as nulls allocated 40% of the table). Only for callers
        that take a missing column as all null, as the rater does.
        """
        names = _columns(columns)
        schema = _schema(names)
        found = self.scan_files(
            visible_import_ids, start_utc=start_utc, end_utc=end_utc, account_ids=account_ids
        )
        if found is None:
            return schema.empty_table()
        clean, dirty, dirty_marks = found.clean, found.dirty, found.dirty_marks
        window = _Window(
            found.start_us, found.end_us, found.account_ids, None if kind is None else str(kind)
        )
        if skip_null_columns:
            empty = null_columns([*clean, *dirty], names)
            names = [n for n in names if n not in empty]
            schema = _schema(names)

        tables: list[pa.Table] = []
        if ordered:
            tables.append(_duck_scan(names, window, clean, dirty, dirty_marks))
        else:
            if clean:
                tables.append(_arrow_scan(names, window, clean))
            if dirty:
                tables.append(_duck_scan(names, window, [], dirty, dirty_marks))
        return pa.concat_tables([t.select(names).cast(schema) for t in tables])

    # ------------------------------------------------------------------ changes

    def rows_of_imports(self, import_ids: Collection[int], columns: Sequence[str]) -> pa.Table:
        """Every row the given imports wrote (new and corrected versions),
        whatever later imports did to them, with only `columns`. What changed
        in the store since an import id is exactly these rows of the later
        imports, read without touching the files of earlier ones."""
        names = _columns(columns)
        files = [str(f.path) for f in self._files(self.usage_dir, set(import_ids))]
        if not files:
            return _schema(names).empty_table()
        table = ds.dataset(files, schema=USAGE_SCHEMA, format="parquet").to_table(columns=names)
        return table.cast(_schema(names))

    def superseded_of_imports(self, import_ids: Collection[int]) -> pa.Table:
        """The markers the given imports left (`record_id`, `import_id`, `day`):
        records whose correction moved them away from `day`."""
        marks = self._files(self.superseded_dir, set(import_ids))
        empty = pa.table(
            {
                "record_id": pa.array([], pa.string()),
                "import_id": pa.array([], pa.int64()),
                "day": pa.array([], pa.date32()),
            }
        )
        tables = []
        for mark in marks:
            t = pq.read_table(mark.path, schema=SUPERSEDED_SCHEMA)
            tables.append(t.append_column("day", pa.array([mark.day] * t.num_rows, pa.date32())))
        return pa.concat_tables(tables) if tables else empty

    # ------------------------------------------------------------------ cleaning

    def discard_import(self, import_id: int) -> int:
        """Delete every file of `import_id` (on rollback); return how many."""
        removed = 0
        for base in (self.usage_dir, self.superseded_dir):
            for _, folder in self._day_dirs(base, None, None):
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if _file_import_id(entry.name) == import_id:
                            os.unlink(entry.path)
                            removed += 1
        return removed

    def sweep_orphans(
        self,
        visible_import_ids: Collection[int],
        *,
        grace: timedelta = DEFAULT_GRACE,
        now: datetime | None = None,
    ) -> list[Path]:
        """Delete files of imports that are not visible and older than `grace`.

        The grace period spares an import that has written its files and
        is about to commit; holding `import_lock()` while sweeping rules
        that out entirely.
        """
        visible = frozenset(int(i) for i in visible_import_ids)
        cutoff = (now or datetime.now(UTC)).timestamp() - grace.total_seconds()
        removed: list[Path] = []
        for base in (self.usage_dir, self.superseded_dir):
            for _, folder in self._day_dirs(base, None, None):
                with os.scandir(folder) as entries:
                    for entry in entries:
                        owner = _file_import_id(entry.name)
                        if owner is None or owner in visible:
                            continue
                        if entry.stat().st_mtime <= cutoff:
                            os.unlink(entry.path)
                            removed.append(Path(entry.path))
        return removed


# --------------------------------------------------------------------------- helpers


def _file_import_id(name: str) -> int | None:
    m = _FILE_RE.match(name) or _TMP_RE.match(name)
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class ScanFiles:
    """What a scan reads: `clean` files (one version of each record: rows as
    they are, in file order), `dirty` ones (days with several imports or
    superseded markers: latest import per record_id over the day's files and
    `dirty_marks`, then ordered by usage_start and record_id), and the row
    filters (usage_start bounds in microseconds, accounts)."""

    clean: list[str]
    dirty: list[str]
    dirty_marks: list[str]
    start_us: int | None
    end_us: int | None
    account_ids: list[int] | None


@dataclass(frozen=True, slots=True)
class _Window:
    """The row filters of a scan (bounds in microseconds since the epoch, UTC)."""

    start_us: int | None
    end_us: int | None
    account_ids: list[int] | None
    kind: str | None


def _duck_scan(
    names: list[str],
    window: _Window,
    clean: list[str],
    dirty: list[str],
    dirty_marks: list[str],
) -> pa.Table:
    """Rows of `clean` files as they are and of `dirty` ones after resolving
    versions (`latest`, over every row of those days, before filtering),
    ordered by usage_start and record_id."""
    where: list[str] = []
    filters: list[object] = []
    if window.start_us is not None:
        where.append("r.usage_start >= CAST(make_timestamp(?) AS TIMESTAMPTZ)")
        filters.append(window.start_us)
    if window.end_us is not None:
        where.append("r.usage_start < CAST(make_timestamp(?) AS TIMESTAMPTZ)")
        filters.append(window.end_us)
    if window.account_ids is not None:
        where.append("list_contains(?, r.account_id)")
        filters.append(window.account_ids)
    if window.kind is not None:
        where.append("r.kind = ?")
        filters.append(window.kind)
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    # The sort keys are read even when the caller does not want them back.
    read = [*names, *(k for k in ("usage_start", "record_id") if k not in names)]
    select = ", ".join(f'r."{c}"' for c in read)
    parts: list[str] = []
    params: list[object] = []
    cte = ""
    if dirty:
        marks_sql = (
            "UNION ALL SELECT record_id, import_id FROM read_parquet(?)" if dirty_marks else ""
        )
        cte = f"""
            WITH latest AS (
                SELECT record_id, max(import_id) AS import_id
                FROM (SELECT record_id, import_id FROM read_parquet(?) {marks_sql})
                GROUP BY record_id
            )
        """
        params += [dirty, *([dirty_marks] if dirty_marks else [])]
    if clean:
        parts.append(f"SELECT {select} FROM read_parquet(?) r {condition}")
        params += [clean, *filters]
    if dirty:
        parts.append(
            f"SELECT {select} FROM read_parquet(?) r "
            "JOIN latest l ON r.record_id = l.record_id AND r.import_id = l.import_id "
            f"{condition}"
        )
        params += [dirty, *filters]
    sql = f"{cte} SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY usage_start, record_id"
    con = duck()
    try:
        return arrow_of(con.execute(sql, params))
    finally:
        con.close()


def _arrow_scan(names: list[str], window: _Window, files: list[str]) -> pa.Table:
    """Rows of files that hold one version of each record, filtered, in file order."""
    field = ds.field
    conditions: list[ds.Expression] = []
    if window.start_us is not None:
        conditions.append(field("usage_start") >= _timestamp(window.start_us))
    if window.end_us is not None:
        conditions.append(field("usage_start") < _timestamp(window.end_us))
    if window.account_ids is not None:
        conditions.append(field("account_id").isin(pa.array(window.account_ids, pa.int64())))
    if window.kind is not None:
        conditions.append(field("kind") == window.kind)
    condition = None
    for c in conditions:
        condition = c if condition is None else condition & c
    dataset = ds.dataset(files, schema=USAGE_SCHEMA, format="parquet")
    return dataset.to_table(columns=names, filter=condition)


def null_columns(paths: Sequence[str | Path], names: Sequence[str]) -> set[str]:
    """Those of `names` that are null in every row of every file in `paths`,
    read from the Parquet footers' statistics (a column without a null count
    in some row group counts as holding values). Non-nullable usage columns
    are never reported."""
    candidates = [n for n in names if n not in USAGE_SCHEMA.names or USAGE_SCHEMA.field(n).nullable]
    empty = set(candidates)
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        position = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
        for name in list(empty):
            i = position.get(name)
            if i is None:
                continue  # absent from this file: null there
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                stats = group.column(i).statistics
                if stats is None or not stats.has_null_count or stats.null_count < group.num_rows:
                    empty.discard(name)
                    break
        if not empty:
            break
    return empty


def _timestamp(us: int) -> pa.Scalar:
    return pa.scalar(us, pa.int64()).cast(USAGE_SCHEMA.field("usage_start").type)


def _columns(columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(USAGE_SCHEMA.names)
    names = list(dict.fromkeys(columns))
    unknown = [c for c in names if c not in USAGE_SCHEMA.names]
    if unknown or not names:
        raise ValueError(f"not usage columns: {unknown or 'none given'}")
    return names


def _schema(names: Sequence[str]) -> pa.Schema:
    return pa.schema([USAGE_SCHEMA.field(n) for n in names])


def _check_schema(table: pa.Table) -> None:
    if table.schema.names != USAGE_SCHEMA.names or any(
        a.type != b.type for a, b in zip(table.schema, USAGE_SCHEMA, strict=True)
    ):
        raise ValueError("table does not follow USAGE_SCHEMA")


def _epoch_us(values: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    ints = pc.cast(values, pa.int64())
    if isinstance(ints, pa.ChunkedArray):
        ints = ints.combine_chunks()
    return np.asarray(ints.to_numpy(zero_copy_only=False), dtype=np.int64)


def _days(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pa.array(_epoch_us(values) // _US_PER_DAY, pa.int32()).cast(pa.date32())


def _aware_us(value: datetime | None, name: str) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_dir(path.parent)
