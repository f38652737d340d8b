"""The Spark backend: a run's usage read and rated by Apache Spark tasks with
the engine's own kernels, giving the embedded engine's run file for file.

Three passes over the run's usage (the store's canonical Parquet files, read
by Spark with the same version resolution and row order as UsageStore.scan):

1. facts (`mapInArrow`): per task the selected rows per account code, the
   first and last start of the CDR and cloud rows, the cloud strings met;
   merged on the driver into engine.UsageFacts and the chunk of every
   account (engine.chunk_of_codes: the embedded engine's own chunks);
   (plus, only for decks with timings, the timing combinations met);
2. the driver builds the run's shared tables (engine.build_shared: string
   pool, compiled deck and prices) once and broadcasts them pickled;
3. rating (`groupBy(part).applyInArrow`): each group is one embedded chunk,
   whole accounts, sorted back into input order, rated by engine.rate_part
   (cumulative tiers and allowances are per account, so a chunk is rated
   alone, as on the embedded engine's threads); the task writes the chunk's
   rated and daily parts into the run's staging directory with the writer's
   own code and hands back the part's daily rows, spend and counts, which
   the driver combines (engine.combine: period lines, summary) exactly as
   the embedded engine does.

No rating rule is expressed in Spark: Spark moves rows, the engine rates them.
Progress (stages, tasks) is polled from Spark's status tracker into the job's
progress while the passes run.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rerate.kit.periods import Period
from rerate.kit.settings import Settings
from rerate.rating import engine
from rerate.rating.backends import Lap, Progress, RunUsage
from rerate.rating.engine import CLOUD_STRINGS, Part, RatingResult, UsageFacts
from rerate.rating.output import RunWriter, write_part_files
from rerate.rating.plan import PriceBook, RatingPlan
from rerate.rating.selection import AccountIndex
from rerate.rating.timings import timing_bits
from rerate.usage.schema import USAGE_SCHEMA
from rerate.usage.store import ScanFiles, null_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Order columns: (0, file number, row in file) for rows of clean files, read
# in file order; (1, usage_start, 0) then record_id for rows of days whose
# versions are resolved (UsageStore.scan's storage order).
_ORDER = ("_o1", "_o2", "_o3")
_PART = "_part"

_session_lock = threading.Lock()


def spark_session(master: str, conf: dict[str, str]) -> SparkSession:
    """The process's Spark session (one per process; created on first use)."""
    from pyspark.sql import SparkSession

    with _session_lock:
        if master.startswith("local"):
            # Local workers run this interpreter (its venv has rerate).
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = SparkSession.builder.master(master).appName("rerate")
        settings = {
            "spark.sql.session.timeZone": "UTC",
            # Whole Arrow batches to the engine's vectorised kernels.
            "spark.sql.execution.arrow.maxRecordsPerBatch": str(1 << 17),
            "spark.sql.shuffle.partitions": "8",
            **conf,
        }
        for key, value in settings.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()


def parse_conf(text: str) -> dict[str, str]:
    """`key=value key=value` (RERATE_SPARK_CONF) as a dict."""
    out: dict[str, str] = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"RERATE_SPARK_CONF: {item!r} is not key=value")
        out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class _Job:
    """What every task of one run needs (broadcast, pickled)."""

    plan: RatingPlan
    period: Period
    keep: Callable[[pa.Table], pa.Table]  # RunUsage.keep
    names: list[str]  # usage columns read (engine.USAGE_COLUMNS that are not all null)


