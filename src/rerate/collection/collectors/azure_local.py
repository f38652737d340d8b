"""Azure Local: VM and disk inventory snapshots turned into usage (allocation x time).

Azure Local (formerly Azure Stack HCI) reports no usage of its own: what a
tenant is billed for is what it had allocated. The region's `inventory_url`
answers GET `?from=<ISO instant>&to=<ISO instant>` with the snapshots taken
in `[from, to)` (a bearer token when the region has a secret):

    {"snapshots": [{"taken_at": "2026-08-01T00:00:00Z",
                    "vms": [{"id": "vm-1", "name": "web1", "subscription": "sub-1",
                             "tags": {"tenant": "acme"}, "vcpus": 4, "memory_gb": 16,
                             "disks": [{"id": "disk-1", "size_gb": 128}]}]}]}

An inventory exporter (a scheduled `Get-VM`/`Get-VHD` or Azure Resource Graph
query writing this shape) or a file server in front of its output are both
fine; `nextLink` is followed when present.

`inventory_url` may also be a `file://` URL of a local folder (or one JSON
file) holding documents of that shape, for an exporter that writes to disk
(and for the offline demo): every `*.json` file under it is read and its
snapshots taken in `[from, to)` are kept, as the HTTP service would answer.

**Interpolation rule** (allocation x time). Snapshots are sorted by
`taken_at`; what snapshot i shows is held from its instant `t_i` until the
next snapshot `t_{i+1}`, and never longer than `max_gap_hours` (setting,
default 2): when snapshots stop (the exporter was down), time nobody observed
is not billed. A VM or disk absent from a snapshot has nothing allocated from
that instant. A resize shows in the next snapshot, so the old size is billed
until then (snapshots every 15 minutes bill a resize to within 15 minutes).
Intervals are cut at UTC midnight, each day giving one row per VM and meter
and per disk:

| sku | service | unit | quantity |
|---|---|---|---|
| `vcpu` | `Azure Local VM` | `vCPU-Hrs` | sum of vcpus x hours |
| `memory_gb` | `Azure Local VM` | `GB-Hrs` | sum of memory_gb x hours |
| `disk_gb` | `Azure Local disk` | `GB-Hrs` | sum of size_gb x hours |

Products are exact decimals, rounded once to 10 places (half up). A day is
collected from the snapshots of `[day - max_gap, day + 1 + max_gap)`: the one
before midnight carries into the day, the first after the next midnight ends
the day's last interval. Collecting a day again once later snapshots exist
gives the same record ids (account, resource, sku, day) and corrects.
Account: `subscription`, `+ "/" + <tag value>` with `tag_key`; region: the
region's code. SKUs are priced through price entries (or renamed by `sku_map`).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rerate.collection.collectors.base import (
    Batch,
    CollectContext,
    CollectionError,
    Response,
    days,
    http,
    remap_skus,
)
from rerate.kit.money import to_row_scale
from rerate.usage.importers.base import ParseResult, assemble, duck
from rerate.usage.schema import DECIMAL, TIMESTAMP, UsageKind, UsageSource

DEFAULT_MAX_GAP_HOURS = 2
_MICROS_PER_HOUR = Decimal(3_600_000_000)
METERS = (
    ("vcpus", "vcpu", "Azure Local VM", "vCPU-Hrs"),
    ("memory_gb", "memory_gb", "Azure Local VM", "GB-Hrs"),
)
DISK = ("size_gb", "disk_gb", "Azure Local disk", "GB-Hrs")


@dataclass(frozen=True, slots=True)
class Allocation:
    """One resource's allocation in one snapshot."""

    account: str
    resource: str
    sku: str
    service: str
    unit: str
    amount: Decimal


def _instant(text: Any) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise CollectionError(f"inventory: unparsable taken_at {text!r}") from None
    if value.tzinfo is None:
        raise CollectionError(f"inventory: taken_at {text!r} has no UTC offset")
    return value.astimezone(UTC)


