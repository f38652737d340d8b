"""Uploads stream to `<data_dir>/tmp/uploads` in bounded memory, stop at the
size limit, and leave nothing behind, even when the server is killed.

The server tests run `rerate serve` as a real process (its memory is what is
measured) and talk to it over a socket, sending the multipart body in 1 MiB
chunks the way a client uploading a large file does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rerate.kit import migrate
from rerate.kit.db import Database
from rerate.usage import uploads
from tests.world import build_world

MIB = 1 << 20
BOUNDARY = "rerate-test-boundary"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# --------------------------------------------------------------------------- names, sweeping


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("usage.csv", "usage.csv"),
        ("..", "upload"),
        (".", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("../../etc/passwd", "passwd"),
        ("C:\\exports\\aug.csv", "aug.csv"),
        ("a\x00b\nc.csv", "abc.csv"),
        ("x" * 300 + ".csv", "x" * 196 + ".csv"),
        ("y" * 300, "y" * 200),
    ],
)
def test_a_client_file_name_becomes_a_safe_label(name: str | None, label: str) -> None:
    assert uploads.safe_label(name) == label


def _leftover(data_dir: Path, name: str, *, age_s: float = 0) -> Path:
    path = uploads.upload_dir(data_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"partial")
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def test_sweep_removes_old_files_always_and_dead_processes_files_at_startup(
    tmp_path: Path,
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    host = uploads.new_upload_path(tmp_path).name.split(".")[0]
    of_dead = _leftover(tmp_path, f"{host}.{dead.stdout.strip()}.a")
    of_live = _leftover(tmp_path, f"{host}.{os.getppid()}.b")
    of_us = _leftover(tmp_path, f"{host}.{os.getpid()}.c")
    elsewhere = _leftover(tmp_path, "other-host.1.d")
    stale = _leftover(tmp_path, "other-host.2.e", age_s=uploads.STALE_AFTER_S + 60)

    assert uploads.sweep(tmp_path) == 1  # at each upload: only by age
    assert not stale.exists()
    assert uploads.sweep(tmp_path, at_startup=True) == 1  # at startup: this host's dead pids
    assert not of_dead.exists()
    assert of_live.exists()
    assert of_us.exists()
    assert elsewhere.exists()  # another host's process may be alive: only age removes it


# --------------------------------------------------------------------------- a real server


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str]
    key: str
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {**self.env, "RERATE_PORT": str(self.port)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rerate.cli.main", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(ln for ln in status.splitlines() if ln.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite:///{tmp_path / 'rerate.db'}"
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as s:
        world = build_world(s)
    db.dispose()
    env = {
        **os.environ,
        "RERATE_DATA_DIR": str(data_dir),
        "RERATE_DATABASE_URL": url,
        "RERATE_IN_PROCESS_WORKER": "false",
        "RERATE_MAX_UPLOAD_BYTES": str(64 * MIB),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    srv = Server(data_dir, env, world.keys["platform_admin"])
    srv.start()
    yield srv
    srv.stop(signal.SIGKILL)


def _head(srv: Server, *, length: int | None, file_name: str = "big.csv") -> bytes:
    """Request line and headers, then the multipart preamble up to the file's bytes."""
    preamble = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="format"\r\n\r\nfocus\r\n'
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    framing = (
        f"Content-Length: {len(preamble) + length + len(_tail())}\r\n"
        if length is not None
        else "Transfer-Encoding: chunked\r\n"
    )
    head = (
        "POST /api/v1/usage/imports HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{srv.port}\r\n"
        f"Authorization: Bearer {srv.key}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"{framing}Connection: close\r\n\r\n"
    ).encode()
    return head + (_chunk(preamble) if length is None else preamble)


def _tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


# A FOCUS file whose header lacks the required columns: the importer refuses
# it at line 1 without reading on, so what is measured is the upload itself.
BODY_HEAD = b"NotAFocusColumn,Other\n"


@dataclass
class Sent:
    status: int
    body: bytes
    sent: int


