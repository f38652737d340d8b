"""Benchmark of the rating engine; prints one JSON summary.

    .venv/bin/python bench/bench_rating.py            # full size (RERATE_BENCH_SCALE=1.0)
    RERATE_BENCH_SCALE=0.05 .venv/bin/python bench/bench_rating.py   # quick run

VoIP: N CDRs (10 M at scale 1) against a deck of >= 200,000 prefixes in 3
activation versions with a 3-band timetable (plus a minutes profile for 10% of
the accounts and a discount); end to end = read the usage Parquet, rate, write
the billing run (rated/daily/period lines Parquet + summary.json).
Cloud: N FOCUS-like rows (20 M at scale 1), 50,000 SKUs in 2 versions (tiered
and regional entries, unpriced SKUs passed through) and a contract with 20
rules; same end to end.

Every measured part runs in its own process, so `peak_rss_mb` (ru_maxrss of
that process) is the part's own peak. Generated inputs are cached under
bench/.data/ and are not timed. The reference rater (tests/rating/reference.py)
and plain SQL in PostgreSQL are measured on samples and extrapolated linearly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.rating.reference

from rerate.kit.periods import Month  # noqa: E402
from rerate.kit.runtime import tune_for_batch_work  # noqa: E402
from rerate.rating.engine import USAGE_COLUMNS, rate  # noqa: E402
from rerate.rating.fixed import decimal_array  # noqa: E402
from rerate.rating.output import RunWriter  # noqa: E402
from rerate.rating.plan import (  # noqa: E402
    BandRule,
    ConsumptionProfile,
    Contract,
    ContractRule,
    CustomLineItem,
    Holiday,
    Ownership,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
    ProfileUnit,
    RatingPlan,
    RuleKind,
    TariffEntry,
    Tier,
    TierMode,
    Timetable,
)
from rerate.usage.schema import USAGE_SCHEMA  # noqa: E402
from rerate.usage.store import null_columns  # noqa: E402

SCALE = float(os.environ.get("RERATE_BENCH_SCALE", "1.0"))
DATA = Path(__file__).resolve().parent / ".data"
PERIOD = Month(2026, 8)
TZ = "Europe/Paris"
N_CDR = max(1000, int(10_000_000 * SCALE))
N_PREFIX = max(2000, int(200_000 * min(SCALE * 4, 1.0)))  # full deck from scale 0.25 up
N_ACCOUNTS = 2000
N_CLOUD = max(1000, int(20_000_000 * SCALE))
N_SKU = max(500, int(50_000 * min(SCALE * 4, 1.0)))
CLOUD_ACCOUNTS = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AUG_START = int((datetime(2026, 7, 31, 22, tzinfo=UTC) - EPOCH).total_seconds())  # Paris midnight
AUG_SECONDS = 31 * 86400
REF_SAMPLE = 20_000
PG_SAMPLE = 200_000


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------- plans


def _country_codes() -> list[str]:
    ccs = [
        "1",
        "7",
        "20",
        "27",
        "30",
        "31",
        "32",
        "33",
        "34",
        "36",
        "39",
        "40",
        "41",
        "43",
        "44",
        "45",
        "46",
        "47",
        "48",
        "49",
        "51",
        "52",
        "54",
        "55",
        "56",
        "57",
        "60",
        "61",
        "62",
        "63",
        "64",
        "65",
        "66",
        "81",
        "82",
        "84",
        "86",
        "90",
        "91",
        "92",
        "93",
        "94",
        "95",
        "98",
    ]
    ccs += [str(c) for c in range(210, 300) if str(c)[:2] not in ccs][:40]
    ccs += [str(c) for c in range(350, 390)] + [str(c) for c in range(500, 510)]
    ccs += [str(c) for c in range(670, 690)] + [str(c) for c in range(850, 890)]
    return sorted(set(ccs))


def voice_plan(customer: int = 1) -> RatingPlan:
    """Deck, timetable, ownership, profiles and contract, deterministic."""
    rng = np.random.default_rng(7)
    ccs = _country_codes()
    prefixes: set[str] = set(ccs)
    while len(prefixes) < N_PREFIX:
        cc = ccs[int(rng.integers(0, len(ccs)))]
        tail = int(rng.integers(1, 7))
        prefixes.add(cc + "".join(map(str, rng.integers(0, 10, tail))))
    ordered = sorted(prefixes)
    kinds = ("Fixed", "Mobile", "Premium", "Special")
    groups = [f"{p[:3] if len(p) > 3 else p} {kinds[len(p) % 4]}" for p in ordered]
    base_rates = rng.integers(1, 5000, len(ordered))  # in 1e-4 per minute
    incr = [(1, 1), (30, 6), (60, 60)]
    versions = []
    eff = ["2026-01-01T00:00:00+00:00", "2026-08-10T00:00:00+00:00", "2026-08-20T12:00:00+00:00"]
    next_id = 1
    for vi in range(3):
        entries = []
        drop = (
            set(rng.choice(len(ordered), size=len(ordered) // 100, replace=False).tolist())
            if vi
            else set()
        )
        bump = rng.integers(0, 10, len(ordered)) == 0 if vi else np.zeros(len(ordered), dtype=bool)
        for i, p in enumerate(ordered):
            if i in drop:
                continue
            rate = int(base_rates[i]) * (11 if bump[i] else 10) * (vi + 1)
            ini, sub = incr[i % 3]
            entries.append(
                TariffEntry(
                    next_id,
                    p,
                    groups[i],
                    Decimal(rate).scaleb(-5),
                    connect_fee=Decimal("0.01") if i % 7 == 0 else Decimal(0),
                    min_seconds=0,
                    initial_increment=ini,
                    subsequent_increment=sub,
                    charge_unanswered=i % 11 == 0,
                )
            )
            next_id += 1
            if i % 10 == 0:
                entries.append(
                    TariffEntry(
                        next_id,
                        p,
                        groups[i],
                        Decimal(rate * 2).scaleb(-5),
                        band="peak",
                        initial_increment=ini,
                        subsequent_increment=sub,
                    )
                )
                next_id += 1
        versions.append(
            PriceBookVersion(
                vi + 1, vi + 1, datetime.fromisoformat(eff[vi]), tariffs=tuple(entries)
            )
        )
    book = PriceBook(1, "EUR", tuple(versions))
    timetable = Timetable(
        1,
        TZ,
        "offpeak",
        rules=(
            BandRule(
                "peak",
                frozenset(range(5)),
                datetime.strptime("08:00", "%H:%M").time(),
                datetime.strptime("19:00", "%H:%M").time(),
                10,
            ),
            BandRule(
                "weekend",
                frozenset({5, 6}),
                datetime.strptime("00:00", "%H:%M").time(),
                datetime.strptime("00:00", "%H:%M").time(),
                5,
            ),
        ),
        holidays=(Holiday(datetime(2026, 8, 15).date(), "weekend"),),
    )
    since = datetime(2020, 1, 1, tzinfo=UTC)
    moved = datetime(2026, 8, 16, tzinfo=UTC)
    ownership = []
    for a in range(1, N_ACCOUNTS + 1):
        if a % 100 == 0:  # 1% of the accounts change owner mid-period
            ownership += [Ownership(a, customer, since, moved), Ownership(a, customer + 1, moved)]
        else:
            ownership.append(Ownership(a, customer, since))
    profile = ConsumptionProfile(
        1,
        "1000 min bundle",
        ProfileUnit.MINUTES,
        frozenset(range(1, N_ACCOUNTS + 1, 10)),
        included_quantity=Decimal(1000),
        tier_mode=TierMode.GRADUATED,
        tiers=(Tier(Decimal(0), Decimal("0.02")), Tier(Decimal(5000), Decimal("0.01"))),
        period_fee=Decimal("9.90"),
    )
    contract = Contract(
        1,
        customer,
        "EUR",
        TZ,
        rules=(
            ContractRule(1, RuleKind.DISCOUNT, percent=Decimal(5)),
            ContractRule(2, RuleKind.SUPPORT_FEE, percent=Decimal("2.5")),
        ),
    )
    return RatingPlan(contract, book, timetable, (profile,), tuple(ownership))


def cloud_plan(customer: int = 1) -> RatingPlan:
    rng = np.random.default_rng(11)
    skus = [f"sku-{i:06d}" for i in range(N_SKU)]
    regions = [f"region-{r}" for r in range(20)]
    versions = []
    next_id = 1
    for vi, eff in enumerate(["2026-01-01T00:00:00+00:00", "2026-08-15T00:00:00+00:00"]):
        entries = []
        for i, sku in enumerate(skus):
            if i % 50 == 49:
                continue  # unpriced: passed through
            price = Decimal(int(rng.integers(1, 10**6))).scaleb(-7) * (vi + 1)
            if i % 20 == 0:
                entries.append(
                    PriceEntry(
                        next_id,
                        sku,
                        Decimal(0),
                        unit="GB",
                        tier_mode=TierMode.GRADUATED,
                        tiers=(
                            Tier(Decimal(0), price),
                            Tier(Decimal(100), price * Decimal("0.8")),
                            Tier(Decimal(1000), price * Decimal("0.5")),
                        ),
                    )
                )
            elif i % 97 == 0:
                entries.append(
                    PriceEntry(
                        next_id,
                        sku,
                        Decimal(0),
                        unit="h",
                        tier_mode=TierMode.VOLUME,
                        tiers=(Tier(Decimal(0), price), Tier(Decimal(500), price * Decimal("0.9"))),
                    )
                )
            else:
                entries.append(PriceEntry(next_id, sku, price, unit="h"))
            next_id += 1
            if i % 10 == 3:
                entries.append(
                    PriceEntry(
                        next_id, sku, price * Decimal("1.1"), region=regions[i % 20], unit="h"
                    )
                )
                next_id += 1
        versions.append(
            PriceBookVersion(vi + 1, vi + 1, datetime.fromisoformat(eff), prices=tuple(entries))
        )
    book = PriceBook(1, "USD", tuple(versions))
    rules = [
        ContractRule(
            i + 1, RuleKind.UNIT_PRICE_OVERRIDE, sku=skus[i * 7 + 1], unit_price=Decimal("0.0123")
        )
        for i in range(5)
    ]
    rules += [
        ContractRule(6 + i, RuleKind.DISCOUNT, service=f"service-{i}", percent=Decimal(3 + i))
        for i in range(5)
    ]
    rules += [
        ContractRule(
            11 + i, RuleKind.MARKUP, sku=skus[i * 13 + 2], region=regions[i], percent=Decimal("7.5")
        )
        for i in range(3)
    ]
    rules += [
        ContractRule(14, RuleKind.DISCOUNT, region=regions[5], percent=Decimal("1.25")),
        ContractRule(15, RuleKind.DISCOUNT, percent=Decimal(2)),
        ContractRule(16, RuleKind.SUPPORT_FEE, percent=Decimal(3)),
        ContractRule(17, RuleKind.MINIMUM_COMMITMENT, amount=Decimal(10**9)),
        ContractRule(18, RuleKind.CREDIT, amount=Decimal(500)),
        ContractRule(19, RuleKind.CREDIT, service="service-3", percent=Decimal(1)),
        ContractRule(20, RuleKind.SUPPORT_FEE, service="service-1", percent=Decimal(1)),
    ]
    contract = Contract(
        1,
        customer,
        "USD",
        TZ,
        passthrough_unpriced=True,
        rules=tuple(rules),
        custom_line_items=(
            CustomLineItem(1, "Onboarding", Decimal(250), one_off_date=datetime(2026, 8, 3).date()),
        ),
    )
    since = datetime(2020, 1, 1, tzinfo=UTC)
    ownership = tuple(Ownership(a, customer, since) for a in range(1, CLOUD_ACCOUNTS + 1))
    profiles = tuple(
        ConsumptionProfile(
            100 + i,
            f"free tier {i}",
            ProfileUnit.UNITS,
            frozenset(range(1, CLOUD_ACCOUNTS + 1)),
            included_quantity=Decimal(50),
            scope_sku=skus[i * 20],
        )
        for i in range(10)
    )
    return RatingPlan(contract, book, None, profiles, ownership)


# ---------------------------------------------------------------- data


def _ids(prefix: str, n: int) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(np.arange(n)), pa.string()), "")


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype(np.int64) * 1_000_000, pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )


def voice_file() -> Path:
    return DATA / f"cdrs_{N_CDR}_{N_PREFIX}.parquet"


def cloud_file() -> Path:
    return DATA / f"cloud_{N_CLOUD}_{N_SKU}.parquet"


def _prepare_dir() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    ignore = DATA / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # generated data never goes into git


def generate_voice() -> None:
    path = voice_file()
    if path.exists():
        return
    _prepare_dir()
    plan = voice_plan()
    assert plan.price_book is not None
    prefixes = pa.array(sorted({t.prefix for t in plan.price_book.versions[0].tariffs}))
    rng = np.random.default_rng(1)
    tmp = path.with_suffix(".tmp")  # renamed when complete: a crash leaves no half file
    writer = pq.ParquetWriter(tmp, USAGE_SCHEMA, compression="zstd")
    chunk = 1_000_000
    for lo in range(0, N_CDR, chunk):
        n = min(chunk, N_CDR - lo)
        # Each account calls mostly among its own 30 favourite prefixes.
        account = rng.integers(1, N_ACCOUNTS + 1, n)
        fav = (account * 7919 + rng.integers(0, 30, n)) % len(prefixes)
        pick = np.where(rng.random(n) < 0.8, fav, rng.integers(0, len(prefixes), n))
        suffix = pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10**7, n)), pa.string()), 7, "0")
        dest = pc.utf8_slice_codeunits(
            pc.binary_join_element_wise(prefixes.take(pa.array(pick)), suffix, ""), 0, 15
        )
        # 3% of the numbers have no tariff (an unknown country code).
        dest = pc.if_else(
            pa.array(rng.random(n) < 0.03), pc.binary_join_element_wise("999", suffix, ""), dest
        )
        start = AUG_START + rng.integers(0, AUG_SECONDS, n)
        answered = rng.random(n) < 0.8
        billable = np.where(answered, rng.integers(1, 600, n), 0)
        duration = billable + rng.integers(0, 30, n)
        ids = _ids(f"cdr-{lo}-", n)
        table = pa.table(
            {
                "record_id": ids,
                "content_hash": ids,
                "import_id": pa.array(np.ones(n, np.int64)),
                "source": pa.array(["asterisk"] * n),
                "kind": pa.array(["cdr"] * n),
                "account_ref": pc.cast(pa.array(account), pa.string()),
                "account_id": pa.array(account),
                "usage_start": _timestamps(start),
                "usage_end": _timestamps(start + duration),
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
        )
        writer.write_table(table.cast(USAGE_SCHEMA))
    writer.close()
    tmp.rename(path)


def generate_cloud() -> None:
    path = cloud_file()
    if path.exists():
        return
    _prepare_dir()
    rng = np.random.default_rng(2)
    skus = pa.array([f"sku-{i:06d}" for i in range(N_SKU)])
    services = pa.array([f"service-{i % 40}" for i in range(N_SKU)])
    regions = pa.array([f"region-{r}" for r in range(20)])
    tmp = path.with_suffix(".tmp")  # renamed when complete: a crash leaves no half file
    writer = pq.ParquetWriter(tmp, USAGE_SCHEMA, compression="zstd")
    chunk = 1_000_000
    # Hourly rows of long-running resources: a resource is (account, sku, region)
    # and emits one row per hour, so a daily billing row sums ~24 usage rows.
    hours = 31 * 24
    n_res = max(1, N_CLOUD // hours)
    res_sku = (np.minimum(rng.zipf(1.3, n_res) - 1, N_SKU - 1) * 7919) % N_SKU
    res_region = rng.integers(0, 20, n_res)
    res_account = rng.integers(1, CLOUD_ACCOUNTS + 1, n_res)
    for lo in range(0, N_CLOUD, chunk):
        n = min(chunk, N_CLOUD - lo)
        row = np.arange(lo, lo + n)
        res = row % n_res
        sku = res_sku[res]
        region = res_region[res]
        account = res_account[res]
        start = AUG_START + (row // n_res) % hours * 3600
        qty = rng.integers(1, 10**7, n) * 10**6  # up to 1000 units with 4 decimals, scale 10
        cost = rng.integers(1, 10**9, n) * 10**3
        ids = _ids(f"u-{lo}-", n)
        table = pa.table(
            {
                "record_id": ids,
                "content_hash": ids,
                "import_id": pa.array(np.ones(n, np.int64)),
                "source": pa.array(["focus"] * n),
                "kind": pa.array(["cloud"] * n),
                "account_ref": pc.cast(pa.array(account), pa.string()),
                "account_id": pa.array(account),
                "usage_start": _timestamps(start),
                "usage_end": _timestamps(start + 3600),
                "service": services.take(pa.array(sku)),
                "sku": skus.take(pa.array(sku)),
                "region": regions.take(pa.array(region)),
                "quantity": decimal_array(qty),
                "unit": pa.array(["h"] * n),
                "list_cost": decimal_array(cost),
                "currency": pa.array(["USD"] * n),
                "calling_number": pa.nulls(n, pa.string()),
                "called_number": pa.nulls(n, pa.string()),
                "destination": pa.nulls(n, pa.string()),
                "duration_seconds": pa.nulls(n, pa.int64()),
                "billable_seconds": pa.nulls(n, pa.int64()),
                "disposition": pa.nulls(n, pa.string()),
            }
        )
        writer.write_table(table.cast(USAGE_SCHEMA))
    writer.close()
    tmp.rename(path)


# ---------------------------------------------------------------- measured parts


def _engine_columns(path: Path) -> list[str]:
    """The columns of the file that the engine reads (engine.USAGE_COLUMNS)
    and that hold values: all-null ones are left out, as compute_run's scan
    does (UsageStore.scan(skip_null_columns=True))."""
    present = set(pq.ParquetFile(path).schema_arrow.names)
    wanted = [c for c in USAGE_COLUMNS if c in present]
    empty = null_columns([path], wanted)
    return [c for c in wanted if c not in empty]


def _end_to_end(path: Path, plan: RatingPlan, out: Path) -> dict[str, Any]:
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    load = [round(x, 2) for x in os.getloadavg()]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    columns = _engine_columns(path)
    # Low-cardinality strings come back as Arrow dictionaries straight from the
    # Parquet dictionary pages (the engine accepts plain strings too).
    table = pq.read_table(
        path,
        columns=columns,
        read_dictionary=[
            c for c in columns if c in ("kind", "service", "sku", "region", "unit", "currency")
        ],
    )
    t1 = time.perf_counter()
    # As billing.runs.compute_run does: rated and daily rows stream to their
    # Parquet parts while rating goes on, so seconds_rate includes writing
    # them and seconds_write is the rest (period lines, summary, rename).
    with RunWriter(out) as writer:
        result = rate(table, plan, PERIOD.in_zone(TZ), part_sink=writer.write_part)
        t2 = time.perf_counter()
        writer.finish(result)
    t3 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    rows = table.num_rows
    summary = result.summary
    shutil.rmtree(out, ignore_errors=True)
    return {
        "rows": rows,
        "seconds_total": round(t3 - t0, 2),
        "seconds_read": round(t1 - t0, 2),
        "seconds_rate": round(t2 - t1, 2),
        "seconds_write": round(t3 - t2, 2),
        "rows_per_second": round(rows / (t3 - t0)),
        "rated": summary.rated,
        "unrated": summary.unrated,
        "unrated_by_reason": summary.unrated_by_reason,
        "daily_rows": result.daily.num_rows,
        "period_lines": len(result.lines),
        "usage_net": str(next(iter(summary.totals.values())).usage_net),
        "peak_rss_mb": _peak_rss_mb(),
        # CPU time of the end-to-end part (both cores): comparable across runs
        # even when other work shares the machine, unlike wall time.
        "cpu_user_s": round(r1.ru_utime - r0.ru_utime, 2),
        "cpu_sys_s": round(r1.ru_stime - r0.ru_stime, 2),
        "load_average_at_start": load,
    }


def part_voice() -> dict[str, Any]:
    t = time.perf_counter()
    plan = voice_plan()
    build = time.perf_counter() - t
    out = _end_to_end(voice_file(), plan, DATA / "run-voice")
    out["seconds_plan_build"] = round(build, 2)  # Python objects; the DB loader's job, untimed
    out["prefixes_per_version"] = N_PREFIX
    return out


def part_cloud() -> dict[str, Any]:
    plan = cloud_plan()
    return _end_to_end(cloud_file(), plan, DATA / "run-cloud")


def _sample(path: Path, n: int) -> pa.Table:
    pf = pq.ParquetFile(path)
    return pf.read_row_group(0).slice(0, n)


def part_reference(kind: str) -> dict[str, Any]:
    from tests.rating.reference import reference_rate

    plan = voice_plan() if kind == "voice" else cloud_plan()
    path = voice_file() if kind == "voice" else cloud_file()
    rows = _sample(path, REF_SAMPLE).to_pylist()
    t0 = time.perf_counter()
    reference_rate(rows, plan, PERIOD.in_zone(TZ))
    dt = time.perf_counter() - t0
    return {
        "sample_rows": len(rows),
        "seconds": round(dt, 2),
        "rows_per_second": round(len(rows) / dt),
    }


PG_SQL = """
CREATE TEMP TABLE rated AS
WITH c AS (
  SELECT c.*, (c.usage_start AT TIME ZONE 'Europe/Paris') AS local_start
  FROM cdr c
), b AS (
  SELECT c.*,
    (SELECT v.id FROM version v WHERE v.effective_from <= c.usage_start
      ORDER BY v.effective_from DESC LIMIT 1) AS version_id,
    CASE
      WHEN c.local_start::date IN (SELECT day FROM holiday) THEN 'weekend'
      WHEN extract(isodow FROM c.local_start) <= 5
           AND c.local_start::time >= '08:00' AND c.local_start::time < '19:00' THEN 'peak'
      WHEN extract(isodow FROM c.local_start) >= 6 THEN 'weekend'
      ELSE 'offpeak' END AS band
  FROM c
  JOIN ownership o ON o.account_id = c.account_id AND o.customer_id = 1
   AND o.valid_from <= c.usage_start AND (o.valid_to IS NULL OR c.usage_start < o.valid_to)
), m AS (
  SELECT b.*, t.*
  FROM b
  LEFT JOIN LATERAL (
    SELECT t.id AS entry_id, t.rate_per_minute, t.connect_fee, t.initial_increment,
           t.subsequent_increment, t.min_seconds, t.charge_unanswered
    FROM tariff t
    WHERE t.version_id = b.version_id
      AND t.prefix IN (SELECT left(b.destination, n) FROM generate_series(1, 15) n)
      AND (t.band IS NULL OR t.band = b.band)
    ORDER BY length(t.prefix) DESC, (t.band IS NULL)
    LIMIT 1
  ) t ON true
), s AS (
  SELECT m.*,
    CASE WHEN m.billable_seconds <= 0 THEN 0
         ELSE greatest(m.min_seconds,
              CASE WHEN m.billable_seconds <= m.initial_increment THEN m.initial_increment
                   ELSE m.initial_increment + ceil((m.billable_seconds - m.initial_increment)
                        / m.subsequent_increment::numeric) * m.subsequent_increment END)
    END AS billed
  FROM m
)
SELECT record_id, account_id, entry_id, version_id, band, billed,
  round((CASE WHEN billable_seconds > 0 OR charge_unanswered THEN connect_fee ELSE 0 END)
        + billed * rate_per_minute / 60, 10) AS list_amount,
  round(((CASE WHEN billable_seconds > 0 OR charge_unanswered THEN connect_fee ELSE 0 END)
        + billed * rate_per_minute / 60) * 0.95, 10) AS net_amount,
  (usage_start AT TIME ZONE 'Europe/Paris')::date AS day