class SparkBackend:
    name = "spark"

    def __init__(
        self,
        master: str = "local[2]",
        conf: dict[str, str] | None = None,
        *,
        chunk_rows: int = engine.CHUNK_ROWS,
    ) -> None:
        self.master = master
        self.conf = dict(conf or {})
        self.chunk_rows = chunk_rows  # rows per chunk, as engine.rate

    @classmethod
    def of_settings(cls, settings: Settings) -> SparkBackend:
        return cls(settings.spark_master, parse_conf(settings.spark_conf))

    @property
    def session(self) -> SparkSession:
        return spark_session(self.master, self.conf)

    def rate_run(
        self,
        usage: RunUsage,
        plan: RatingPlan,
        period: Period,
        writer: RunWriter,
        *,
        progress: Progress | None = None,
        lap: Lap | None = None,
    ) -> RatingResult:
        try:
            return self._rate_run(usage, plan, period, writer, progress=progress, lap=lap)
        finally:
            _close_dropped_sockets()

    def _rate_run(
        self,
        usage: RunUsage,
        plan: RatingPlan,
        period: Period,
        writer: RunWriter,
        *,
        progress: Progress | None,
        lap: Lap | None,
    ) -> RatingResult:
        files = usage.store.scan_files(
            usage.visible,
            start_utc=usage.start_utc,
            end_utc=usage.end_utc,
            account_ids=usage.account_ids,
        )
        names = list(engine.USAGE_COLUMNS)
        if files is not None:
            # As UsageStore.scan(skip_null_columns=True): the rater takes a
            # missing column as null, and reading them costs.
            empty = null_columns([*files.clean, *files.dirty], names)
            names = [n for n in names if n not in empty]
        job = _Job(_for_tasks(plan), period, usage.keep, names)
        df = _read(self.session, files, names) if files is not None else None
        return self._rate(df, job, writer, progress=progress, lap=lap, plan=plan)

    def rate_table(
        self, usage: pa.Table, plan: RatingPlan, period: Period, writer: RunWriter
    ) -> RatingResult:
        """Rate an in-memory usage table (rows in this order) on Spark: what
        engine.rate does with part_sink=writer.write_part (parity tests)."""
        names = [n for n in engine.USAGE_COLUMNS if n in usage.column_names]
        table = usage.select(names)
        table = table.cast(pa.schema([USAGE_SCHEMA.field(n) for n in names]))
        n = table.num_rows
        table = (
            table.append_column("_o1", pa.array(np.zeros(n, dtype=np.int32)))
            .append_column("_o2", pa.array(np.zeros(n, dtype=np.int64)))
            .append_column("_o3", pa.array(np.arange(n, dtype=np.int64)))
        )
        df = self.session.createDataFrame(table) if n else None
        return self._rate(df, _Job(_for_tasks(plan), period, _all_rows, names), writer, plan=plan)

    def _rate(
        self,
        df: DataFrame | None,
        job: _Job,
        writer: RunWriter,
        *,
        progress: Progress | None = None,
        lap: Lap | None = None,
        plan: RatingPlan,
    ) -> RatingResult:
        """`plan` is the whole plan (the driver compiles its price books);
        `job.plan` the tasks' copy without them."""
        period, names = job.period, job.names
        spark = self.session
        sc = spark.sparkContext
        shipped = sc.broadcast(job)
        with _Tracker(spark, progress) as tracker:
            facts, counts, n_in, n = _facts(df, shipped) if df is not None else _no_facts(job)
            tracker.done("facts", 0.25)
            if lap:
                lap("read")
            if progress:
                progress(0.3, f"{n_in} usage rows read (spark)")

            def combos_of(timings: Any, tz: str) -> Any:
                assert df is not None
                return _combos(df, shipped, list(timings), tz)

            shared = engine.build_shared(plan, facts, combos_of)
            tracker.check()
            if df is None or n == 0:
                # No selected row: one empty part, as the embedded engine writes.
                part, _, _ = engine.rate_part(_empty(names), plan, period, shared)
                writer.write_part(0, part.rated, part.daily)
                empty = replace(part, rated=_no_rows())
                return engine.combine(plan, period, shared, [empty], n_in, 0)
            chunk = engine.chunk_of_codes(counts, self.chunk_rows)
            present = np.zeros(int(chunk.max()) + 1, dtype=bool)
            present[chunk[counts > 0]] = True
            dense = np.cumsum(present) - 1
            part_of_code = dense[chunk].astype(np.int32)  # slot = code + 1
            tables = sc.broadcast((shared, part_of_code, str(writer.staging)))
            parts = _rate(df, shipped, tables)
            tracker.done("rating", 0.65)
        by_index = sorted(parts, key=lambda p: p[0])
        for _, entries, _ in by_index:
            writer.add_parts(entries)
        return engine.combine(plan, period, shared, [p for _, _, p in by_index], n_in, n)


