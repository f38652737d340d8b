"""Uploaded files streamed to disk: bounded memory, a safe name, no leftovers.

A multipart upload is parsed as it arrives (python-multipart's streaming
parser) and the file part is written straight to
`<data_dir>/tmp/uploads/<host>.<pid>.<random>`: the server holds one chunk of
it at a time, whatever the file's size, and never puts it in the system temp
directory (often a RAM-backed tmpfs). The size limit is enforced on the raw
body by `rerate.api.limits.BodyLimit` while it streams.

The caller removes the file in `finally`. A process killed mid-upload or
mid-import cannot, so `sweep` removes what dead processes of this host left
(at startup) and anything older than a day (at each upload).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from rerate.kit.errors import Invalid

log = logging.getLogger(__name__)

UPLOADS = Path("tmp") / "uploads"
STALE_AFTER_S = 24 * 3600
MAX_LABEL = 200  # usage_imports.file_name holds 400; messages stay readable
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def upload_dir(data_dir: Path) -> Path:
    return Path(data_dir) / UPLOADS


def safe_label(name: str | None) -> str:
    """The client's file name reduced to something safe to show and store:
    its last path component (either slash), printable characters only, at
    most MAX_LABEL characters (keeping the extension); `upload` when nothing
    is left (``..``, ``.``, empty). It is never used as a path."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base in ("", ".", ".."):
        return "upload"
    if len(base) > MAX_LABEL:
        stem, dot, ext = base.rpartition(".")
        ext = ext[:16] if dot and stem else ""
        base = base[: MAX_LABEL - len(ext) - 1] + "." + ext if ext else base[:MAX_LABEL]
    return base


def new_upload_path(data_dir: Path) -> Path:
    """A fresh file name in the uploads directory, naming this host and process."""
    directory = upload_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{_HOST}.{os.getpid()}.{uuid.uuid4().hex}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def sweep(data_dir: Path, *, at_startup: bool = False, now: float | None = None) -> int:
    """Remove upload files left behind; return how many.

    Always: files older than STALE_AFTER_S (no upload or import lasts that
    long; their process died, maybe on another host sharing the directory).
    At startup also: files of this host whose process is gone (a kill or a
    crash mid-upload), which frees their space at once.
    """
    directory = upload_dir(data_dir)
    if not directory.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for path in directory.iterdir():
        host, _, rest = path.name.partition(".")
        pid_text = rest.partition(".")[0]
        try:
            stale = now - path.stat().st_mtime > STALE_AFTER_S
            dead = (
                at_startup
                and host == _HOST
                and pid_text.isdigit()
                and int(pid_text) != os.getpid()  # another app of this process may be busy
                and not _alive(int(pid_text))
            )
            if stale or dead:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # its owner removed it meanwhile
    if removed:
        log.info("removed %d upload file(s) left in %s", removed, directory)
    return removed


@dataclass(slots=True)
class Received:
    """A parsed multipart body: the form fields and the one file, on disk."""

    fields: dict[str, str] = field(default_factory=dict)
    file_field: str | None = None
    filename: str = "upload"
    size: int = 0


@dataclass(slots=True)
class _Part:
    name: str = ""
    filename: str | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """python-multipart callbacks: fields in memory (small), the file to `out`."""

    def __init__(self, out: BinaryIO, file_field: str) -> None:
        self.out = out
        self.file_field = file_field
        self.received = Received()
        self.part = _Part()
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.pending: list[bytes] = []
        self.ended = False

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[bytes(self.header_name).lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition"))
        if b"name" not in options:
            raise Invalid(
                'a multipart part without a name (Content-Disposition: form-data; name="...")'
            )
        self.part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if self.part.name != self.file_field or self.received.file_field is not None:
                raise Invalid(f"send exactly one file, in the field {self.file_field!r}")
            self.part.filename = options[b"filename"].decode("utf-8", "replace")
            self.received.file_field = self.part.name
            self.received.filename = safe_label(self.part.filename)
        elif len(self.received.fields) >= MAX_FIELDS:
            raise Invalid(f"at most {MAX_FIELDS} form fields")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.filename is not None:
            self.pending.append(data[start:end])
            self.received.size += end - start
            return
        if len(self.part.data) + end - start > MAX_FIELD_BYTES:
            raise Invalid(
                f"form field {self.part.name[:40]!r} is longer than {MAX_FIELD_BYTES} bytes"
            )
        self.part.data += data[start:end]

    def on_part_end(self) -> None:
        if self.part.filename is None:
            self.received.fields[self.part.name] = self.part.data.decode("utf-8", "replace")

    def on_end(self) -> None:
        self.ended = True

    def flush(self) -> None:
        if self.pending:
            self.out.write(b"".join(self.pending))
            self.pending.clear()


async def receive(
    content_type: str, body: AsyncIterator[bytes], out: BinaryIO, *, file_field: str = "file"
) -> Received:
    """Parse a multipart/form-data `body`, writing the file part to `out` as it comes."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Invalid("send the file as multipart/form-data (with a boundary)")
    collector = _Collector(out, file_field)
    callbacks = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
            "on_end",
        )
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        async for chunk in body:
            parser.write(chunk)
            if collector.pending:
                # Off the event loop, as Starlette does with its spooled files.
                await anyio.to_thread.run_sync(collector.flush)
        parser.finalize()
    except FormParserError as exc:
        raise Invalid(f"the multipart body could not be read: {exc}") from None
    except ClientDisconnect:
        # The client went away: nobody reads the answer, but it is not a server error.
        raise HTTPException(400, "the upload ended before its body did") from None
    with contextlib.suppress(OSError):
        out.flush()
    if not collector.ended:
        raise Invalid("the multipart body ended before its closing boundary")
    if collector.received.file_field is None:
        raise Invalid(f"no file: send it in the multipart field {file_field!r}")
    return collector.received
