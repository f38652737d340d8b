"""Admission to the database: at most N requests hold a session at once.

Why: FastAPI runs a sync request in several hops on its thread pool (each
dependency, the endpoint), and a request that has a pooled connection may wait
between hops for a thread while the threads wait for connections. Under load
every thread ended up waiting for a connection held by a request waiting for a
thread, until the pool timeout (30 s) turned them all into 500s (100 clients:
31.7 s median). Requests now wait here, on the event loop and in order,
without a thread or a connection, and only as many as the pool can serve go
on; the pool's own timeout is a safety net that answers 503, not a queue.

Reads and writes queue separately: on SQLite a write may wait seconds for the
one write lock (a worker publishing a run), and must not keep reads from
starting meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.lowlevel import RunVar


class SessionGate:
    """Two counting semaphores, one per kind of request, per event loop."""

    def __init__(self, *, reads: int, writes: int) -> None:
        if reads < 1 or writes < 1:
            raise ValueError("a gate needs at least one slot for each kind of request")
        self.reads = reads
        self.writes = writes
        # A semaphore belongs to one event loop; tests run an app under
        # several loops one after another (each TestClient has its own).
        self._semaphores: RunVar[dict[bool, anyio.Semaphore]] = RunVar(f"session-gate-{id(self)}")

    def _semaphore(self, write: bool) -> anyio.Semaphore:
        try:
            semaphores = self._semaphores.get()
        except LookupError:
            semaphores = {False: anyio.Semaphore(self.reads), True: anyio.Semaphore(self.writes)}
            self._semaphores.set(semaphores)
        return semaphores[write]

    @asynccontextmanager
    async def slot(self, *, write: bool) -> AsyncIterator[None]:
        async with self._semaphore(write):
            yield
