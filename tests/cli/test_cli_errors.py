"""A user's mistake on the command line: one line naming the problem, exit
code 2, no Python traceback (cli/errors.py is the net under every command);
a followed job that ends Failed makes the command fail; following a job no
worker picks up warns instead of waiting in silence."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rerate.kit.db import Database
from rerate.models import Job
from rerate.models.enums import JobStatus, JobType
from tests.billing.fixtures import build_billing
from tests.cli.test_cli_audit import _run
from tests.world import World

# (arguments, the words the one line must hold); {a1y}/{b1x} are customer ids.
MISTAKES: dict[str, tuple[tuple[str, ...], str]] = {
    "unknown customer": (
        ("recalc", "--customer", "999999", "--period", "2026-01"),
        "customer 999999 not found",
    ),
    "customer of another tenant": (
        ("recalc", "--customer", "{b1x}", "--period", "2026-01"),
        "customer {b1x} not found",
    ),
    "bad period": (
        ("recalc", "--customer", "{a1y}", "--period", "2026-13"),
        "period must look like YYYY-MM, got '2026-13'",
    ),
    "customer without a contract": (
        ("recalc", "--customer", "{a1y}", "--period", "2026-01"),
        "is not eligible: it needs an active contract",
    ),
    "unknown job": (("jobs", "show", "999999"), "job 999999 not found"),
    "unknown invoice": (("invoices", "issue", "999999"), "invoice 999999 not found"),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_mistake_is_one_line_and_exit_code_2(
    database: Database, world: World, tmp_path: Path, case: str
):
    args, words = MISTAKES[case]
    ids = {"a1y": str(world.nodes["cust_a1y"].id), "b1x": str(world.nodes["cust_b1x"].id)}
    args = tuple(a.format(**ids) for a in args)
    words = words.format(**ids)
    if args[0] == "recalc":
        args = (*args, "--reason", "incorrect_charges", "--no-follow")
    done = _run(database, tmp_path, *args, "--as", world.users["partner_admin"].email)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert words in lines[0]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_following_a_job_that_fails_exits_non_zero(
    database: Database, world: World, data_dir: Path, tmp_path: Path
):
    # No worker runs here: another thread fails the job as a worker would
    # record a failure, while the command follows it.
    build_billing(database, data_dir, world)
    customer = world.nodes["cust_a1x"].id
    stop = threading.Event()

    def fail_it() -> None:
        while not stop.is_set():
            with database.session() as s:
                job = s.scalar(select(Job).where(Job.status == JobStatus.QUEUED.value))
                if job is not None:
                    job.status = JobStatus.FAILED.value
                    job.error = "database connection lost"
                    s.commit()
                    return
            time.sleep(0.1)

    failer = threading.Thread(target=fail_it, daemon=True)
    failer.start()
    try:
        done = _run(
            database,
            tmp_path,
            *("recalc", "--customer", str(customer), "--period", "2026-01"),
            *("--reason", "incorrect_charges", "--follow"),
            *("--as", world.users["partner_admin"].email),
        )
    finally:
        stop.set()
        failer.join(timeout=10)
    assert "queued jobs" in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    assert "failed" in done.stderr
    assert "database connection lost" in done.stderr


def test_follow_warns_when_no_worker_sends_a_heartbeat(
    database: Database, world: World, monkeypatch: pytest.MonkeyPatch, capsys
):
    from rerate.cli import context
    from rerate.cli import jobs as cli_jobs
    from rerate.jobs import queue
    from rerate.kit.audit import Actor, set_session_actor

    monkeypatch.setattr(context, "database", lambda: database)
    with database.session() as s:
        set_session_actor(s, Actor(None, "test"))
        job = queue.enqueue(
            s,
            type=JobType.CACHE_SYNC,
            customer_id=world.nodes["cust_a1y"].id,
            period="2026-01",
            reason="incorrect_charges",
            actor_id=None,
            actor_label="test",
            request_id="test-follow",
        )
        s.commit()
        job_id = job.id

    def cancel_later() -> None:
        time.sleep(2.5)
        with database.session() as s:
            queue.cancel(s, job_id)
            s.commit()

    canceller = threading.Thread(target=cancel_later, daemon=True)
    canceller.start()
    view = cli_jobs.follow_job(
        job_id, world.users["platform_admin"].email, poll_s=0.2, warn_after_s=0.5
    )
    canceller.join(timeout=10)
    assert view["status"] == JobStatus.CANCELLED.value
    err = capsys.readouterr().err
    assert "no worker has sent a heartbeat" in err
    assert err.count("no worker has sent a heartbeat") == 1
