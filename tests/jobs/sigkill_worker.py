"""A worker process for the SIGKILL test: `python sigkill_worker.py <database url> <lease s>`.

Its handler reports progress once, then works "forever", heartbeating only
through the background thread, until the test kills the process.
"""

from __future__ import annotations

import sys
import threading
import time
from decimal import Decimal
from typing import Any

from rerate.jobs.worker import JobContext, Worker
from rerate.kit.db import Database
from rerate.models.enums import JobType


def slow_handler(ctx: JobContext) -> dict[str, Any]:
    ctx.progress(Decimal("0.1"), "started")
    while True:
        time.sleep(0.1)
        ctx.check()


def main() -> None:
    url, lease_s = sys.argv[1], int(sys.argv[2])
    worker = Worker(
        Database(url),
        handlers={JobType.RECALCULATION: slow_handler},
        worker_id="sigkill-victim",
        lease_s=lease_s,
        poll_s=0.05,
        expand=None,
    )
    worker.run_forever(threading.Event())


if __name__ == "__main__":
    main()
