"""Azure Stack Hub: the tenant usage API, one UTC day at a time, priced
through meter/SKU price entries.

Protocol (Azure Stack Hub "tenant resource usage API"):

- a bearer token: with `token_url` and `client_id` settings, the collector
  asks for one by the OAuth 2.0 client-credentials grant (POST form
  `grant_type=client_credentials`, `client_id`, `client_secret` = the
  region's secret, `resource` = the `resource` setting or the endpoint), and
  asks again once if the API answers 401; without `token_url` the region's
  secret is the bearer token itself;
- GET `<endpoint>/subscriptions/<subscription_id>/providers/Microsoft.Commerce/
  usageAggregates?api-version=2015-06-01-preview&reportedStartTime=<day>T00:00:00Z
  &reportedEndTime=<day+1>T00:00:00Z&aggregationGranularity=Daily&showDetails=true`
  with `Authorization: Bearer <token>`;
- the answer: `{"value": [aggregate, ...], "nextLink": "<url>"}`; `nextLink`
  (carrying a continuation token) is followed until absent or empty;
- an error: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx
  status; 429 and 503 are retried with a bounded backoff (base.http).

Mapping of one aggregate's `properties`:

| canonical     | from |
|---------------|------|
| `account_ref` | `subscriptionId`, + `/<tag value>` with `tag_key` (tags of `instanceData`) |
| `usage_start` / `usage_end` | `usageStartTime` / `usageEndTime` |
| `sku`         | `meterId`, normalised (below) |
| `service`, `unit` | the meter's name and unit when it is a known meter (`KNOWN_METERS`) |
| `region`      | `instanceData` `Microsoft.Resources.location` |
| `quantity`    | `quantity` (exact decimal) |

SKU normalisation (`normalise_meter`): surrounding whitespace and braces are
removed, inner whitespace dropped, letters lower-cased; an id of 32 hex
digits without hyphens (as Microsoft's own list writes the network meters)
gets the 8-4-4-4-12 hyphens; then an alias (the `meter_aliases` setting,
keys normalised the same way) replaces it, e.g. to point a repaired managed
disk meter at the id its price entry uses. Price entries for Azure Stack
meters use the normalised id. Record id: subscription, normalised meter,
resource URI (lower-cased), start, end, and the additional info where
present: the same usage spelled differently is the same record.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rerate.collection.collectors.base import (
    Batch,
    CollectContext,
    CollectionError,
    Response,
    days,
    http,
    remap_skus,
)
from rerate.usage.importers.base import (
    Checker,
    ParseResult,
    RawTable,
    Structural,
    assemble,
    clean,
    duck,
    json_lookup,
    parse_decimal,
    parse_timestamp,
    result,
)
from rerate.usage.schema import UsageKind, UsageSource

API_VERSION = "2015-06-01-preview"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")

# Meters Microsoft documents for Azure Stack Hub usage (operator FAQ, "What
# meter IDs can I see?"): normalised id -> (name, unit).
KNOWN_METERS: dict[str, tuple[str, str]] = {
    "f271a8a3-88c4-4d93-956a-063e1d2fa80b": ("Static IP Address Usage", "IP addresses"),
    "9e2739ba-8674-4796-b465-f64674b822ba": ("Dynamic IP Address Usage", "IP addresses"),
    "b4438d5d-453b-4ee1-b42a-dc72e377f1e4": ("TableCapacity", "GB*hours"),
    "b5c15376-6c94-4fdd-b655-1a69d138aca3": ("PageBlobCapacity", "GB*hours"),
    "b03c6ae7-b080-4bfa-84a3-22c800f315c6": ("QueueCapacity", "GB*hours"),
    "09f8879e-87e9-4305-a572-4b7be209f857": ("BlockBlobCapacity", "GB*hours"),
    "b9ff3cd0-28aa-4762-84bb-ff8fbaea6a90": ("TableTransactions", "Requests in 10,000s"),
    "50a1aeaf-8eca-48a0-8973-a5b3077fee0d": ("TableDataTransIn", "GB"),
    "1b8c1dec-ee42-414b-aa36-6229cf199370": ("TableDataTransOut", "GB"),
    "43daf82b-4618-444a-b994-40c23f7cd438": ("BlobTransactions", "Requests in 10,000s"),
    "9764f92c-e44a-498e-8dc1-aad66587a810": ("BlobDataTransIn", "GB"),
}

FIELDS = (
    "subscriptionId", "meterId", "usageStartTime", "usageEndTime", "quantity",
    "resourceUri", "location", "tag", "additionalInfo",
)  # fmt: skip
REQUIRED = ("subscriptionId", "meterId", "usageStartTime", "usageEndTime", "quantity")


def normalise_meter(value: str, aliases: Mapping[str, str] | None = None) -> str:
    """The SKU of a meter id (see the module doc for the rule)."""
    text = "".join(value.split()).strip("{}").lower()
    if _HEX32.match(text):
        text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    if aliases:
        normalised = {_plain(k): _plain(v) for k, v in aliases.items()}
        text = normalised.get(text, text)
    return text


def _plain(value: str) -> str:
    return normalise_meter(value, None)


def _error_message(response: Response) -> str:
    doc = response.json()
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        error = doc["error"]
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    return ""


class _Token:
    def __init__(self, ctx: CollectContext) -> None:
        self.ctx = ctx
        self.value: str | None = None

    def get(self, *, fresh: bool = False) -> str:
        settings = self.ctx.settings
        if not settings.get("token_url"):
            return self.ctx.secret()
        if self.value is None or fresh:
            form = urllib.parse.urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": str(settings.get("client_id", "")),
                    "client_secret": self.ctx.secret(),
                    "resource": str(settings.get("resource") or settings["endpoint"]),
                }
            ).encode()
            answer = http(
                self.ctx,
                "POST",
                str(settings["token_url"]),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                data=form,
                describe=_token_error,
            )
            doc = answer.json()
            if not isinstance(doc, dict) or not doc.get("access_token"):
                raise CollectionError("the token endpoint answered without an access_token")
            self.value = str(doc["access_token"])
        return self.value


def _token_error(response: Response) -> str:
    doc = response.json()
    if isinstance(doc, dict) and "error" in doc:
        return f"{doc.get('error')}: {doc.get('error_description', '')}".strip(": ")
    return ""


def fetch_day(ctx: CollectContext, token: _Token, day: date) -> list[dict[str, Any]]:
    settings = ctx.settings
    endpoint = str(settings["endpoint"]).rstrip("/")
    subscription = urllib.parse.quote(str(settings["subscription_id"]), safe="")
    query = urllib.parse.urlencode(
        {
            "api-version": str(settings.get("api_version") or API_VERSION),
            "reportedStartTime": f"{day.isoformat()}T00:00:00Z",
            "reportedEndTime": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
            "aggregationGranularity": "Daily",
            "showDetails": "true",
        }
    )
    url: str | None = (
        f"{endpoint}/subscriptions/{subscription}/providers/Microsoft.Commerce/"
        f"usageAggregates?{query}"
    )
    found: list[dict[str, Any]] = []
    pages = 0
    while url:
        try:
            answer = _get(ctx, token, url)
        except _Unauthorised:
            answer = _get(ctx, token, url, fresh=True)  # the token expired: once more
        doc = json.loads(answer.body, parse_float=str, parse_int=str) if answer.body else {}
        if not isinstance(doc, dict) or not isinstance(doc.get("value", []), list):
            raise CollectionError("usageAggregates: unexpected answer (no 'value' list)")
        found.extend(doc.get("value", []))
        pages += 1
        ctx.progress(-1, f"{day}: page {pages}, {len(found)} aggregates")
        url = doc.get("nextLink") or None
        if url is not None and not str(url).startswith(endpoint):
            raise CollectionError(f"usageAggregates: nextLink leaves the endpoint ({url[:80]})")
    return found


class _Unauthorised(Exception):
    pass


def _get(ctx: CollectContext, token: _Token, url: str, *, fresh: bool = False) -> Response:
    headers = {"Authorization": f"Bearer {token.get(fresh=fresh)}", "Accept": "application/json"}
    try:
        return http(ctx, "GET", url, headers=headers, describe=_error_message)
    except CollectionError as exc:
        if not fresh and str(exc).startswith("HTTP 401") and ctx.settings.get("token_url"):
            raise _Unauthorised() from exc
        raise


def _flatten(aggregate: Any, tag_key: str | None) -> dict[str, str | None] | None:
    if not isinstance(aggregate, dict) or not isinstance(aggregate.get("properties"), dict):
        return None
    p = aggregate["properties"]
    row: dict[str, str | None] = {f: _text(p.get(f)) for f in REQUIRED}
    instance = p.get("instanceData")
    if isinstance(instance, str):
        try:
            instance = json.loads(instance)
        except ValueError:
            instance = None
    resources = instance.get("Microsoft.Resources", {}) if isinstance(instance, dict) else {}
    resources = resources if isinstance(resources, dict) else {}
    row["resourceUri"] = _text(resources.get("resourceUri"))
    row["location"] = _text(resources.get("location"))
    info = resources.get("additionalInfo")
    row["additionalInfo"] = (
        json.dumps(info, sort_keys=True, separators=(",", ":")) if isinstance(info, dict) else None
    )
    tags = resources.get("tags")
    row["tag"] = None
    if tag_key and isinstance(tags, dict):
        wanted = tag_key.lower()
        value = next((v for k, v in tags.items() if str(k).lower() == wanted), None)
        row["tag"] = str(value).strip() or None if value is not None else None
    return row


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def parse(records: list[Any], *, file: str, tag_key: str | None,
          aliases: Mapping[str, str]) -> ParseResult:  # fmt: skip
    """Aggregates -> canonical rows, bad ones as rejects (never the whole day)."""
    columns: dict[str, list[str | None]] = {f: [] for f in FIELDS}
    lines: list[int] = []
    structural: list[Structural] = []
    for number, aggregate in enumerate(records, start=1):
        row = _flatten(aggregate, tag_key)
        if row is None:
            text = json.dumps(aggregate, default=str)[:500]
            structural.append(Structural(number, "properties", "not a usage aggregate", text))
            continue
        for f in FIELDS:
            columns[f].append(row[f])
        lines.append(number)
    table = pa.table({f: pa.array(v, pa.string()) for f, v in columns.items()})
    safe = [r if isinstance(r, dict) else {"value": r} for r in records]
    raw = RawTable(table, np.asarray(lines, dtype=np.int64), structural, json_lookup(safe))

    def col(name: str) -> pa.Array:
        return raw.table.column(name).combine_chunks()

    con = duck()
    try:
        check = Checker(raw, file=file, skip_bad_rows=True)
        for f in REQUIRED:
            check.required(col(f), f)
        quantity, bad_q = parse_decimal(col("quantity"))
        check.fail(bad_q, "quantity", "unparsable number", col("quantity"))
        check.fail(pc.less(quantity, 0), "quantity", "negative quantity", col("quantity"))
        start, bad_start, _ = parse_timestamp(con, col("usageStartTime"), default_tz="UTC")
        check.fail(bad_start, "usageStartTime", "unparsable timestamp", col("usageStartTime"))
        end, bad_end, _ = parse_timestamp(con, col("usageEndTime"), default_tz="UTC")
        check.fail(bad_end, "usageEndTime", "unparsable timestamp", col("usageEndTime"))
        check.fail(pc.less_equal(end, start), "usageEndTime", "end not after start")
        meters = col("meterId").to_pylist()
        skus = pa.array([normalise_meter(m, aliases) if m else None for m in meters], pa.string())
        names = pa.array([KNOWN_METERS.get(s, (None, None))[0] if s else None
                          for s in skus.to_pylist()], pa.string())  # fmt: skip
        units = pa.array([KNOWN_METERS.get(s, (None, None))[1] if s else None
                          for s in skus.to_pylist()], pa.string())  # fmt: skip
        subscription = clean(col("subscriptionId"))
        account = subscription
        if tag_key:
            joined = pc.binary_join_element_wise(subscription, clean(col("tag")), "/")
            account = pc.coalesce(joined, subscription)

        def table_of(good: Any) -> pa.Table:
            return assemble(
                con,
                {
                    "account_ref": account,
                    "usage_start": start,
                    "usage_end": end,
                    "service": names,
                    "sku": skus,
                    "region": clean(col("location")),
                    "quantity": quantity,
                    "unit": units,
                },
                good=good,
                source=UsageSource.AZURE_STACK,
                kind=UsageKind.CLOUD,
                namespace="",
                identity=[subscription, skus, pc.utf8_lower(clean(col("resourceUri"))), start, end],
                optional_identity=[clean(col("additionalInfo"))],
            )

        account_column = "subscriptionId" + ("+tags" if tag_key else "")
        return result(raw, check, table_of, account_column=account_column)
    finally:
        con.close()


def collect(ctx: CollectContext, start: date, end: date) -> Iterator[Batch]:
    for key in ("endpoint", "subscription_id"):
        if not ctx.settings.get(key):
            raise CollectionError(f"the region's settings lack {key!r}")
    token = _Token(ctx)
    folder = ctx.work_dir / "azure_stack"
    folder.mkdir(parents=True, exist_ok=True)
    tag_key = ctx.settings.get("tag_key") or None
    aliases = dict(ctx.settings.get("meter_aliases") or {})
    sku_map = dict(ctx.settings.get("sku_map") or {})
    for day in days(start, end):
        records = fetch_day(ctx, token, day)
        path = folder / f"{day.isoformat()}.json"
        _write(path, {"value": records})
        parsed = parse(
            records,
            file=f"{ctx.region_code}/{path.name}",
            tag_key=str(tag_key) if tag_key else None,
            aliases=aliases,
        )
        yield Batch(
            parsed=remap_skus(parsed, sku_map),
            source=UsageSource.AZURE_STACK.value,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            day=day,
            note=f"{day}: {len(records)} aggregates",
        )


def _write(path: Path, doc: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, default=str))
    tmp.replace(path)


__all__ = ["KNOWN_METERS", "collect", "normalise_meter", "parse"]
