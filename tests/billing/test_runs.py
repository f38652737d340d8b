"""Billing-run helpers: the ownership filter and the fingerprint of what was written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.billing.runs import fingerprint, owned_rows
from rerate.kit.db import Database
from rerate.models import BillingRun
from rerate.rating.plan import Ownership
from rerate.usage.schema import TIMESTAMP
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import drain, submit
from tests.world import World

T0 = datetime(2026, 8, 1, tzinfo=UTC)


def _reference(usage: pa.Table, ownership: list[Ownership], customer_id: int) -> pa.Table:
    """The row-by-row rule: the customer owned the row's account at usage_start."""
    keep = [
        any(
            o.customer_id == customer_id
            and o.account_id == account
            and o.valid_from <= start
            and (o.valid_to is None or start < o.valid_to)
            for o in ownership
        )
        for account, start in zip(
            usage.column("account_id").to_pylist(),
            usage.column("usage_start").to_pylist(),
            strict=True,
        )
    ]
    return usage.filter(pa.array(keep, pa.bool_()))


def test_owned_rows_keeps_exactly_the_rows_the_customer_owned():
    rng = np.random.default_rng(3)
    n = 2000
    starts = [T0 + timedelta(minutes=int(m)) for m in rng.integers(-3000, 50_000, n)]
    usage = pa.table(
        {
            "record_id": pa.array([f"r{i}" for i in range(n)]),
            "account_id": pa.array(rng.integers(1, 9, n), pa.int64()),
            "usage_start": pa.array(starts, TIMESTAMP),
        }
    )
    at = [T0 + timedelta(days=d) for d in (0, 5, 10, 20, 25)]
    ownership = [
        Ownership(1, 7, at[0]),  # always ours
        Ownership(2, 7, at[0], at[1]),  # ours, then someone else's
        Ownership(2, 8, at[1]),
        Ownership(3, 8, at[0], at[2]),  # someone else's, then ours
        Ownership(3, 7, at[2]),
        Ownership(4, 7, at[0], at[1]),  # ours twice, with a gap
        Ownership(4, 8, at[1], at[3]),
        Ownership(4, 7, at[3], at[4]),
        Ownership(5, 8, at[0]),  # never ours
        Ownership(6, 7, at[1], at[2]),  # ours only in the middle
    ]
    got = owned_rows(usage, ownership, 7)
    assert got.equals(_reference(usage, ownership, 7))
    assert 0 < got.num_rows < n
    assert owned_rows(usage, ownership, 9).num_rows == 0
    assert owned_rows(usage.slice(0, 0), ownership, 7).num_rows == 0


def test_the_stored_fingerprint_is_that_of_the_files_written(
    client: TestClient, database: Database, data_dir: Path, world: World
):
    """compute_run hashes the engine's tables in memory; reading the run's files
    back must give the same fingerprint, or an unchanged recalculation would
    publish a new version."""
    billing: Billing = build_billing(database, data_dir, world)
    for period in ("2026-08", "2026-09"):
        r = submit(client, billing.world, "recalculations", "cust_a1x", [period])
        assert r.status_code == 202, r.text
    drain(database, data_dir)
    with database.session() as s:
        runs = list(s.scalars(select(BillingRun)))
    assert len(runs) >= 2
    for run in runs:
        assert fingerprint(Path(run.path)) == run.fingerprint
