"""Process-wide settings for processes that rate large runs.

Called once at start by the CLI (so `rerate worker`, `rerate serve` with its
in-process worker, `rerate rate` and `rerate demo`) and by the benchmarks;
library users and the tests keep Arrow's defaults.
"""

from __future__ import annotations

import pyarrow as pa


def tune_for_batch_work() -> None:
    """Give Arrow the system allocator instead of its bundled mimalloc.

    Why: mimalloc hands freed pages back to the kernel almost at once, and the
    next chunk's buffers fault them in again, each page zeroed by the kernel.
    Rating 20 M cloud rows spent 12 s of 25 s in the kernel with mimalloc and
    6.7 s with the system allocator, which keeps and reuses freed memory
    (`bench/bench_rating.py`, docs/rating.md "Performance").
    """
    pa.set_memory_pool(pa.system_memory_pool())