def _amount(value: Any, what: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise CollectionError(f"inventory: {what} is not a number: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise CollectionError(f"inventory: {what} must be a number >= 0, got {value!r}")
    return amount


def allocations(snapshot: dict[str, Any], tag_key: str | None) -> list[Allocation]:
    found: list[Allocation] = []
    for vm in snapshot.get("vms") or []:
        if not isinstance(vm, dict) or not vm.get("id") or not vm.get("subscription"):
            raise CollectionError("inventory: a VM without id or subscription")
        account = str(vm["subscription"])
        tags: dict[str, Any] = vm["tags"] if isinstance(vm.get("tags"), dict) else {}
        if tag_key:
            value = next((v for k, v in tags.items() if str(k).lower() == tag_key.lower()), None)
            if value not in (None, ""):
                account = f"{account}/{value}"
        vm_id = str(vm["id"])
        for field, sku, service, unit in METERS:
            if vm.get(field) is not None:
                amount = _amount(vm[field], f"VM {vm_id} {field}")
                found.append(Allocation(account, vm_id, sku, service, unit, amount))
        for disk in vm.get("disks") or []:
            if not isinstance(disk, dict) or not disk.get("id"):
                raise CollectionError(f"inventory: a disk of VM {vm_id} without id")
            amount = _amount(disk.get(DISK[0]), f"disk {disk['id']} size_gb")
            found.append(Allocation(account, str(disk["id"]), DISK[1], DISK[2], DISK[3], amount))
    return found


def usage_of_day(
    snapshots: list[dict[str, Any]], day: date, *, max_gap: timedelta, tag_key: str | None
) -> dict[tuple[str, str, str], tuple[Allocation, Decimal]]:
    """(account, resource, sku) -> (allocation, allocation x hours within `day`)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    timeline = sorted(((_instant(s.get("taken_at")), s) for s in snapshots), key=lambda p: p[0])
    totals: dict[tuple[str, str, str], tuple[Allocation, Decimal]] = {}
    for i, (taken, snapshot) in enumerate(timeline):
        following = timeline[i + 1][0] if i + 1 < len(timeline) else None
        until = taken + max_gap if following is None else min(following, taken + max_gap)
        lo, hi = max(taken, start), min(until, end)
        if hi <= lo:
            continue
        # Exact: allocation x microseconds summed, divided into hours once per row.
        micros = (hi - lo) // timedelta(microseconds=1)
        for a in allocations(snapshot, tag_key):
            key = (a.account, a.resource, a.sku)
            before = totals.get(key, (a, Decimal(0)))[1]
            totals[key] = (a, before + a.amount * micros)
    return {k: (a, v / _MICROS_PER_HOUR) for k, (a, v) in totals.items()}


def _error_message(response: Response) -> str:
    doc = response.json()
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        return str(doc["error"].get("message", ""))
    return ""


def fetch_files(location: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The snapshots taken in `[start, end)` from a `file://` folder or file."""
    path = Path(urllib.parse.unquote(urllib.parse.urlparse(location).path))
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise CollectionError(f"inventory: {path} does not exist")
    snapshots: list[dict[str, Any]] = []
    for file in files:
        try:
            doc = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise CollectionError(f"inventory: {file.name} is not readable JSON ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("snapshots"), list):
            raise CollectionError(f"inventory: {file.name} has no 'snapshots' list")
        for snapshot in doc["snapshots"]:
            if isinstance(snapshot, dict) and start <= _instant(snapshot.get("taken_at")) < end:
                snapshots.append(snapshot)
    return snapshots


def fetch(ctx: CollectContext, start: datetime, end: datetime) -> list[dict[str, Any]]:
    base = str(ctx.settings["inventory_url"])
    if base.startswith("file://"):
        return fetch_files(base, start, end)
    query = urllib.parse.urlencode(
        {
            "from": start.isoformat().replace("+00:00", "Z"),
            "to": end.isoformat().replace("+00:00", "Z"),
        }
    )
    url: str | None = f"{base}{'&' if '?' in base else '?'}{query}"
    headers = {"Accept": "application/json"}
    snapshots: list[dict[str, Any]] = []
    while url:
        if ctx.has_secret:
            headers["Authorization"] = f"Bearer {ctx.secret()}"
        answer = http(ctx, "GET", url, headers=headers, describe=_error_message)
        doc = answer.json()
        if not isinstance(doc, dict) or not isinstance(doc.get("snapshots"), list):
            raise CollectionError("inventory: unexpected answer (no 'snapshots' list)")
        snapshots.extend(s for s in doc["snapshots"] if isinstance(s, dict))
        url = doc.get("nextLink") or None
    return snapshots


def parse(
    totals: dict[tuple[str, str, str], tuple[Allocation, Decimal]], day: date, region: str
) -> ParseResult:
    keys = sorted(totals)
    n = len(keys)
    start = datetime.combine(day, time(0), tzinfo=UTC)
    allocs = [totals[k][0] for k in keys]
    quantities = [to_row_scale(totals[k][1]) for k in keys]
    columns = {
        "account_ref": pa.array([a.account for a in allocs], pa.string()),
        "usage_start": pa.array([start] * n, TIMESTAMP),
        "usage_end": pa.array([start + timedelta(days=1)] * n, TIMESTAMP),
        "service": pa.array([a.service for a in allocs], pa.string()),
        "sku": pa.array([a.sku for a in allocs], pa.string()),
        "region": pa.array([region] * n, pa.string()),
        "quantity": pa.array(quantities, DECIMAL),
        "unit": pa.array([a.unit for a in allocs], pa.string()),
    }
    con = duck()
    try:
        table = assemble(
            con,
            columns,
            good=np.ones(n, dtype=np.bool_),
            source=UsageSource.AZURE_LOCAL,
            kind=UsageKind.CLOUD,
            namespace="",
            identity=[
                columns["account_ref"],
                pa.array([a.resource for a in allocs], pa.string()),
                columns["sku"],
                columns["usage_start"],
            ],
        )
    finally:
        con.close()
    return ParseResult(
        table=table,
        line_numbers=np.arange(1, n + 1, dtype=np.int64),
        rejects=[],
        rows_read=n,
        file=f"{region}/{day.isoformat()}",
        account_column="subscription",
    )


def collect(ctx: CollectContext, start: date, end: date) -> Iterator[Batch]:
    if not ctx.settings.get("inventory_url"):
        raise CollectionError("the region's settings lack 'inventory_url'")
    max_gap = timedelta(hours=float(ctx.settings.get("max_gap_hours", DEFAULT_MAX_GAP_HOURS)))
    tag_key = ctx.settings.get("tag_key") or None
    sku_map = dict(ctx.settings.get("sku_map") or {})
    folder = ctx.work_dir / "azure_local"
    folder.mkdir(parents=True, exist_ok=True)
    for day in days(start, end):
        lo = datetime.combine(day, time(0), tzinfo=UTC) - max_gap
        hi = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC) + max_gap
        snapshots = fetch(ctx, lo, hi)
        path = folder / f"{day.isoformat()}.json"
        _write(path, {"snapshots": snapshots})
        totals = usage_of_day(
            snapshots, day, max_gap=max_gap, tag_key=str(tag_key) if tag_key else None
        )
        yield Batch(
            parsed=remap_skus(parse(totals, day, ctx.region_code), sku_map),
            source=UsageSource.AZURE_LOCAL.value,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            day=day,
            note=f"{day}: {len(snapshots)} snapshots",
        )


def _write(path: Path, doc: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, default=str))
    tmp.replace(path)
