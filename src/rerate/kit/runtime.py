"""Process-wide settings for processes that rate large runs.

Called once at start by the CLI (so `rerate worker`, `rerate serve` with its
in-process worker, `rerate rate` and `rerate demo`) and by the benchmarks;
library users and the tests keep Arrow's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import numpy as np
import pyarrow as pa


def tune_for_batch_work() -> None:
    """Give Arrow the system allocator instead of its bundled mimalloc, and
    stop numpy from asking for huge pages.

    Why: mimalloc hands freed pages back to the kernel almost at once, and the
    next chunk's buffers fault them in again, each page zeroed by the kernel.
    Rating 20 M cloud rows spent 12 s of 25 s in the kernel with mimalloc and
    6.7 s with the system allocator, which keeps and reuses freed memory
    (`bench/bench_rating.py`, docs/rating.md "Performance").
    """
    pa.set_memory_pool(pa.system_memory_pool())
    # numpy asks the kernel for transparent huge pages on every array of 4 MB
    # and more; the engine's chunk-sized temporaries come and go by the
    # hundred, and zeroing fresh 2 MB pages for each cost more than it saved
    # (10 M CDRs: 9.1 s instead of 10.3 s of rating, kernel time 2.4-3.4 s
    # instead of 4.3-4.6 s). Same switch as NUMPY_MADVISE_HUGEPAGE=0, at run time.
    multiarray = getattr(getattr(np, "_core", None), "multiarray", None)
    toggle = getattr(multiarray, "_set_madvise_hugepage", None)
    if toggle is not None:
        toggle(False)
    # The engine's compiled loops load in the background while the process
    # reads its input (kernels.warm_up; imported here so that kit/ does not
    # load the rating package when it is imported).
    from rerate.rating.kernels import warm_up

    threading.Thread(target=warm_up, name="kernel-warm-up", daemon=True).start()


def _malloc_trim() -> None:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name)
    trim = getattr(libc, "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)


def release_memory() -> None:
    """Give memory freed by a large one-off task (an import) back to the system.

    The system allocator (`tune_for_batch_work`) keeps freed memory for reuse,
    which rating wants; a server that has just imported a 200 MB file would
    otherwise keep the ~1 GB it took (measured: 1.8 GB peak, 1.03 GB after).
    """
    pa.default_memory_pool().release_unused()
    _malloc_trim()
