"""A job that completed on its retry after a lost database connection says so
on its page: the earlier attempt's cause is shown, not hidden."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rerate.jobs import queue
from rerate.kit.db import Database
from rerate.models import Job
from tests.jobs.helpers import add_job
from tests.world import World

CAUSE = "database connection lost: AdminShutdown: terminating connection"


def test_a_job_completed_on_its_retry_shows_the_earlier_attempt(
    client: TestClient, database: Database, world: World
):
    job_id = add_job(database, world.nodes["cust_a1x"].id, "2026-05")
    first = queue.claim(database, worker_id="w1", lease_s=30)
    assert first is not None
    assert queue.retry_after_connection_loss(database, first, CAUSE)
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.run_after = job.created_at  # no need to wait for the retry delay here
    second = queue.claim(database, worker_id="w1", lease_s=30)
    assert second is not None
    assert second.fencing_token == first.fencing_token + 1
    queue.complete(database, second, {"ok": True})

    html = client.get(f"/billing/jobs/{job_id}", headers=world.headers("platform_admin")).text
    assert '<span class="badge badge-complete badge-lg">Complete</span>' in html
    assert "Earlier attempt" in html
    assert f"attempt 1: {CAUSE}; retried automatically" in html
