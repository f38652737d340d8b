"""A bounded HTTP load generator (asyncio streams) for bench_load.py and its smoke test.

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

The client is a minimal HTTP/1.1 client over asyncio streams (keep-alive,
Content-Length and chunked bodies), not httpx: the generator shares the two
cores with the server it measures, and httpx spent about 2.9 ms of CPU per
request on a 54 kB jobs page (a third of what the server spent answering it),
which showed up as server latency. This one spends a tenth of that.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


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


class HTTPError(Exception):
    """The server's answer could not be read (closed early, malformed)."""


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_used: float = 0.0

    def close(self) -> None:
        self.writer.close()


class Client:
    """Keep-alive HTTP/1.1 connections to one server, shared by the simulated
    clients: a request takes an idle connection or opens one."""

    # An idle connection is dropped after 2 s, before uvicorn drops it (5 s):
    # a request sent on a connection the server is closing at that moment
    # fails without an answer, a client-side race and not the server's doing.
    KEEPALIVE_S = 2.0

    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"only plain http://host:port is supported, not {base_url}")
        self.host, self.port = url.hostname, url.port or 80
        self.timeout_s = timeout_s
        fixed = {"Host": f"{self.host}:{self.port}", "Accept": "*/*", **headers}
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: list[_Connection] = []

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def _connection(self) -> _Connection:
        now = time.perf_counter()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.last_used < self.KEEPALIVE_S:
                return conn
            conn.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    async def request(self, method: str, path: str, json: Any = None) -> tuple[int, bytes]:
        """(status, body) of one request; raises TimeoutError, OSError or HTTPError."""
        body = b"" if json is None else jsonlib.dumps(json).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n"
        if json is not None:
            head += "Content-Type: application/json\r\n"
        conn = await self._connection()
        try:
            async with asyncio.timeout(self.timeout_s):
                conn.writer.write(head.encode() + b"\r\n" + body)
                status, data, keep = await _read_response(conn.reader)
        except BaseException:
            conn.close()
            raise
        if keep:
            conn.last_used = time.perf_counter()
            self._idle.append(conn)
        else:
            conn.close()
        return status, data


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise HTTPError("the server closed the connection before answering") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HTTPError(f"malformed status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close"
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        return int(parts[1]), b"".join(chunks), keep
    length = int(headers.get("content-length", "0"))
    return int(parts[1]), await reader.readexactly(length), keep


def new_client(base_url: str, headers: dict[str, str], *, clients: int, timeout_s: float) -> Any:
    """A client for `clients` simulated clients (each holds at most one
    connection at a time, so at most `clients` are open)."""
    del clients  # connections open on demand, one per request in flight
    return Client(base_url, headers, timeout_s)


async def _send(client: Client, call: Call, due: float) -> Sample:
    try:
        status, _body = await client.request(call.method, call.path, call.json)
        return Sample(call.name, status, time.perf_counter() - due)
    except TimeoutError:
        return Sample(call.name, None, time.perf_counter() - due, "ReadTimeout")
    except (OSError, HTTPError, asyncio.IncompleteReadError, ValueError) as exc:
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
