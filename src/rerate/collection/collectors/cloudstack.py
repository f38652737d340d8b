"""CloudStack: `listUsageRecords` over the HTTP API, one UTC day at a time.

Protocol (Apache CloudStack API, "signed requests"):

- GET `<endpoint>?command=listUsageRecords&startdate=YYYY-MM-DD&enddate=YYYY-MM-DD
  &page=N&pagesize=S&response=json&apiKey=<api key>&signature=<sig>`;
- the signature: every parameter but `signature`, values URL-encoded, pairs
  sorted by name, joined with `&`, the whole string lower-cased, HMAC-SHA1
  with the secret key, base64; sent URL-encoded;
- the answer: `{"listusagerecordsresponse": {"count": total, "usagerecord": [...]}}`
  (`{}` inside when there is nothing); pages are fetched until `count` records
  arrived or a page comes back empty;
- an error: HTTP 4xx/5xx with `{"<command>response": {"errorcode": n,
  "errortext": "..."}}`; the errortext is what the job log shows. 429 (the API
  rate limit) and 503 are retried with a bounded backoff (base.http).

Each day's records are written to `<data_dir>/collection/<source>/cloudstack/
<day>.json` (the raw evidence) and parsed by the `cloudstack` importer, so a
collected record and the same record imported from a file have the same id
and the same canonical row (usage types, GB-hours: docs/formats.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rerate.collection.collectors.base import (
    Batch,
    CollectContext,
    CollectionError,
    Response,
    days,
    http,
    remap_skus,
)
from rerate.usage.importers import get_importer
from rerate.usage.importers.base import ImportOptions

COMMAND = "listUsageRecords"
RESPONSE_KEY = "listusagerecordsresponse"
DEFAULT_PAGE_SIZE = 500


def encode(value: str) -> str:
    # Java's URLEncoder, as CloudStack verifies with: '*' kept, space as %20.
    return quote(value, safe="*")


def signature(params: Mapping[str, str], secret_key: str) -> str:
    """The CloudStack request signature of `params` (without `signature`)."""
    pairs = sorted((k, encode(str(v))) for k, v in params.items() if k != "signature")
    pairs.sort(key=lambda kv: kv[0].lower())
    text = "&".join(f"{k}={v}" for k, v in pairs).lower()
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_url(endpoint: str, params: Mapping[str, str], secret_key: str) -> str:
    query = "&".join(f"{k}={encode(str(v))}" for k, v in params.items())
    return f"{endpoint}?{query}&signature={quote(signature(params, secret_key), safe='')}"


def _errortext(response: Response) -> str:
    doc = response.json()
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, dict) and "errortext" in value:
                code = value.get("errorcode", response.status)
                return f"{value['errortext']} (errorcode {code})"
    return ""


def fetch_day(ctx: CollectContext, day: date) -> list[dict[str, Any]]:
    settings = ctx.settings
    endpoint = str(settings["endpoint"])
    page_size = int(settings.get("page_size", DEFAULT_PAGE_SIZE))
    secret_key = ctx.secret()
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        params = {
            "command": COMMAND,
            "startdate": day.isoformat(),
            "enddate": day.isoformat(),
            "page": str(page),
            "pagesize": str(page_size),
            "response": "json",
            "apiKey": str(settings["api_key"]),
        }
        if settings.get("domain_id"):
            params["domainid"] = str(settings["domain_id"])
        response = http(ctx, "GET", signed_url(endpoint, params, secret_key), describe=_errortext)
        doc = json.loads(response.body, parse_float=str) if response.body else {}
        body = doc.get(RESPONSE_KEY) if isinstance(doc, dict) else None
        if not isinstance(body, dict):
            raise CollectionError(f"{COMMAND}: unexpected answer (no {RESPONSE_KEY!r} object)")
        found = body.get("usagerecord", [])
        if not isinstance(found, list):
            raise CollectionError(f"{COMMAND}: 'usagerecord' is not a list")
        total = int(body.get("count", 0) or 0)
        records.extend(found)
        ctx.progress(-1, f"{day}: page {page}, {len(records)} of {total} records")
        if not found or len(records) >= total:
            return records
        page += 1


def collect(ctx: CollectContext, start: date, end: date) -> Iterator[Batch]:
    for key in ("endpoint", "api_key"):
        if not ctx.settings.get(key):
            raise CollectionError(f"the region's settings lack {key!r}")
    importer = get_importer("cloudstack")
    folder = ctx.work_dir / "cloudstack"
    folder.mkdir(parents=True, exist_ok=True)
    sku_map = dict(ctx.settings.get("sku_map") or {})
    for day in days(start, end):
        records = fetch_day(ctx, day)
        path = folder / f"{day.isoformat()}.json"
        _write(path, {RESPONSE_KEY: {"count": len(records), "usagerecord": records}})
        options = ImportOptions(skip_bad_rows=True, file_label=f"{ctx.region_code}/{path.name}")
        parsed = remap_skus(importer.parse(path, options), sku_map)
        yield Batch(
            parsed=parsed,
            source=importer.source.value,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            day=day,
            note=f"{day}: {len(records)} records",
        )


def _write(path: Path, doc: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True))
    tmp.replace(path)