def _for_tasks(plan: RatingPlan) -> RatingPlan:
    """The plan without its price books' entries: the driver compiles them into
    the shared deck and prices (engine.build_shared), and a deck of 200,000
    prefixes in 3 versions is 130 MB pickled (over 20 s to pickle and again
    to unpickle in every Python worker). Version ids and dates stay."""

    def slim(book: PriceBook | None) -> PriceBook | None:
        if book is None:
            return None
        versions = tuple(replace(v, prices=(), tariffs=()) for v in book.versions)
        return replace(book, versions=versions)

    return replace(plan, price_book=slim(plan.price_book), tariff_book=slim(plan.tariff_book))


def _all_rows(table: pa.Table) -> pa.Table:
    return table


def _empty(names: list[str]) -> pa.Table:
    return pa.schema([USAGE_SCHEMA.field(n) for n in names]).empty_table()


def _no_rows() -> pa.Table:
    return engine.RATED_SCHEMA.empty_table()


def _read(spark: SparkSession, files: ScanFiles, names: list[str]) -> DataFrame:
    """The scan's rows (before `keep`) with the order columns, as UsageStore.scan
    with ordered=False reads them: clean files as they are, dirty days with
    the latest import of each record (over the day's files and superseded
    markers), then the window's filters."""
    from pyspark.sql import functions as F

    def window(df: DataFrame) -> DataFrame:
        if files.start_us is not None:
            df = df.where(F.col("usage_start") >= F.timestamp_micros(F.lit(files.start_us)))
        if files.end_us is not None:
            df = df.where(F.col("usage_start") < F.timestamp_micros(F.lit(files.end_us)))
        if files.account_ids is not None:
            df = df.where(F.col("account_id").isin(files.account_ids))
        return df

    frames = []
    if files.clean:
        number = spark.createDataFrame(
            [(_uri(p), i) for i, p in enumerate(files.clean)], "path string, file_no long"
        )
        clean = window(spark.read.parquet(*files.clean)).select(
            *names,
            F.col("_metadata.file_path").alias("path"),
            F.col("_metadata.row_index").alias("_o3"),
        )
        clean = clean.join(F.broadcast(number), "path").select(
            *names, F.lit(0).alias("_o1"), F.col("file_no").alias("_o2"), "_o3"
        )
        frames.append(clean)
    if files.dirty:
        rows = spark.read.parquet(*files.dirty)
        ids = rows.select("record_id", "import_id")
        if files.dirty_marks:
            ids = ids.unionByName(
                spark.read.parquet(*files.dirty_marks).select("record_id", "import_id")
            )
        latest = ids.groupBy("record_id").agg(F.max("import_id").alias("import_id"))
        dirty = window(rows.join(latest, ["record_id", "import_id"])).select(
            *names,
            F.lit(1).alias("_o1"),
            F.unix_micros(F.col("usage_start")).alias("_o2"),
            F.lit(0).cast("long").alias("_o3"),
        )
        frames.append(dirty)
    df = frames[0]
    for other in frames[1:]:
        df = df.unionByName(other)
    return df


def _uri(path: str) -> str:
    """The path as Spark's _metadata.file_path gives it."""
    if "://" in path:
        return path
    return "file:" + os.path.abspath(path)


def _kept(batch: pa.RecordBatch, job: _Job) -> pa.Table:
    """A read batch as the embedded engine gets it: usage columns only, `keep` applied."""
    return job.keep(pa.Table.from_batches([batch]))


