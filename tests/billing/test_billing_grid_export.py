"""The Billing grid at scale: a customer with 200,100 daily rows in one month
(6,670 regions x 30 days, rated by the real pipeline). The CSV export streams
them in bounded memory, the page and its API answer within a time bound, on
SQLite and PostgreSQL. Timings are printed (pytest -s) for
docs/cloud-billing.md ("Billing Page", "Performance")."""

from __future__ import annotations

import csv
import io
import logging
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from rerate.accounts.service import create_account, move_account
from rerate.app import create_app
from rerate.auth.service import get_user_by_email, principal_for
from rerate.billing import daily_rows, grid
from rerate.billing.daily_rows import RowQuery
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import UsageImport
from rerate.models.enums import AccountKind
from rerate.usage.schema import USAGE_SCHEMA
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore
from tests.billing.fixtures import START, build_billing
from tests.billing.test_billing_utilities import drain, submit
from tests.world import World, build_world

pytestmark = pytest.mark.timeout(900)

REGIONS = 6_670
DAYS = 30
ROWS = REGIONS * DAYS  # 200,100 daily rows in September 2026
SEP = ("2026-09-01", "2026-10-01")
DAILY = {"mode": "daily", "from": "2026-09-01", "to": "2026-09-30"}
log = logging.getLogger(__name__)


def add_big_usage(db: Database, data_dir: Path, account_id: int, ref: str) -> None:
    """One 1 h vm.small row per region and day of September (column-wise)."""
    n = ROWS
    day = np.arange(n, dtype=np.int64) // REGIONS
    first = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp() * 1_000_000)
    start_us = first + day * 86_400_000_000 + 3_600_000_000  # 01:00 UTC
    ids = pa.array([f"{ref}-{i}" for i in range(n)], pa.string())
    regions = pa.array([f"r{i % REGIONS:05d}" for i in range(n)], pa.string())

    def const(value: object, typ: pa.DataType) -> pa.Array:
        return pa.array([value] * n, typ)

    table = pa.table(
        {
            "record_id": ids,
            "content_hash": ids,
            "import_id": const(0, pa.int64()),
            "source": const("focus", pa.string()),
            "kind": const("cloud", pa.string()),
            "account_ref": const(ref, pa.string()),
            "account_id": const(account_id, pa.int64()),
            "usage_start": pa.array(start_us, pa.timestamp("us", tz="UTC")),
            "usage_end": pa.array(start_us + 3_600_000_000, pa.timestamp("us", tz="UTC")),
            "service": const("Compute", pa.string()),
            "sku": const("vm.small", pa.string()),
            "region": regions,
            "quantity": const(Decimal("1"), pa.decimal128(38, 10)),
            "unit": const("h", pa.string()),
            "list_cost": const(None, pa.decimal128(38, 10)),
            "currency": const("EUR", pa.string()),
        }
    )
    for name in USAGE_SCHEMA.names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(n, USAGE_SCHEMA.field(name).type))
    table = table.select(USAGE_SCHEMA.names).cast(USAGE_SCHEMA)
    store = UsageStore(data_dir)
    with db.session() as s, store.import_lock():
        plan = store.plan_import(table, visible_import_ids(s))
        record = UsageImport(
            source="focus", file_name="big", sha256="2" * 64, rows_read=n, rows_new=plan.new
        )
        s.add(record)
        s.flush()
        store.write_import(plan, record.id)


@dataclass
class Big:
    client: TestClient
    db: Database
    data_dir: Path
    world: World
    build_s: float