def _upload(
    srv: Server,
    size: int,
    *,
    chunked: bool = True,
    pause_s: float = 0.0,
    stop: threading.Event | None = None,
) -> Sent:
    """Send a `size`-byte file in 1 MiB chunks; read the answer as soon as one
    comes (a server that refuses the body early answers before it is all sent)."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=120)
    sent = 0
    try:
        sock.sendall(_head(srv, length=None if chunked else size))
        block = BODY_HEAD + b"x" * (MIB - len(BODY_HEAD) - 1) + b"\n"
        while sent < size and not (stop is not None and stop.is_set()):
            data = block[: min(MIB, size - sent)]
            try:
                sock.sendall(_chunk(data) if chunked else data)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed: read its answer
            sent += len(data)
            block = b"x" * (MIB - 1) + b"\n"
            if pause_s:
                time.sleep(pause_s)
            sock.settimeout(0)
            try:
                early = sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                early = b""
            sock.settimeout(120)
            if early:
                break
        else:
            if stop is None or not stop.is_set():
                sock.sendall(_chunk(_tail()) + b"0\r\n\r\n" if chunked else _tail())
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            answer += data
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return Sent(status, body, sent)


def _files(srv: Server) -> list[Path]:
    directory = uploads.upload_dir(srv.data_dir)
    return sorted(directory.iterdir()) if directory.exists() else []


def test_a_200_mb_upload_streams_to_disk_in_bounded_memory(server: Server) -> None:
    server.stop()
    server.env["RERATE_MAX_UPLOAD_BYTES"] = str(1 << 30)
    server.start()
    httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {server.key}"})
    baseline = server.rss()
    peak = baseline
    seen_on_disk = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak, seen_on_disk
        while not done.is_set():
            peak = max(peak, server.rss())
            for path in _files(server):
                with contextlib.suppress(FileNotFoundError):
                    seen_on_disk = max(seen_on_disk, path.stat().st_size)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = _upload(server, 200 * MIB)
    finally:
        done.set()
        watcher.join()
    assert result.status == 422, result.body[:300]  # the importer refused the header
    assert b"NotAFocusColumn" in result.body or b"missing column" in result.body
    # Streamed to the uploads directory as it came, never held whole in memory.
    assert seen_on_disk >= 50 * MIB, seen_on_disk
    assert peak - baseline < 64 * MIB, (baseline, peak)
    assert _files(server) == []  # removed when the request ended


def test_an_upload_over_the_limit_is_refused_while_it_streams(server: Server) -> None:
    baseline = server.rss()
    result = _upload(server, 200 * MIB)  # chunked: no Content-Length to check up front
    assert result.status == 413, result.body[:300]
    assert b'"error":"PayloadTooLarge"' in result.body
    assert result.sent < 100 * MIB, result.sent  # stopped near the 64 MiB limit, not at 200
    assert server.rss() - baseline < 64 * MIB
    deadline = time.monotonic() + 10
    while _files(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _files(server) == []


def test_an_upload_declared_over_the_limit_is_refused_before_it_is_read(server: Server) -> None:
    result = _upload(server, 100 * MIB, chunked=False)
    assert result.status == 413, result.body[:300]
    assert result.sent < 16 * MIB, result.sent
    assert _files(server) == []


def test_a_killed_server_leaves_no_upload_file_after_its_restart(server: Server) -> None:
    stop = threading.Event()

    def send() -> None:
        with contextlib.suppress(OSError):  # the server dies mid-upload, on purpose
            _upload(server, 60 * MIB, pause_s=0.05, stop=stop)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > MIB for p in _files(server)):
            assert time.monotonic() < deadline, "no upload file appeared in <data_dir>/tmp/uploads"
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
        left = _files(server)
        assert left, "the killed server's partial upload should still be on disk here"
    finally:
        stop.set()
        sender.join(timeout=30)
    server.start()  # the new process sweeps what the dead one left
    assert _files(server) == []


def _focus_file(path: Path, size: int) -> Path:
    """A valid FOCUS export of about `size` bytes (one resource per row)."""
    header, *rows = (EXAMPLES / "focus" / "sample.csv").read_text().splitlines()
    with path.open("w") as out:
        out.write(header + "\n")
        written, i = len(header) + 1, 0
        while written < size:
            for row in rows:
                fields = row.split(",")
                fields[13] = f"i-{i:012d}"  # ResourceId: every row a new record
                line = ",".join(fields) + "\n"
                out.write(line)
                written += len(line)
                i += 1
    return path


def test_the_memory_an_import_took_is_given_back(server: Server, tmp_path: Path) -> None:
    source = _focus_file(tmp_path / "focus.csv", 40 * MIB)
    headers = {"Authorization": f"Bearer {server.key}"}
    customer = next(
        n["id"]
        for n in httpx.get(f"{server.url}/api/v1/nodes?kind=customer", headers=headers).json()[
            "items"
        ]
    )
    baseline = server.rss()
    peak = baseline
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with source.open("rb") as fh:
            r = httpx.post(
                f"{server.url}/api/v1/usage/imports",
                files={"file": ("focus.csv", fh, "text/csv")},
                data={"format": "focus", "create_accounts": "true", "owner_customer_id": customer},
                headers=headers,
                timeout=300,
            )
    finally:
        done.set()
        watcher.join()
    assert r.status_code == 201, r.text
    assert r.json()["new"] > 100_000
    after = server.rss()
    # The server used to keep most of it (40 MB file: +330 MB at the peak, +250 MB after).
    assert after - baseline < (peak - baseline) / 2, (baseline, peak, after)


def test_an_upload_the_client_abandons_is_removed(server: Server) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        sock.sendall(_head(server, length=None))
        for _ in range(8):
            sock.sendall(_chunk(BODY_HEAD + b"x" * (MIB - len(BODY_HEAD))))
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > MIB for p in _files(server)):
            assert time.monotonic() < deadline, "no upload file appeared in <data_dir>/tmp/uploads"
            time.sleep(0.05)
    finally:
        sock.close()  # gone mid-body
    deadline = time.monotonic() + 30
    while _files(server):
        assert time.monotonic() < deadline, _files(server)
        time.sleep(0.1)
    ok = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {server.key}"})
    assert ok.status_code == 200  # and the server is fine
