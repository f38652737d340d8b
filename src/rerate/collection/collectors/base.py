"""What the collectors share: the context they run in, the batches they
yield, HTTP with bounded retries, and the SKU map.

A collector never writes to the database: it yields `Batch`es (canonical
rows, parsed by an importer or assembled here) and the service imports each
one through the ordinary usage import (`usage.service.import_parsed`), so
record ids, corrections and tenant checks are the same as for a file.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rerate.usage.importers.base import ParseResult, content_hashes, duck


class CollectionError(Exception):
    """The platform refused or failed; the message is for the person reading the job log."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows to import. `day`: the UTC day this batch completes (per-day
    collectors); `file`: the export file it came from (`path` relative to the
    source folder, `sha256`), remembered so the file is not read again."""

    parsed: ParseResult
    source: str
    sha256: str
    day: date | None = None
    file: tuple[str, str] | None = None
    note: str = ""


@dataclass(slots=True)
class CollectContext:
    source_id: int
    region_code: str
    platform: str
    settings: Mapping[str, Any]
    secret: Callable[[], str]  # reveals the secret when called (never logged)
    work_dir: Path  # <data_dir>/collection/<source id>: raw pages, kept
    progress: Callable[[float, str], None] = lambda _f, _n: None
    known_files: set[str] = field(default_factory=set)  # sha256 of files already imported
    sleep: Callable[[float], None] = time.sleep
    has_secret: bool = False


def days(start: date, end: date) -> Iterator[date]:
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


# ------------------------------------------------------------------------ HTTP


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: Message

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


RETRY_STATUSES = frozenset({429, 502, 503, 504})


def http(
    ctx: CollectContext,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    describe: Callable[[Response], str] | None = None,
) -> Response:
    """One request with bounded retries on rate limits and overload.

    429 and 502-504 (and a refused or reset connection) are retried up to
    `max_retries` times (setting, default 5), waiting `Retry-After` when the
    server sends one (capped at `max_backoff_s`, default 30) or an exponential
    backoff from `backoff_s` (default 0.5 s) with jitter. Any other 4xx/5xx is
    a `CollectionError` carrying the platform's own message (`describe`).
    """
    retries = int(ctx.settings.get("max_retries", 5))
    base = float(ctx.settings.get("backoff_s", 0.5))
    cap = float(ctx.settings.get("max_backoff_s", 30))
    timeout = float(ctx.settings.get("timeout_s", 60))
    attempt = 0
    while True:
        request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                response = Response(answer.status, answer.read(), answer.headers)
        except urllib.error.HTTPError as exc:
            response = Response(exc.code, exc.read(), exc.headers)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            if attempt >= retries:
                raise CollectionError(
                    f"{_host(url)}: {_reason(exc)} ({attempt + 1} attempts)"
                ) from None
            attempt += 1
            ctx.sleep(_backoff(base, cap, attempt))
            continue
        if response.status < 400:
            return response
        message = describe(response) if describe is not None else ""
        message = message or response.body[:300].decode(errors="replace")
        if response.status in RETRY_STATUSES and attempt < retries:
            attempt += 1
            wait = _retry_after(response.headers, cap)
            ctx.progress(-1, f"HTTP {response.status} from {_host(url)}, retry {attempt}/{retries}")
            ctx.sleep(wait if wait is not None else _backoff(base, cap, attempt))
            continue
        tries = f" after {attempt + 1} attempts" if attempt else ""
        raise CollectionError(f"HTTP {response.status} from {_host(url)}{tries}: {message}")


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", exc)
    return str(reason)


def _host(url: str) -> str:
    return urllib.request.urlparse(url).netloc  # type: ignore[attr-defined,no-any-return]


def _backoff(base: float, cap: float, attempt: int) -> float:
    return float(min(cap, base * 2 ** (attempt - 1)) * (0.5 + random.random() / 2))


def _retry_after(headers: Message, cap: float) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        return None


# ------------------------------------------------------------------------ SKU map


def remap_skus(parsed: ParseResult, mapping: Mapping[str, str]) -> ParseResult:
    """Replace source SKUs by catalog SKUs (`sku_map` setting: source SKU ->
    price-entry SKU), recomputing each changed row's content hash so that a
    changed mapping corrects the stored rows rather than being ignored."""
    if not mapping or parsed.table.num_rows == 0:
        return parsed
    table = parsed.table
    sku = table.column("sku").combine_chunks()
    keys = pa.array(list(mapping), pa.string())
    where = pc.index_in(sku, value_set=keys)
    mapped = pc.coalesce(pa.array(list(mapping.values()), pa.string()).take(where), sku)
    table = table.set_column(table.schema.get_field_index("sku"), table.schema.field("sku"), mapped)
    con = duck()
    try:
        hashes = content_hashes(con, table)
    finally:
        con.close()
    index = table.schema.get_field_index("content_hash")
    table = table.set_column(index, table.schema.field(index), hashes)
    return replace(parsed, table=table)
