"""Benchmark of issue 17: the Spark backend (local[2]) next to the embedded engine.

    .venv/bin/python bench/bench_spark.py                    # 10 M, 50 M, 100 M CDRs
    .venv/bin/python bench/bench_spark.py --sizes 10         # 10 M only
    RERATE_BENCH_SCALE=0.01 .venv/bin/python bench/bench_spark.py   # 100 k, 500 k, 1 M
    RERATE_BENCH_QUICK=1 .venv/bin/python bench/bench_spark.py      # smoke size

For each size: N CDRs of one customer (2,000 SIP trunks, August 2026 in
Europe/Paris) against bench_rating's VoIP deck (>= 200,000 prefixes at full
size, 3 versions, 3-band timetable, a minutes profile, a discount), written
in the store's canonical layout (usage/day=.../<import>.parquet, one import,
so every day is read as it is), cached under bench/.data/. Timed, each in its
own process: a billing run of that customer-month as compute_run does it
(read, keep the owned rows, rate, write the run's files), by
1. the embedded backend (this process, all cores) -- the baseline;
2. the Spark backend on local[2] (driver, one executor JVM, Python workers).
Memory: the embedded process's peak RSS; for Spark, the driver Python's
peak RSS and the peak of the sum of RSS of its child processes (the JVM,
which in local mode is driver and executor, and its Python workers), polled
every 0.5 s. Both runs' fingerprints (billing/runs.fingerprint_tables) must
be equal. Embedded is not run where its peak RSS, extrapolated linearly from
the largest size measured, would not fit in the machine's available memory:
that is where it stops fitting (reported as `embedded_fits_up_to_rows`).
The machine is shared (load average reported): figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_rating  # noqa: E402

from rerate.billing.runs import LOOKBACK, fingerprint_tables  # noqa: E402
from rerate.kit.periods import Month  # noqa: E402
from rerate.kit.runtime import tune_for_batch_work  # noqa: E402
from rerate.rating.backends import RunUsage  # noqa: E402
from rerate.rating.output import RunWriter  # noqa: E402
from rerate.rating.owned import owned_rows  # noqa: E402
from rerate.usage.schema import USAGE_SCHEMA  # noqa: E402
from rerate.usage.store import UsageStore  # noqa: E402

SCALE = float(os.environ.get("RERATE_BENCH_SCALE", "1.0"))
QUICK = os.environ.get("RERATE_BENCH_QUICK") == "1"
DATA = Path(__file__).resolve().parent / ".data"
PERIOD = Month(2026, 8)
TZ = bench_rating.TZ
IMPORT_ID = 1
SIZES_M = (10, 50, 100)
N_ACCOUNTS = bench_rating.N_ACCOUNTS


def rows_of(size_m: int) -> int:
    scale = 0.002 if QUICK else SCALE
    return max(10_000, int(size_m * 1_000_000 * scale))


def store_dir(n: int) -> Path:
    return DATA / f"spark_store_{n}_{bench_rating.N_PREFIX}"


def generate(n: int) -> Path:
    """N CDRs in the canonical store layout, one file per UTC day (cached)."""
    root = store_dir(n)
    if (root / "complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / ".gitignore").write_text("*\n")
    plan = bench_rating.voice_plan()
    assert plan.price_book is not None
    prefixes = pa.array(sorted({t.prefix for t in plan.price_book.versions[0].tariffs}))
    rng = np.random.default_rng(17)
    first = date(2026, 7, 31)  # Paris August starts at 22:00 UTC on 31 July
    days = [first + timedelta(days=i) for i in range(32)]
    day0 = int((datetime(2026, 7, 31, tzinfo=UTC) - bench_rating.EPOCH).total_seconds())
    lo_s, hi_s = bench_rating.AUG_START, bench_rating.AUG_START + bench_rating.AUG_SECONDS
    per_day = [
        max(0, min(hi_s, day0 + (i + 1) * 86400) - max(lo_s, day0 + i * 86400))
        for i in range(len(days))
    ]
    counts = np.floor(np.array(per_day) / sum(per_day) * n).astype(int)
    counts[-2] += n - int(counts.sum())
    written = 0
    for i, day in enumerate(days):
        target = root / "usage" / f"day={day.isoformat()}" / f"{IMPORT_ID}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        writer = pq.ParquetWriter(target, USAGE_SCHEMA, compression="zstd")
        left = int(counts[i])
        lo = max(lo_s, day0 + i * 86400)
        hi = min(hi_s, day0 + (i + 1) * 86400)
        while left > 0:
            m = min(left, 1_000_000)
            writer.write_table(_cdrs(rng, prefixes, m, written, lo, hi))
            written += m
            left -= m
        writer.close()
    (root / "complete").write_text(str(n))
    return root


def _cdrs(rng: Any, prefixes: pa.Array, n: int, base: int, lo: int, hi: int) -> pa.Table:
    """As bench_rating.generate_voice (80% of calls to an account's favourite
    prefixes, 3% to no tariff), sorted by account then start like an import."""
    account = rng.integers(1, N_ACCOUNTS + 1, n)
    fav = (account * 7919 + rng.integers(0, 30, n)) % len(prefixes)
    pick = np.where(rng.random(n) < 0.8, fav, rng.integers(0, len(prefixes), n))
    suffix = pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10**7, n)), pa.string()), 7, "0")
    dest = pc.utf8_slice_codeunits(
        pc.binary_join_element_wise(prefixes.take(pa.array(pick)), suffix, ""), 0, 15
    )
    dest = pc.if_else(
        pa.array(rng.random(n) < 0.03), pc.binary_join_element_wise("999", suffix, ""), dest
    )
    start = rng.integers(lo, hi, n)
    order = np.lexsort((start, account))
    account, start, dest = account[order], start[order], dest.take(pa.array(order))
    answered = rng.random(n) < 0.8
    billable = np.where(answered, rng.integers(1, 600, n), 0)
    duration = billable + rng.integers(0, 30, n)
    ids = bench_rating._ids(f"cdr-{base}-", n)
    return pa.table(
        {
            "record_id": ids,
            "content_hash": ids,
            "import_id": pa.array(np.full(n, IMPORT_ID, np.int64)),
            "source": pa.array(["asterisk"] * n),
            "kind": pa.array(["cdr"] * n),
            "account_ref": pc.cast(pa.array(account), pa.string()),
            "account_id": pa.array(account),
            "usage_start": bench_rating._timestamps(start),
            "usage_end": bench_rating._timestamps(start + duration),
            "service": pa.nulls(n, pa.string()),
            "sku": pa.nulls(n, pa.string()),
            "region": pa.nulls(n, pa.string()),
            "quantity": pa.nulls(n, pa.decimal128(38, 10)),
            "unit": pa.nulls(n, pa.string()),
            "list_cost": pa.nulls(n, pa.decimal128(38, 10)),
            "currency": pa.nulls(n, pa.string()),
            "calling_number": pa.nulls(n, pa.string()),
            "called_number": dest,
            "destination": dest,
            "duration_seconds": pa.array(duration),
            "billable_seconds": pa.array(billable),
            "disposition": pa.array(np.where(answered, "ANSWERED", "NO ANSWER").tolist()),
        }
    ).cast(USAGE_SCHEMA)


class _Children:
    """Peak of the summed RSS of this process's descendants (polled)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self.peak_single_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Children:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.5):
            parents: dict[int, int] = {}
            rss: dict[int, float] = {}
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                try:
                    with open(f"/proc/{pid}/stat") as fh:
                        parents[int(pid)] = int(fh.read().rsplit(")", 1)[1].split()[1])
                    with open(f"/proc/{pid}/statm") as fh:
                        rss[int(pid)] = (
                            int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
                        )
                except (OSError, ValueError, IndexError):
                    continue
            mine = {me}
            changed = True
            while changed:
                changed = False
                for pid, parent in parents.items():
                    if parent in mine and pid not in mine:
                        mine.add(pid)
                        changed = True
            sizes = [rss.get(p, 0.0) for p in mine if p != me]
            self.peak_mb = max(self.peak_mb, sum(sizes))
            self.peak_single_mb = max([self.peak_single_mb, *sizes])


