"""Claiming from several real processes on PostgreSQL (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import multiprocessing

import pytest

from rerate.kit.db import Database, is_sqlite
from tests.jobs.helpers import add_job
from tests.jobs.procs import claim_loop


@pytest.mark.postgres
@pytest.mark.slow
def test_three_processes_claim_each_of_fifty_jobs_exactly_once(
    database: Database, customer_id: int
) -> None:
    if is_sqlite(database.engine):
        pytest.skip("the process race is PostgreSQL's SKIP LOCKED; SQLite is covered by threads")
    periods = [f"{2020 + i // 12}-{i % 12 + 1:02d}" for i in range(50)]
    ids = {add_job(database, customer_id, p) for p in periods}
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(3)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=claim_loop, args=(database.url, f"p{i}", start, out)) for i in range(3)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=90) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    claimed = [job_id for pairs in results.values() for job_id, _token in pairs]
    assert len(claimed) == 50
    assert set(claimed) == ids  # each job exactly once
    assert {token for pairs in results.values() for _id, token in pairs} == {1}
    # All three took part: the claims really raced (not one process then the next).
    assert all(results[f"p{i}"] for i in range(3)), {k: len(v) for k, v in results.items()}