FROM s
"""


def part_postgres() -> dict[str, Any]:
    try:
        import psycopg
    except ImportError:
        return {"skipped": "psycopg is not installed"}
    try:
        conn = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=5, autocommit=True
        )
    except Exception as exc:  # any connection failure means: skip, say why
        return {"skipped": f"PostgreSQL unreachable: {exc}"}
    plan = voice_plan()
    assert plan.price_book is not None
    sample = _sample(voice_file(), PG_SAMPLE)
    with conn, conn.cursor() as cur:
        cur.execute("SET work_mem = '256MB'")
        cur.execute("""
            CREATE TEMP TABLE version (id int, effective_from timestamptz);
            CREATE TEMP TABLE tariff (id int, version_id int, prefix text, band text,
              rate_per_minute numeric(38,10), connect_fee numeric(38,10), min_seconds int,
              initial_increment int, subsequent_increment int, charge_unanswered bool);
            CREATE TEMP TABLE holiday (day date);
            CREATE TEMP TABLE ownership (account_id bigint, customer_id bigint,
              valid_from timestamptz, valid_to timestamptz);
            CREATE TEMP TABLE cdr (record_id text, account_id bigint, usage_start timestamptz,
              destination text, billable_seconds bigint);
        """)
        for v in plan.price_book.versions:
            cur.execute("INSERT INTO version VALUES (%s, %s)", (v.id, v.effective_from))
            with cur.copy("COPY tariff FROM STDIN") as cp:
                for t in v.tariffs:
                    cp.write_row(
                        (
                            t.id,
                            v.id,
                            t.prefix,
                            t.band,
                            t.rate_per_minute,
                            t.connect_fee,
                            t.min_seconds,
                            t.initial_increment,
                            t.subsequent_increment,
                            t.charge_unanswered,
                        )
                    )
        assert plan.timetable is not None
        for h in plan.timetable.holidays:
            cur.execute("INSERT INTO holiday VALUES (%s)", (h.day,))
        with cur.copy("COPY ownership FROM STDIN") as cp:
            for o in plan.ownership:
                cp.write_row((o.account_id, o.customer_id, o.valid_from, o.valid_to))
        with cur.copy("COPY cdr FROM STDIN") as cp:
            for r in sample.select(
                ["record_id", "account_id", "usage_start", "destination", "billable_seconds"]
            ).to_pylist():
                cp.write_row(tuple(r.values()))
        cur.execute("CREATE INDEX ON tariff (version_id, prefix)")
        cur.execute("ANALYZE tariff; ANALYZE cdr; ANALYZE ownership; ANALYZE version")
        t0 = time.perf_counter()
        cur.execute(PG_SQL)
        dt = time.perf_counter() - t0
        cur.execute("SELECT count(*) FROM rated WHERE entry_id IS NOT NULL")
        row = cur.fetchone()
        matched = row[0] if row else 0
    conn.close()
    return {
        "sample_rows": len(sample),
        "matched": matched,
        "seconds": round(dt, 2),
        "rows_per_second": round(len(sample) / dt),
    }


def _generated(generate: Any) -> dict[str, Any]:
    generate()
    return {"ok": True}


PARTS = {
    "gen-voice": lambda: _generated(generate_voice),
    "gen-cloud": lambda: _generated(generate_cloud),
    "voice": part_voice,
    "cloud": part_cloud,
    "ref-voice": lambda: part_reference("voice"),
    "ref-cloud": lambda: part_reference("cloud"),
    "postgres": part_postgres,
}


def _child(part: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--part", part], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=sorted(PARTS))
    parser.add_argument("--only", choices=["voice", "cloud"], help="run one half only")
    args = parser.parse_args()
    if args.part:
        tune_for_batch_work()  # as the CLI does for `rerate worker` (kit/runtime.py)
        print(json.dumps(PARTS[args.part]()))
        return
    report: dict[str, Any] = {
        "scale": SCALE,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if args.only in (None, "voice"):
        _child("gen-voice")
        voice = _child("voice")
        ref = _child("ref-voice")
        pg = _child("postgres")
        if "rows_per_second" in voice:
            voice["target_rows_per_second"] = 1_000_000
            voice["target_peak_rss_mb"] = 6144
            if "rows_per_second" in ref:
                voice["speedup_vs_reference"] = round(
                    voice["rows_per_second"] / ref["rows_per_second"], 1
                )
            if "rows_per_second" in pg:
                voice["speedup_vs_postgres_sql"] = round(
                    voice["rows_per_second"] / pg["rows_per_second"], 1
                )
        report["voice"] = voice
        report["voice_reference_sample"] = ref
        report["voice_postgres_sample"] = pg
    if args.only in (None, "cloud"):
        _child("gen-cloud")
        cloud = _child("cloud")
        ref = _child("ref-cloud")
        if "rows_per_second" in cloud and "rows_per_second" in ref:
            cloud["speedup_vs_reference"] = round(
                cloud["rows_per_second"] / ref["rows_per_second"], 1
            )
        if "seconds_total" in cloud:
            cloud["target_seconds_total"] = round(20 * SCALE, 2)
        report["cloud"] = cloud
        report["cloud_reference_sample"] = ref
    print(json.dumps(report))  # one line: bench/run.py reads the last stdout line


if __name__ == "__main__":
    main()