def part(backend: str, n: int) -> dict[str, Any]:
    tune_for_batch_work()
    root = generate(n)
    plan = bench_rating.voice_plan()
    window = PERIOD.in_zone(TZ)
    base_mb = _rss_now_mb()  # the plan and the interpreter, before any row
    usage = RunUsage(
        store=UsageStore(root),
        visible={IMPORT_ID},
        start_utc=window.start_utc - LOOKBACK,
        end_utc=window.end_utc,
        account_ids=list(range(1, N_ACCOUNTS + 1)),
        keep=partial(owned_rows, ownership=plan.ownership, customer_id=plan.customer_id),
    )
    out = DATA / f"run-spark-bench-{backend}"
    shutil.rmtree(out, ignore_errors=True)
    load = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {"backend": backend, "rows": n, "load_average_at_start": load}
    if backend == "spark":
        from rerate.rating.backends.spark import SparkBackend

        spark = SparkBackend(
            "local[2]",
            {
                "spark.ui.enabled": "false",
                "spark.driver.memory": os.environ.get("RERATE_BENCH_SPARK_MEMORY", "6g"),
                "spark.sql.shuffle.partitions": "16",
            },
        )
        t = time.perf_counter()
        spark.session.sparkContext.setLogLevel("ERROR")
        result["seconds_session_start"] = round(time.perf_counter() - t, 2)
        runner: Any = spark
    else:
        from rerate.rating.backends.embedded import EmbeddedBackend

        runner = EmbeddedBackend()
    notes: list[str] = []
    with _Children() as children:
        t0 = time.perf_counter()
        with RunWriter(out) as writer:
            rated = runner.rate_run(
                usage, plan, window, writer, progress=lambda f, m: notes.append(m)
            )
            writer.finish(rated)
        seconds = time.perf_counter() - t0
    result.update(
        seconds_total=round(seconds, 2),
        rows_per_second=round(n / seconds),
        rated=rated.summary.rated,
        unrated=rated.summary.unrated,
        usage_net=str(next(iter(rated.summary.totals.values())).usage_net),
        fingerprint=fingerprint_tables(rated.daily, rated.period_lines),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        rss_before_rows_mb=round(base_mb, 1),
        run_mb=round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20, 1),
    )
    if backend == "spark":
        result["children_peak_rss_mb"] = round(children.peak_mb, 1)  # JVM + Python workers
        result["largest_child_peak_rss_mb"] = round(children.peak_single_mb, 1)
        result["progress_notes"] = notes[-3:]
    shutil.rmtree(out, ignore_errors=True)
    return result


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(backend: str, n: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--part", backend, "--rows", str(n)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {"backend": backend, "rows": n, "error": proc.stderr[-2000:]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _available_mb() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["embedded", "spark"])
    parser.add_argument("--rows", type=int)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_M)))
    args = parser.parse_args()
    if args.part:
        print(json.dumps(part(args.part, args.rows)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    mb_per_row: float | None = None
    available = _available_mb()
    for size in sizes:
        n = rows_of(size)
        t = time.perf_counter()
        generate(n)
        entry: dict[str, Any] = {"size_m": size, "rows": n}
        entry["seconds_generate"] = round(time.perf_counter() - t, 2)
        need = mb_per_row * n if mb_per_row is not None else 0.0
        if mb_per_row is not None and need > 0.8 * available:
            entry["embedded"] = {
                "skipped": f"needs ~{need:.0f} MB (extrapolated), {available:.0f} MB available"
            }
        else:
            entry["embedded"] = _child("embedded", n)
            peak = entry["embedded"].get("peak_rss_mb")
            if peak:
                # What grows with the rows: the peak above the plan's footprint.
                fixed = entry["embedded"]["rss_before_rows_mb"]
                mb_per_row = max(peak - fixed, 1.0) / n
        entry["spark"] = _child("spark", n)
        fps = {
            entry[b].get("fingerprint") for b in ("embedded", "spark") if "fingerprint" in entry[b]
        }
        entry["same_fingerprint"] = len(fps) == 1 if len(fps) else None
        results.append(entry)
        print(json.dumps(entry), file=sys.stderr)
    summary = {
        "bench": "spark",
        "scale": SCALE,
        "quick": QUICK,
        "cores": os.cpu_count(),
        "memory_available_mb": round(available),
        # Linear in rows above the plan's footprint; 80% of available memory.
        "embedded_fits_up_to_rows": int(0.8 * available / mb_per_row) if mb_per_row else None,
        "sizes": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