def _facts(df: DataFrame, shipped: Any) -> tuple[UsageFacts, Any, int, int]:
    """Pass 1 (see the module docstring): the run's UsageFacts, the selected
    rows per account code (index code + 1), input and selected row counts."""

    def facts(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        job: _Job = shipped.value
        accounts = AccountIndex(job.plan.ownership, job.plan.customer_id)
        counts = np.zeros(len(accounts.accounts) + 1, dtype=np.int64)
        spans: dict[int, list[int]] = {}
        strings: dict[str, set[str]] = {}
        n_in = 0
        for batch in batches:
            table = _kept(batch, job).select(job.names)
            n_in += table.num_rows
            if not table.num_rows:
                continue
            start, _, account, kind, selected = engine.prepare_rows(
                table, job.period, job.plan.overlap_selection
            )
            start, account, kind = start[selected], account[selected], kind[selected]
            counts += np.bincount(
                accounts.codes(account).astype(np.int64) + 1, minlength=len(counts)
            )
            for k in (0, 1):
                mine = start[kind == k]
                if len(mine):
                    lo, hi = int(mine.min()), int(mine.max())
                    old = spans.get(k)
                    spans[k] = [min(lo, old[0]), max(hi, old[1])] if old else [lo, hi]
            for name in CLOUD_STRINGS:
                if name in table.column_names:
                    strings.setdefault(name, set()).update(
                        engine.distinct_strings(table.column(name).chunks)
                    )
        blob = pickle.dumps((counts, spans, strings, n_in))
        yield pa.RecordBatch.from_pydict({"facts": [blob]}, pa.schema([("facts", pa.binary())]))

    rows = _collect(df.mapInArrow(facts, "facts binary"))
    job: _Job = shipped.value
    counts = np.zeros(
        len(AccountIndex(job.plan.ownership, job.plan.customer_id).accounts) + 1, np.int64
    )
    spans: dict[int, list[int]] = {}
    strings: dict[str, set[str]] = {}
    n_in = 0
    for row in rows:
        c, s, st, m = pickle.loads(row["facts"])
        counts += c
        n_in += m
        for k, (lo, hi) in s.items():
            old = spans.get(k)
            spans[k] = [min(lo, old[0]), max(hi, old[1])] if old else [lo, hi]
        for name, values in st.items():
            strings.setdefault(name, set()).update(values)
    cloud = spans.get(1)
    cdr = spans.get(0)
    result = UsageFacts(
        cdr_span=(cdr[0], cdr[1]) if cdr else None,
        cloud_span=(cloud[0], cloud[1]) if cloud else None,
        cloud_strings={k: sorted(v) for k, v in strings.items()} if cloud else None,
    )
    return result, counts, n_in, int(counts.sum())


def _no_facts(job: _Job) -> tuple[UsageFacts, Any, int, int]:
    accounts = AccountIndex(job.plan.ownership, job.plan.customer_id)
    return UsageFacts(None, None, None), np.zeros(len(accounts.accounts) + 1, np.int64), 0, 0


def _combos(df: DataFrame, shipped: Any, timings: list[Any], tz: str) -> Any:
    """The distinct timing bit masks at the selected CDRs' starts (pass for
    decks with timings only; cdr.prepare_deck)."""

    def combos(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        job: _Job = shipped.value
        found: set[int] = set()
        for batch in batches:
            table = _kept(batch, job).select(job.names)
            if not table.num_rows:
                continue
            start, _, _, kind, selected = engine.prepare_rows(
                table, job.period, job.plan.overlap_selection
            )
            mine = start[selected & (kind == 0)]
            found.update(np.unique(timing_bits(mine, tz, timings)).tolist())
        yield pa.RecordBatch.from_pydict({"bits": sorted(found)}, pa.schema([("bits", pa.int64())]))

    bits = {row["bits"] for row in _collect(df.mapInArrow(combos, "bits long"))}
    return np.array(sorted(bits), dtype=np.int64)


def _rate(df: DataFrame, shipped: Any, tables: Any) -> list[tuple[int, dict[str, Any], Part]]:
    """Pass 3 (see the module docstring): (part index, manifest entries, part
    without its rated rows) of every chunk."""
    from pyspark.sql.types import IntegerType, StructField, StructType

    out_schema = StructType([*df.schema.fields, StructField(_PART, IntegerType(), False)])

    def assign(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        job: _Job = shipped.value
        _, part_of_code, _ = tables.value
        accounts = AccountIndex(job.plan.ownership, job.plan.customer_id)
        for batch in batches:
            table = _kept(batch, job)
            if not table.num_rows:
                continue
            _, _, account, _, selected = engine.prepare_rows(
                table.select(job.names), job.period, job.plan.overlap_selection
            )
            table = table.filter(pa.array(selected))
            codes = accounts.codes(account[selected]).astype(np.int64)
            part = pa.array(part_of_code[codes + 1], pa.int32())
            yield from table.append_column(_PART, part).to_batches()

    def rate(group: pa.Table) -> pa.Table:
        job: _Job = shipped.value
        shared, _, staging = tables.value
        # A private copy: a string first met in this chunk (a rule label) must
        # not leak into the next chunk this worker rates.
        shared = replace(shared, pool=pickle.loads(pickle.dumps(shared.pool)))
        index = int(group.column(_PART)[0].as_py())
        keys = [(c, "ascending") for c in (*_ORDER, "record_id")]
        rows = group.take(pc.sort_indices(group, sort_keys=keys)).select(job.names)
        part, _, _ = engine.rate_part(rows, job.plan, job.period, shared)
        from pathlib import Path

        entries = write_part_files(Path(staging), index, part.rated, part.daily)
        blob = pickle.dumps((index, entries, replace(part, rated=_no_rows())))
        return pa.table({"payload": [blob]}, pa.schema([("payload", pa.binary())]))

    assigned = df.mapInArrow(assign, out_schema)
    rows = _collect(assigned.groupBy(_PART).applyInArrow(rate, "payload binary"))
    return [pickle.loads(r["payload"]) for r in rows]


class _Tracker:
    """Reports a run's Spark work to the job's progress: a thread polls
    Spark's status tracker for the active stages' tasks while a pass runs,
    and each pass reports its stages and tasks when it ends (so a short job
    shows them too). The run's Spark jobs share a job group; a progress call
    that raises (the job was cancelled or lost its lease) cancels the group
    and the error is raised again in the rating thread."""

    def __init__(
        self, spark: SparkSession, progress: Progress | None, every_s: float = 1.0
    ) -> None:
        self._sc = spark.sparkContext
        self._tracker = self._sc.statusTracker()
        self._progress = progress
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spark-progress", daemon=True)
        self._error: BaseException | None = None
        self.group = f"rerate-{uuid.uuid4().hex}"
        self._reported: set[int] = set()  # stages already reported as done

    def __enter__(self) -> _Tracker:
        self._sc.setJobGroup(self.group, "rerate rating run", interruptOnCancel=True)
        if self._progress is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        unset: Any = None  # removes the property (the thread's next jobs are not the run's)
        self._sc.setLocalProperty("spark.jobGroup.id", unset)
        self._sc.setLocalProperty("spark.job.description", unset)

    def _report(self, fraction: float, message: str) -> None:
        if self._progress is None or not message:
            return
        try:
            self._progress(fraction, message)
        except BaseException as exc:  # cancelled, lease lost: stop the Spark jobs
            self._error = self._error or exc
            self._sc.cancelJobGroup(self.group)

    def _run(self) -> None:
        last = ""
        while not self._stop.wait(self._every):
            message = self.active()
            if message != last:
                last = message
                self._report(0.5, message)

    def check(self) -> None:
        """Raise the error a progress call raised (in the rating thread)."""
        if self._error is not None:
            raise self._error

    def active(self) -> str:
        """One line on the active stages: `spark stage 3: 5/8 tasks (2 running)`."""
        parts = []
        for stage_id in sorted(self._tracker.getActiveStageIds()):
            info = self._tracker.getStageInfo(stage_id)
            if info is not None:
                parts.append(
                    f"spark stage {stage_id}: {info.numCompletedTasks}/{info.numTasks} tasks "
                    f"({info.numActiveTasks} running)"
                )
        return "; ".join(parts)

    def done(self, name: str, fraction: float) -> None:
        """Report the stages of this run's Spark jobs finished since the last call."""
        self.check()
        stages: list[str] = []
        for job_id in sorted(self._tracker.getJobIdsForGroup(self.group)):
            job = self._tracker.getJobInfo(job_id)
            for stage_id in sorted(job.stageIds) if job is not None else []:
                info = self._tracker.getStageInfo(stage_id)
                if info is None or stage_id in self._reported:
                    continue
                self._reported.add(stage_id)
                stages.append(f"stage {stage_id} {info.numCompletedTasks}/{info.numTasks} tasks")
        self._report(fraction, f"spark {name} pass done: {', '.join(stages) or 'no stage'}")


def _collect(df: Any) -> list[Any]:
    """`df.collect()`, then the sockets PySpark read the result from closed
    now. PySpark leaves them in reference cycles; the garbage collector closed
    them later, in whatever code ran then, with a ResourceWarning about an
    unclosed socket that was not that code's (a test suite run with warnings
    as errors failed in an unrelated test)."""
    rows = df.collect()
    _close_dropped_sockets()
    return list(rows)


def _close_dropped_sockets() -> None:
    """Collect the garbage PySpark left (result sockets in reference cycles)
    here, where its ResourceWarning is known to be PySpark's: see `_collect`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