@pytest.fixture(scope="module")
def big(module_database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    data_dir = tmp_path_factory.mktemp("grid-big")
    with module_database.session() as s:
        world = build_world(s)
    build_billing(module_database, data_dir, world)
    with module_database.session() as s:
        account = create_account(s, AccountKind.SUBSCRIPTION, external_ref="acc-big")
        move_account(s, account, customer=s.merge(world.nodes["cust_a1y"]), valid_from=START)
        account_id = account.id
    began = time.perf_counter()
    add_big_usage(module_database, data_dir, account_id, "acc-big")
    settings = Settings(data_dir=data_dir, database_url=module_database.url, env="test")
    with TestClient(create_app(settings, module_database)) as client:
        r = submit(client, world, "recalculations", "cust_a1y", ["2026-09"])
        assert r.status_code == 202, r.text
        drain(module_database, data_dir)
        built = time.perf_counter() - began
        log.info(f"[grid-big] {ROWS} usage rows imported and rated in {built:.1f} s")
        yield Big(client, module_database, data_dir, world, built)


def test_the_export_streams_every_row_in_bounded_memory(big: Big) -> None:
    with big.db.session() as s:
        user = get_user_by_email(s, big.world.users["partner_admin"].email)
        scope = daily_rows.scope_for(s, principal_for(s, user, via="api_key"), big.data_dir)
        query = RowQuery(
            date(2026, 9, 1), date(2026, 10, 1), customer_ids=(big.world.nodes["cust_a1y"].id,)
        )
        tracemalloc.start()
        began = time.perf_counter()
        chunks = lines = largest = 0
        size = 0
        net = Decimal(0)
        for chunk in grid.export_rows(s, scope, query):
            chunks += 1
            largest = max(largest, len(chunk))
            size += len(chunk)
            text = chunk.decode()
            lines += text.count("\r\n")
            if chunks > 1:  # every row's exact amount (chunk 1 is the header)
                for row in csv.reader(io.StringIO(text)):
                    net += Decimal(row[20])
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    log.info(
        f"[grid-big] export: {lines - 1} rows, {size / 1e6:.1f} MB of CSV in {chunks} "
        f"chunks, {seconds:.1f} s, Python peak {peak / 1e6:.1f} MB"
    )
    assert lines - 1 == ROWS  # acc-big's rows (acc-mover is Cust A1x's in September)
    assert net == ROWS * Decimal("0.05")  # each row: 1 h x 0.05, no discount
    # One chunk holds at most CSV_BATCH rows; the whole file is never held:
    # the peak stays far below the CSV's size (and the rows' dicts).
    assert largest < size / 20
    assert peak < size / 2, (peak, size)


def test_the_export_over_http_and_the_page_stay_fast(big: Big) -> None:
    headers = big.world.headers("partner_admin")
    a1y = big.world.nodes["cust_a1y"].id
    began = time.perf_counter()
    with big.client.stream(
        "GET",
        "/api/v1/billing/export.csv",
        params={"start": SEP[0], "end": SEP[1], "customer_id": a1y, "sort": "-net_amount"},
        headers=headers,
    ) as r:
        assert r.status_code == 200
        count = sum(chunk.count(b"\r\n") for chunk in r.iter_bytes()) - 1
    export_s = time.perf_counter() - began
    assert count == ROWS
    timings = {"export": export_s}
    for name, path, params in (
        ("page (daily, month)", "/billing/grid", {**DAILY, "customer_id": a1y}),
        ("page (monthly)", "/billing/grid", {"mode": "monthly", "from_month": "2026-09"}),
        ("page (sorted, page 40)", "/billing/grid", {**DAILY, "sort": "-net_amount", "page": 40}),
        ("api range", "/api/v1/billing/range", {"start": SEP[0], "end": SEP[1]}),
        ("api summary", "/api/v1/billing/summary", {"start": SEP[0], "end": SEP[1]}),
        ("api charts", "/api/v1/billing/charts", {"start": SEP[0], "end": SEP[1]}),
    ):
        began = time.perf_counter()
        r = big.client.get(path, params=params, headers=headers)
        timings[name] = time.perf_counter() - began
        assert r.status_code == 200, r.text[:500]
    log.info("[grid-big] " + ", ".join(f"{k}: {v:.2f} s" for k, v in timings.items()))
    # 6,670 regions: the 5 largest series and "Other", summing to the total.
    [eur] = big.client.get(
        "/api/v1/billing/charts",
        params={"start": SEP[0], "end": SEP[1], "customer_id": a1y},
        headers=headers,
    ).json()["charts"]
    regions = eur["by_region"]["series"]
    assert len(regions) == 6
    assert regions[-1]["name"] == "Other"
    # Equal totals: the ties break by name.
    assert [s["name"] for s in regions[:5]] == ["r00000", "r00001", "r00002", "r00003", "r00004"]
    other = sum(Decimal(v) for v in regions[-1]["values"])
    assert other == (REGIONS - 5) * DAYS * Decimal("0.05")
    assert len(eur["top_subscriptions"]) == 1
    # Generous bounds for a loaded 2-core machine; the report has the real numbers.
    assert timings["page (daily, month)"] < 30
    assert timings["export"] < 60
