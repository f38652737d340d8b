"""A worker process for the connection-loss tests: `python disconnect_worker.py <url> <lease s>`.

Its handler holds a database session open on its first attempt, querying
until the test cuts every connection (what a PostgreSQL restart does to a
worker); on the second attempt it completes at once.
"""

from __future__ import annotations

import sys
import threading
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from rerate.jobs.worker import JobContext, Worker
from rerate.kit.db import Database
from rerate.models.enums import JobType
from rerate.models.jobs import Job


def handler(ctx: JobContext) -> dict[str, Any]:
    with ctx.db.session() as s:
        attempt = s.scalar(select(Job.attempts).where(Job.id == ctx.claimed.id))
        if attempt == 1:
            ctx.progress(Decimal("0.1"), "holding a connection")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                s.execute(text("SELECT pg_sleep(0.05)"))
                ctx.check()
            raise AssertionError("the connection was never terminated")
    return {"attempt": attempt}


def main() -> None:
    worker = Worker(
        Database(sys.argv[1]),
        handlers={JobType.RECALCULATION: handler},
        worker_id="disconnect-victim",
        lease_s=int(sys.argv[2]),
        poll_s=0.05,
        expand=None,
    )
    worker.run_forever(threading.Event())


if __name__ == "__main__":
    main()
