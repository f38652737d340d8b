"""Benchmark: import a 1,000,000-row FOCUS CSV (parse + resolve + plan + write).

    .venv/bin/python bench/bench_import.py            # 1 M rows
    RERATE_BENCH_SCALE=0.1 .venv/bin/python bench/bench_import.py

The input is generated once, outside the timing, and cached under
`bench/.data/` (gitignored). Prints one JSON object. As an in-run baseline it
also times what a user would otherwise write (`csv.DictReader` + `Decimal`
per row) over the first 100 k rows and extrapolates to the full file.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from rerate.usage.importers import ImportOptions, parse
from rerate.usage.resolve import resolve_accounts
from rerate.usage.store import UsageStore

DATA = Path(__file__).resolve().parent / ".data"
ACCOUNTS = 500
HEADER = [
    "BillingAccountId", "BillingAccountName", "SubAccountId", "SubAccountName",
    "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ServiceName", "SkuId", "SkuPriceId", "RegionId", "ResourceId",
    "ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "ListUnitPrice",
    "ListCost", "BilledCost", "EffectiveCost", "BillingCurrency",
]  # fmt: skip
SERVICES = [
    ("Amazon Elastic Compute Cloud", "Hours"),
    ("Amazon Simple Storage Service", "GB-Mo"),
    ("Amazon Relational Database Service", "Hours"),
    ("AWS Lambda", "Requests"),
    ("Amazon CloudFront", "GB"),
]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"]


def generate(path: Path, rows: int) -> None:
    """Write `rows` FOCUS rows: hourly charges of ~500 accounts over a month."""
    rng = np.random.default_rng(20260801)
    tmp = path.with_suffix(".tmp")
    base = datetime(2026, 8, 1, tzinfo=UTC)
    chunk = 100_000
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for offset in range(0, rows, chunk):
            n = min(chunk, rows - offset)
            acct = rng.integers(0, ACCOUNTS, n)
            hour = rng.integers(0, 31 * 24, n)
            svc = rng.integers(0, len(SERVICES), n)
            region = rng.integers(0, len(REGIONS), n)
            res = rng.integers(0, 5000, n)
            qty = rng.integers(1, 100_000, n)
            price = rng.integers(1, 500_000, n)
            for i in range(n):
                start = base + timedelta(hours=int(hour[i]))
                service, unit = SERVICES[svc[i]]
                q = Decimal(int(qty[i])).scaleb(-3)
                p = Decimal(int(price[i])).scaleb(-7)
                cost = q * p
                sku = f"SKU{svc[i]}{res[i] % 50:03d}"
                writer.writerow([
                    "900000000001", "Reseller Payer", f"{100000000000 + acct[i]}",
                    f"Customer {acct[i]}",
                    start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "Usage", "", f"{service} usage", service, sku, f"{sku}.OD",
                    REGIONS[region[i]], f"res-{acct[i]}-{res[i]}", q, unit, q, unit, p,
                    cost, cost, cost, "USD",
                ])  # fmt: skip
    tmp.replace(path)


def naive_baseline(path: Path, rows: int, limit: int = 100_000) -> float:
    """Seconds for a hand-written DictReader + Decimal loop, extrapolated."""
    start = time.perf_counter()
    count = 0
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.append(
                (
                    row["SubAccountId"] or row["BillingAccountId"],
                    datetime.fromisoformat(row["ChargePeriodStart"]),
                    datetime.fromisoformat(row["ChargePeriodEnd"]),
                    Decimal(row["ConsumedQuantity"]),
                    Decimal(row["ListCost"]),
                )
            )
            count += 1
            if count >= limit:
                break
    elapsed = time.perf_counter() - start
    return elapsed * rows / max(count, 1)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    scale = float(os.environ.get("RERATE_BENCH_SCALE", "1.0"))
    rows = max(1000, int(1_000_000 * scale))
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"focus_{rows}.csv"
    if not path.exists():
        print(f"generating {rows} rows into {path} ...", file=sys.stderr)
        generate(path, rows)
    lookup = {str(100000000000 + i): i + 1 for i in range(ACCOUNTS)}

    with tempfile.TemporaryDirectory(prefix="rerate-bench-") as tmp:
        store = UsageStore(Path(tmp))
        load_before = os.getloadavg()[0]
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        parsed = parse("focus", path, ImportOptions())
        t1 = time.perf_counter()
        table, _ = resolve_accounts(parsed, lookup, file=parsed.file, skip_bad_rows=False)
        t2 = time.perf_counter()
        with store.import_lock():
            plan = store.plan_import(table, visible_import_ids=())
            t3 = time.perf_counter()
            written = store.write_import(plan, import_id=1)
        t4 = time.perf_counter()
        cpu = _cpu_seconds() - cpu0
        # The same file again: everything is classified unchanged, nothing written.
        with store.import_lock():
            again = store.plan_import(table, visible_import_ids=(1,))
        t5 = time.perf_counter()
        assert written.rows_written == parsed.table.num_rows - plan.duplicates_in_batch
        assert again.table.num_rows == 0

    seconds = t4 - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    baseline = naive_baseline(path, rows)
    print(
        json.dumps(
            {
                "name": "import_focus_csv",
                "rows": parsed.rows_read,
                "seconds": round(seconds, 3),
                "rows_per_s": round(parsed.rows_read / seconds),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                # Shared 2-core machine: CPU time and the load average let a
                # reader tell a slow run from a busy machine.
                "cpu_seconds": round(cpu, 3),
                "load_avg_1m_before": round(load_before, 2),
                "phases_s": {
                    "parse": round(t1 - t0, 3),
                    "resolve": round(t2 - t1, 3),
                    "plan": round(t3 - t2, 3),
                    "write": round(t4 - t3, 3),
                    "reimport_plan": round(t5 - t4, 3),
                },
                "baseline_dictreader_decimal_s": round(baseline, 3),
                "speedup_vs_baseline": round(baseline / seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
