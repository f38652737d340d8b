"""A bounded HTTP load generator (asyncio + httpx) for bench_load.py and its smoke test.

Two shapes of load:

- open loop: `clients` independent clients, each sending one request about
  every `interval_s` (with jitter), whatever the server does. A request's
  latency is measured from the moment it was *due*, not from when it was sent,
  so a client that falls behind a slow server counts the wait (no coordinated
  omission: a stalled server cannot hide its stall by slowing the clients down).
- closed loop: `clients` clients, each sending its next request as soon as the
  previous answer arrived; the completed requests per second is the server's
  saturation throughput.

Every request is bounded by `timeout_s`; a timeout or a connection error is an
error sample, never a hang. Nothing here knows rerate: a `Mix` turns a random
draw into a request.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class Call:
    """One request: a label for the report, the method, the path and a JSON body."""

    name: str
    method: str
    path: str
    json: Any = None


@dataclass(frozen=True, slots=True)
class Mix:
    """Weighted request makers; `draw` picks one and builds its request."""

    makers: Sequence[tuple[float, Callable[[random.Random], Call]]]

    def draw(self, rng: random.Random) -> Call:
        weights = [w for w, _ in self.makers]
        (_, make) = rng.choices(self.makers, weights=weights)[0]
        return make(rng)


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    status: int | None  # None: no answer (timeout, connection error)
    latency_s: float
    error: str | None = None


@dataclass(slots=True)
class Phase:
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0


def new_client(base_url: str, headers: dict[str, str], *, clients: int, timeout_s: float) -> Any:
    # Up to one connection per simulated client, kept alive as real clients
    # would; an idle one is dropped after 2 s, before uvicorn drops it (5 s):
    # a request sent on a connection the server is closing at that moment
    # fails without an answer, a client-side race and not the server's doing.
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
    )
    return httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=httpx.Timeout(timeout_s)
    )


async def _send(client: Any, call: Call, due: float) -> Sample:
    try:
        response = await client.request(call.method, call.path, json=call.json)
        await response.aread()
        return Sample(call.name, response.status_code, time.perf_counter() - due)
    except httpx.HTTPError as exc:
        return Sample(call.name, None, time.perf_counter() - due, type(exc).__name__)


async def open_loop(
    client: Any,
    mix: Mix,
    *,
    clients: int,
    interval_s: float,
    duration_s: float,
    seed: int = 0,
) -> Phase:
    """Each client sends one request about every `interval_s` for `duration_s`."""
    phase = Phase()
    start = time.perf_counter()
    end = start + duration_s

    async def one(index: int) -> None:
        rng = random.Random(seed * 100_003 + index)
        due = start + rng.uniform(0, interval_s)  # spread the first requests
        while due < end:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            phase.samples.append(await _send(client, mix.draw(rng), due))
            due += interval_s * rng.uniform(0.8, 1.2)

    await asyncio.gather(*(one(i) for i in range(clients)))
    phase.wall_s = time.perf_counter() - start
    return phase


async def closed_loop(
    client: Any, mix: Mix, *, clients: int, duration_s: float, seed: int = 0
) -> Phase:
    """Each client sends its next request as soon as the last one was answered."""
    phase = Phase()
    start = time.perf_counter()
    end = start + duration_s

    async def one(index: int) -> None:
        rng = random.Random(seed * 100_003 + index)
        while time.perf_counter() < end:
            phase.samples.append(await _send(client, mix.draw(rng), time.perf_counter()))

    await asyncio.gather(*(one(i) for i in range(clients)))
    phase.wall_s = time.perf_counter() - start
    return phase


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def _latency_ms(samples: Sequence[Sample]) -> dict[str, float]:
    values = sorted(s.latency_s for s in samples)
    return {f"p{q}_ms": round(percentile(values, q) * 1000, 1) for q in (50, 95, 99)} | {
        "max_ms": round((values[-1] if values else 0.0) * 1000, 1)
    }


def summarise(phase: Phase) -> dict[str, Any]:
    """Latency percentiles, status counts and errors, overall and per request name."""
    samples = phase.samples
    statuses = Counter(str(s.status) for s in samples if s.status is not None)
    errors = Counter(s.error for s in samples if s.error is not None)
    by_name: dict[str, Any] = {}
    for name in sorted({s.name for s in samples}):
        mine = [s for s in samples if s.name == name]
        by_name[name] = {
            "requests": len(mine),
            **_latency_ms(mine),
            "statuses": dict(sorted(Counter(str(s.status) for s in mine).items())),
        }
    return {
        "requests": len(samples),
        "wall_s": round(phase.wall_s, 2),
        "throughput_rps": round(len(samples) / phase.wall_s, 1) if phase.wall_s else 0.0,
        **_latency_ms(samples),
        "statuses": dict(sorted(statuses.items())),
        "server_errors_5xx": sum(1 for s in samples if s.status is not None and s.status >= 500),
        "errors": dict(sorted(errors.items())),
        "unanswered": sum(errors.values()),
        "by_request": by_name,
    }
