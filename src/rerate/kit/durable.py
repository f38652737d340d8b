"""Making written files durable before anything refers to them.

A run or an import is published by a database commit that names its files;
after a power loss those files must be there, whole. So every file is synced
to disk before the directory entry that exposes it, and that directory before
the commit.
"""

from __future__ import annotations

import os
from pathlib import Path


def sync_file(path: Path, *, drop_cache: bool = False) -> None:
    """fdatasync `path`; with `drop_cache`, then drop its (now clean) pages from
    the page cache: a run's parts are not read back soon, and page-cache
    growth by every part written cost more than the sync on the development VM
    (fresh pages fault in on the host: 20 M cloud rows 0.6 s faster)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        if drop_cache:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def sync_dir(folder: Path) -> None:
    """fsync a directory: its entries (new, renamed files) survive a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
