"""Code that runs in child processes (spawned): keep its imports light."""

from __future__ import annotations

import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from rerate.jobs.queue import claim
from rerate.kit.db import Database


def claim_loop(url: str, worker_id: str, start: Barrier, out: Queue[Any]) -> None:
    """Claim until the queue is empty; report (job id, fencing token) pairs."""
    db = Database(url)
    got: list[tuple[int, int]] = []
    try:
        start.wait(timeout=60)
        while (claimed := claim(db, worker_id=worker_id, lease_s=60)) is not None:
            got.append((claimed.id, claimed.fencing_token))
            # A worker runs its job before claiming again; a short pause keeps
            # one fast process from draining the queue before the others start.
            time.sleep(0.005)
    finally:
        out.put((worker_id, got))
        db.dispose()
