"""Benchmark of issue 11 (sections 3 and 4): the API under many clients while workers rate.

    .venv/bin/python bench/bench_load.py                       # both databases, full size
    .venv/bin/python bench/bench_load.py --quick               # smoke run, a minute or two
    .venv/bin/python bench/bench_load.py --backend sqlite --clients 50

For each database (PostgreSQL in a database `rerate_bench_load` created and
dropped here, admin URL from RERATE_BENCH_POSTGRES_URL; SQLite in a file) this
loads the demo dataset (`rerate demo --scale`), starts a real server
(`rerate serve --no-worker --workers N` on a free loopback port) and two real
`rerate worker` processes, keeps the workers rating (a feeder submits
recalculations whenever fewer than four jobs wait), and then measures, with
asyncio HTTP/1.1 clients (bench/loadgen.py):

1. open loop: `--clients` clients (200 on PostgreSQL, 50 on SQLite), each
   sending about one request a second for `--duration` seconds (60): the jobs
   list, the invoices list and the eligible customers, plus about 10 % writes
   (a dry-run recalculation, a custom line item), with an API key of the
   platform admin or of a reseller. Latency counts from when a request was due,
   so a stalled server cannot hide behind slowed-down clients.
2. saturation: the same clients in a closed loop (each sends its next request
   as soon as the last was answered) for `--saturation` seconds: the
   throughput the server sustains, and that it answers every request.
3. recovery: the open loop again right after, for `--recovery` seconds: p99
   once the overload stops.

Targets (issue 11): on PostgreSQL no 5xx and p99 < 250 ms in the open loop on
the 2-core machine, every request answered past saturation; on SQLite no 5xx
at 50 clients. A 409 (a recalculation of a customer-month already queued or
running) is an expected answer, not an error. The machine's load average is
reported with every figure: the 2 cores are shared, and the load generator,
PostgreSQL and the two workers run on them too. Prints one JSON object on its
last line (bench/run.py collects it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Call, Mix, closed_loop, new_client, open_loop, summarise

PG_ADMIN_URL = os.environ.get(
    "RERATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_DB = "rerate_bench_load"
BACKENDS = ("postgres", "sqlite")
P99_TARGET_MS = 250.0
QUEUE_TARGET = 4  # jobs kept waiting for the two workers
ADMIN = "admin@example.com"
RESELLER = "reseller@example.com"


def _say(message: str) -> None:
    sys.stderr.write(f"[load] {message}\n")
    sys.stderr.flush()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _pg_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5):
            return None
    except Exception as exc:  # unreachable, whatever the reason: skip PostgreSQL
        return f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}".strip()


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _pg_url() -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + "/" + PG_DB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """The database, the server and the workers of one backend, as processes."""

    def __init__(self, backend: str, root: Path, server_processes: int) -> None:
        self.backend = backend
        self.root = root
        self.data_dir = root / "data"
        self.server_processes = server_processes
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RERATE_ENV": "development",
            "RERATE_DATA_DIR": str(self.data_dir),
            "RERATE_DATABASE_URL": _pg_url() if backend == "postgres" else "",
            "RERATE_IN_PROCESS_WORKER": "false",
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def rerate(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "rerate.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"rerate {' '.join(args)} failed: {proc.stderr[-2000:]}")
        return proc.stdout

    def prepare(self, demo_scale: float) -> dict[str, Any]:
        if self.backend == "postgres":
            _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            _pg_admin(f'CREATE DATABASE "{PG_DB}"')
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        self.rerate("db", "upgrade")
        self.rerate("demo", "--scale", str(demo_scale))
        return {"demo_scale": demo_scale, "load_s": round(time.perf_counter() - started, 1)}

    def api_key(self, email: str) -> str:
        return self.rerate("apikeys", "create", "--user", email).strip().splitlines()[-1]

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "rerate.cli.main", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def start(self, workers: int) -> None:
        self._spawn(
            "server",
            "serve",
            "--no-worker",
            "--port",
            str(self.port),
            "--workers",
            str(self.server_processes),
        )
        for i in range(workers):
            self._spawn(f"worker-{i}", "worker", "--worker-id", f"bench-{i}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.3)
        raise RuntimeError(f"the server did not start: {self.log_tail('server')}")

    def log_tail(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def drop(self) -> None:
        if self.backend == "postgres":
            with suppress(Exception):
                _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running(stack: Stack, workers: int) -> Iterator[Stack]:
    try:
        stack.start(workers)
        yield stack
    finally:
        stack.stop()


def _targets(client: httpx.Client) -> list[tuple[int, str]]:
    """(customer, period) pairs the billing utilities accept, from the API itself."""
    pairs = []
    for customer in client.get("/api/v1/billing-utilities/customers").json()["items"]:
        periods = client.get(f"/api/v1/billing-utilities/customers/{customer['id']}/periods")
        pairs.extend((customer["id"], p) for p in periods.json()["items"])
    return pairs


def _mix(pairs: list[tuple[int, str]]) -> Mix:
    customers = sorted({c for c, _ in pairs})

    def recalc(rng: random.Random) -> Call:
        customer, period = rng.choice(pairs)
        body = {
            "customer_id": customer,
            "periods": [period],
            "reason": "other",
            "explanation": "load test",
            "dry_run": True,
        }
        return Call(
            "POST dry-run recalculation", "POST", "/api/v1/billing-utilities/recalculations", body
        )

    def item(rng: random.Random) -> Call:
        body = {
            "description": "Load test item",
            "amount": f"{rng.randint(1, 9999) / 100:.2f}",
            "one_off_date": "2026-01-15",
        }
        path = f"/api/v1/customers/{rng.choice(customers)}/custom-line-items"
        return Call("POST custom item", "POST", path, body)

    return Mix(
        [
            (35, lambda _r: Call("GET jobs", "GET", "/api/v1/jobs")),
            (30, lambda _r: Call("GET invoices", "GET", "/api/v1/invoices")),
            (
                25,
                lambda _r: Call(
                    "GET eligible customers", "GET", "/api/v1/billing-utilities/customers"
                ),
            ),
            (5, recalc),
            (5, item),
        ]
    )


async def _feed_workers(
    url: str, key: str, pairs: list[tuple[int, str]], stop: asyncio.Event, stats: dict[str, int]
) -> None:
    """Keeps a few recalculations waiting, so both workers rate all the time."""
    rng = random.Random(7)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        while not stop.is_set():
            with suppress(httpx.HTTPError):
                queued = await client.get("/api/v1/jobs", params={"status": "queued", "limit": 1})
                running = await client.get("/api/v1/jobs", params={"status": "running", "limit": 1})
                stats["running_seen_max"] = max(
                    stats.get("running_seen_max", 0), running.json()["total"]
                )
                for _ in range(max(0, QUEUE_TARGET - queued.json()["total"])):
                    customer, period = rng.choice(pairs)
                    body = {
                        "customer_id": customer,
                        "periods": [period],
                        "reason": "other",
                        "explanation": "keeping the workers busy",
                    }
                    r = await client.post("/api/v1/billing-utilities/recalculations", json=body)
                    stats[f"submitted_{r.status_code}"] = (
                        stats.get(f"submitted_{r.status_code}", 0) + 1
                    )
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _measure(
    url: str,
    scopes: list[tuple[str, list[tuple[int, str]]]],
    args: argparse.Namespace,
    clients: int,
) -> dict[str, Any]:
    """`scopes`: (API key, the customer-months it may recalculate) per group of clients."""
    timeout_s = 60.0
    stop = asyncio.Event()
    feeder_stats: dict[str, int] = {}
    admin_key, admin_pairs = scopes[0]
    feeder = asyncio.create_task(_feed_workers(url, admin_key, admin_pairs, stop, feeder_stats))
    # Half the clients are the platform admin, half a reseller (a narrower scope).
    groups = [
        (
            new_client(
                url, {"Authorization": f"Bearer {key}"}, clients=clients, timeout_s=timeout_s
            ),
            _mix(pairs),
        )
        for key, pairs in scopes
    ]
    try:
        await asyncio.sleep(args.warmup)  # the workers pick up their first jobs
        result: dict[str, Any] = {}

        async def phase(kind: str, seconds: float, seed: int) -> dict[str, Any]:
            load_before = _load()
            share = [
                clients // len(groups) + (i < clients % len(groups)) for i in range(len(groups))
            ]
            if kind == "open":
                runs = [
                    open_loop(g, mix, clients=n, interval_s=1.0, duration_s=seconds, seed=seed + i)
                    for i, ((g, mix), n) in enumerate(zip(groups, share, strict=True))
                ]
            else:
                runs = [
                    closed_loop(g, mix, clients=n, duration_s=seconds, seed=seed + i)
                    for i, ((g, mix), n) in enumerate(zip(groups, share, strict=True))
                ]
            phases = await asyncio.gather(*runs)
            merged = phases[0]
            for other in phases[1:]:
                merged.samples.extend(other.samples)
                merged.wall_s = max(merged.wall_s, other.wall_s)
            return {**summarise(merged), "load_average_before": load_before}

        _say(f"open loop: {clients} clients, {args.duration} s")
        result["open_loop"] = await phase("open", args.duration, 1)
        _say(f"saturation: {clients} closed-loop clients, {args.saturation} s")
        result["saturation"] = await phase("closed", args.saturation, 2)
        _say(f"recovery: {clients} clients, {args.recovery} s")
        result["recovery"] = await phase("open", args.recovery, 3)
        result["feeder"] = feeder_stats
        return result
    finally:
        stop.set()
        await feeder
        for g, _mix_of_group in groups:
            await g.aclose()


def _jobs_by_status(url: str, key: str) -> dict[str, int]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        return {
            status: c.get("/api/v1/jobs", params={"status": status, "limit": 1}).json()["total"]
            for status in ("queued", "running", "complete", "failed")
        }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    clients = args.clients or (200 if backend == "postgres" else 50)
    if args.quick:
        clients = args.clients or 8
    root = Path(tempfile.mkdtemp(prefix=f"rerate-bench-load-{backend}-"))
    stack = Stack(backend, root, args.server_processes)
    report: dict[str, Any] = {"clients": clients, "server_processes": args.server_processes}
    try:
        _say(f"{backend}: loading the demo (scale {args.demo_scale})")
        report["dataset"] = stack.prepare(args.demo_scale)
        keys = [stack.api_key(ADMIN), stack.api_key(RESELLER)]
        with running(stack, workers=2):
            scopes = []
            for key in keys:
                with httpx.Client(
                    base_url=stack.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                ) as c:
                    pairs = _targets(c)
                if not pairs:
                    raise RuntimeError("a bench user has no customer-month to recalculate")
                scopes.append((key, pairs))
            jobs_before = _jobs_by_status(stack.url, keys[0])
            report.update(asyncio.run(_measure(stack.url, scopes, args, clients)))
            jobs_after = _jobs_by_status(stack.url, keys[0])
            report["jobs"] = {
                "completed_during_run": jobs_after["complete"] - jobs_before["complete"],
                "failed_during_run": jobs_after["failed"] - jobs_before["failed"],
                "after": jobs_after,
            }
        report["targets"] = _verdict(backend, report)
    except Exception as exc:  # reported in the JSON, not raised: the other backend still runs
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["server_log_tail"] = stack.log_tail("server")
    finally:
        stack.stop()
        if not args.keep:
            stack.drop()
        else:
            report["kept"] = str(root)
    return report


def _verdict(backend: str, report: dict[str, Any]) -> dict[str, Any]:
    open_loop, saturation = report["open_loop"], report["saturation"]
    verdict: dict[str, Any] = {
        "no_5xx": all(
            report[p]["server_errors_5xx"] == 0 for p in ("open_loop", "saturation", "recovery")
        ),
        "every_request_answered": all(
            report[p]["unanswered"] == 0 for p in ("open_loop", "saturation", "recovery")
        ),
    }
    if backend == "postgres":
        verdict["open_loop_p99_under_250_ms"] = open_loop["p99_ms"] < P99_TARGET_MS
        verdict["recovery_p99_under_250_ms"] = report["recovery"]["p99_ms"] < P99_TARGET_MS
    verdict["saturation_throughput_rps"] = saturation["throughput_rps"]
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=BACKENDS, help="one database only")
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("RERATE_BENCH_QUICK") == "1",
        help="smoke run: a tiny demo, 8 clients, a few seconds per phase",
    )
    parser.add_argument("--clients", type=int, help="default 200 (PostgreSQL), 50 (SQLite)")
    parser.add_argument("--duration", type=float, help="open-loop seconds (default 60)")
    parser.add_argument("--saturation", type=float, help="closed-loop seconds (default 20)")
    parser.add_argument("--recovery", type=float, help="seconds after saturation (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (default 5)")
    parser.add_argument("--demo-scale", type=float, help="demo usage volume (default 0.1)")
    parser.add_argument("--server-processes", type=int, default=2, help="rerate serve --workers")
    parser.add_argument("--keep", action="store_true", help="keep databases and data dirs")
    args = parser.parse_args()
    quick = {"duration": 4.0, "saturation": 3.0, "recovery": 2.0, "warmup": 1.0, "demo_scale": 0.01}
    full = {
        "duration": 60.0,
        "saturation": 20.0,
        "recovery": 10.0,
        "warmup": 5.0,
        "demo_scale": 0.1,
    }
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    report: dict[str, Any] = {
        "quick": args.quick,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": _load(),
        "note": "shared cores: the load generator, PostgreSQL and two rating workers run there too",
    }
    backends = [args.backend] if args.backend else list(BACKENDS)
    for backend in backends:
        if backend == "postgres" and (reason := _pg_reason()):
            report[backend] = {"skipped": reason}
            continue
        report[backend] = run_backend(backend, args)
    report["load_average_at_end"] = _load()
    print(json.dumps(report, default=str))  # one line: bench/run.py reads the last stdout line
    failed = any("error" in report[b] for b in backends if isinstance(report.get(b), dict))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
