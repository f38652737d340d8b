"""Process settings for batch work (kit/runtime.py), checked in a child process
so the test process keeps the library defaults."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import numpy as np, pyarrow as pa
from rerate.kit.runtime import tune_for_batch_work
tune_for_batch_work()
print(pa.default_memory_pool().backend_name, np._core.multiarray._get_madvise_hugepage())
"""


def test_batch_settings_use_the_system_allocator_and_no_huge_pages() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["system", "False"]
