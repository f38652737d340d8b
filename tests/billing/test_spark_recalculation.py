"""A recalculation of a demo customer with RERATE_ENGINE=spark publishes the
run the embedded engine computes, byte for byte (issue 17, "Done when").

The demo is loaded once (small scale, SQLite); the recalculation goes
through the job queue and the worker as any other; the Spark work shows in
the run's progress. Skipped without pyspark, a failure in CI
(RERATE_TEST_REQUIRE_SPARK=1).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rerate.billing import runs
from rerate.billing.eligibility import active_contract
from rerate.billing.tasks import handlers
from rerate.demo.loader import load_demo
from rerate.jobs import queue
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.kit.settings import get_settings
from rerate.models import Job, Node
from rerate.models.enums import JobStatus, JobType
from tests.rating.test_spark_parity import assert_same_run

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TODAY = date(2026, 11, 21)
PERIOD = "2026-10"


@pytest.fixture(scope="module")
def demo(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, Path]]:
    data_dir = tmp_path_factory.mktemp("spark-demo")
    shutil.copy(sqlite_template, data_dir / "demo.db")
    db = Database(f"sqlite:///{data_dir / 'demo.db'}")
    load_demo(db, data_dir, scale=0.003, today=TODAY)
    yield db, data_dir
    db.dispose()


@pytest.fixture(autouse=True)
def _settings_read_again() -> Iterator[None]:
    # monkeypatch puts RERATE_ENGINE back after each test, but the cached
    # settings kept "spark": every later test in the run then rated on Spark
    # (tests/billing/test_batch.py compared a batch with Spark-made runs).
    yield
    get_settings.cache_clear()


def _engine(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("RERATE_ENGINE", name)
    get_settings.cache_clear()


def _busiest_customer(db: Database, data_dir: Path) -> tuple[int, runs.ComputedRun]:
    """Of the first demo customers with a contract, the one with the most rows
    in PERIOD, and its embedded run."""
    best: tuple[int, runs.ComputedRun] | None = None
    with db.session() as s:
        customers = s.scalars(select(Node).where(Node.kind == "customer").order_by(Node.id))
        for customer in [c for c in customers if active_contract(s, c.id) is not None][:3]:
            computed = runs.compute_run(s, data_dir, customer, Month.parse(PERIOD))
            if best is None or computed.row_count > best[1].row_count:
                best = (customer.id, computed)
    assert best is not None
    assert best[1].row_count > 0
    return best


def test_a_spark_recalculation_publishes_the_embedded_run(
    demo: tuple[Database, Path], spark_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, data_dir = demo
    _engine(monkeypatch, "embedded")
    customer_id, embedded = _busiest_customer(db, data_dir)

    _engine(monkeypatch, "spark")
    notes: list[str] = []
    with db.session() as s:
        customer = s.get(Node, customer_id)
        assert customer is not None
        computed = runs.compute_run(
            s, data_dir, customer, Month.parse(PERIOD), progress=lambda f, n: notes.append(n)
        )
    assert any(n.startswith("spark rating pass done: stage") for n in notes), notes
    assert computed.fingerprint == embedded.fingerprint
    assert computed.manifest_sha256 == embedded.manifest_sha256
    assert computed.summary == embedded.summary
    assert_same_run(embedded.path, computed.path)

    # Through the queue and the worker, as a user's recalculation runs.
    with db.write_session() as s:
        job = queue.enqueue(
            s,
            type=JobType.RECALCULATION,
            customer_id=customer_id,
            period=PERIOD,
            reason="incorrect_charges",
            actor_id=None,
            actor_label="test",
            request_id="spark-recalculation",
        )
        job_id = job.id
    worker = Worker(db, handlers=handlers(data_dir), lease_s=30, expand=None)
    while worker.run_once():
        pass
    with db.session() as s:
        done = s.get(Job, job_id)
        assert done is not None
        assert done.status == JobStatus.COMPLETE.value, done.error
        current = runs.current_run(s, customer_id, PERIOD)
        assert current is not None
        assert current.fingerprint == embedded.fingerprint
        assert current.manifest_sha256 == embedded.manifest_sha256
        published = Path(current.path)
    assert_same_run(embedded.path, published)
