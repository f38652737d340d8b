"""Apache CloudStack `listUsageRecords` JSON.

Accepted shapes: the API response `{"listusagerecordsresponse": {"count": n,
"usagerecord": [...]}}`, a bare `{"usagerecord": [...]}`, or a JSON list of
records (pages concatenated by a script). Numbers may be JSON strings (as
CloudStack writes them) or JSON numbers, which are read as exact decimals.

Mapping: account = `accountid` (the account's UUID: names are unique only
within a domain); sku = `usagetype` plus `:<offeringid>` when the record has
an offering (service or disk offering); service = the usage type's name
(RUNNING_VM, VOLUME ...); region = `zoneid`; quantity = `rawusage` in the
type's unit (hours for most types, bytes for network and disk bytes, I/O
operations for disk I/O), except for storage sold by size: a volume (types 6
and 26) is `size` (bytes) x `rawusage` (hours) in GB-hours, and a bucket
(type 29, whose `rawusage` is its size in bytes) is that size x the
interval's hours, also in GB-hours. GB = 2^30 bytes, CloudStack's own GB.

CloudStack writes the end of a usage interval as its last second
(`...T23:59:59`, the interval really ending a millisecond before midnight),
and its dates as `2026-08-01'T'00:00:00+02:00` (a quoted `T`). The quotes
are dropped and one second is added to the end to get the half-open
`[start, end)` rerate uses.

"Line" in messages is the 1-based position of the record in the list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rerate.kit.money import to_row_scale
from rerate.usage.errors import ImportRejected
from rerate.usage.importers.base import (
    BoolArray,
    Checker,
    ImportOptions,
    ParseResult,
    RawTable,
    Structural,
    assemble,
    clean,
    duck,
    json_lookup,
    mask_np,
    parse_decimal,
    parse_int,
    parse_timestamp,
    result,
)
from rerate.usage.schema import DECIMAL, TIMESTAMP, UsageKind, UsageSource

FIELDS = (
    "account", "accountid", "domainid", "zoneid", "usagetype", "rawusage", "startdate",
    "enddate", "usageid", "offeringid", "templateid", "virtualmachineid", "networkid", "type",
    "description", "size",
)  # fmt: skip
REQUIRED = ("accountid", "usagetype", "rawusage", "startdate", "enddate")
# Identity: whose usage of which resource, of which type, over which interval.
IDENTITY = (
    "accountid", "zoneid", "usagetype", "usageid", "offeringid", "templateid",
    "virtualmachineid", "networkid", "type", "startdate", "enddate",
)  # fmt: skip

USAGE_TYPES: dict[int, tuple[str, str]] = {
    1: ("RUNNING_VM", "Hrs"),
    2: ("ALLOCATED_VM", "Hrs"),
    3: ("IP_ADDRESS", "Hrs"),
    4: ("NETWORK_BYTES_SENT", "Bytes"),
    5: ("NETWORK_BYTES_RECEIVED", "Bytes"),
    6: ("VOLUME", "Hrs"),
    7: ("TEMPLATE", "Hrs"),
    8: ("ISO", "Hrs"),
    9: ("SNAPSHOT", "Hrs"),
    10: ("SECURITY_GROUP", "Hrs"),
    11: ("LOAD_BALANCER_POLICY", "Hrs"),
    12: ("PORT_FORWARDING_RULE", "Hrs"),
    13: ("NETWORK_OFFERING", "Hrs"),
    14: ("VPN_USERS", "Hrs"),
    21: ("VM_DISK_IO_READ", "IOPS"),
    22: ("VM_DISK_IO_WRITE", "IOPS"),
    23: ("VM_DISK_BYTES_READ", "Bytes"),
    24: ("VM_DISK_BYTES_WRITE", "Bytes"),
    25: ("VM_SNAPSHOT", "Hrs"),
    26: ("VOLUME_SECONDARY", "Hrs"),
    27: ("VM_SNAPSHOT_ON_PRIMARY", "Hrs"),
    28: ("BACKUP", "Hrs"),
    29: ("BUCKET", "GB-Hrs"),  # object storage bucket (UsageTypes.BUCKET)
}
# Volumes: rawusage is hours, `size` the volume's bytes; billed per GB-hour.
VOLUME_TYPES = (6, 26)
VOLUME_UNIT = "GB-Hrs"
BUCKET_TYPE = 29
_GB = Decimal(1 << 30)
_US_PER_HOUR = Decimal(3_600_000_000)
# Wide enough that size x hours / 2^30 is exact before the one rounding.
_EXACT = Context(prec=80)
_MAX_INT_DIGITS = 27  # DECIMAL(38, 10)
_ONE_SECOND = pa.scalar(1_000_000, pa.duration("us"))


def parse(path: Path, options: ImportOptions) -> ParseResult:
    file = options.label(path)
    try:
        with path.open("rb") as fh:
            doc = json.load(fh, parse_float=Decimal)
    except RecursionError:
        raise ImportRejected(file, 1, None, "not valid JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        raise ImportRejected(file, line, None, f"not valid JSON: {exc}") from None
    if options.progress is not None:
        size = path.stat().st_size
        options.progress(size, size)
    records = _records(doc, file=file)
    raw = _raw_table(records)
    con = duck()
    try:
        return _parse_raw(con, raw, options, file=file)
    finally:
        con.close()


def _records(doc: Any, *, file: str) -> list[Any]:
    if isinstance(doc, dict) and "listusagerecordsresponse" in doc:
        doc = doc["listusagerecordsresponse"]
    if isinstance(doc, dict):
        doc = doc.get("usagerecord", [])
    if not isinstance(doc, list):
        raise ImportRejected(file, 1, "usagerecord", "expected a list of usage records")
    return doc


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _raw_table(records: Sequence[Any]) -> RawTable:
    columns: dict[str, list[str | None]] = {f: [] for f in FIELDS}
    lines: list[int] = []
    structural: list[Structural] = []
    for number, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            structural.append(
                Structural(number, None, "not a JSON object", json.dumps(rec, default=str))
            )
            continue
        missing = next((f for f in REQUIRED if f not in rec), None)
        if missing is not None:
            structural.append(
                Structural(
                    number, missing, "missing column", json.dumps(rec, default=str, sort_keys=True)
                )
            )
            continue
        for f in FIELDS:
            columns[f].append(_text(rec.get(f)))
        lines.append(number)
    table = pa.table({f: pa.array(v, pa.string()) for f, v in columns.items()})
    safe: list[Mapping[str, Any]] = [r if isinstance(r, dict) else {"value": r} for r in records]
    return RawTable(table, np.asarray(lines, dtype=np.int64), structural, json_lookup(safe))


def _parse_raw(
    con: duckdb.DuckDBPyConnection, raw: RawTable, options: ImportOptions, *, file: str
) -> ParseResult:
    t = raw.table

    def col(name: str) -> pa.Array:
        return t.column(name).combine_chunks()

    def stamp(name: str) -> pa.Array:
        return pc.replace_substring(col(name), "'", "")

    check = Checker(raw, file=file, skip_bad_rows=options.skip_bad_rows)
    check.required(col("accountid"), "accountid")
    usage_type, bad_type = parse_int(col("usagetype"))
    check.required(col("usagetype"), "usagetype")
    check.fail(bad_type, "usagetype", "unparsable whole number", col("usagetype"))
    quantity, bad_q = parse_decimal(col("rawusage"))
    check.required(col("rawusage"), "rawusage")
    check.fail(bad_q, "rawusage", "unparsable number", col("rawusage"))
    check.fail(pc.less(quantity, 0), "rawusage", "negative quantity", col("rawusage"))
    start, bad_start, _ = parse_timestamp(con, stamp("startdate"), default_tz="UTC")
    check.required(col("startdate"), "startdate")
    check.fail(bad_start, "startdate", "unparsable timestamp", col("startdate"))
    last, bad_end, _ = parse_timestamp(con, stamp("enddate"), default_tz="UTC")
    check.required(col("enddate"), "enddate")
    check.fail(bad_end, "enddate", "unparsable timestamp", col("enddate"))
    end = pc.add(last, _ONE_SECOND).cast(TIMESTAMP)
    check.fail(pc.less(end, start), "enddate", "end before start", col("enddate"))

    size, bad_size = parse_decimal(col("size"))
    volume = mask_np(pc.is_in(usage_type, value_set=pa.array(VOLUME_TYPES, pa.int64())))
    bucket = mask_np(pc.equal(usage_type, BUCKET_TYPE))
    check.fail(
        volume & mask_np(pc.is_null(clean(col("size")))),
        "size",
        "missing value (a volume is billed by size)",
    )
    check.fail(bad_size, "size", "unparsable number", col("size"))
    check.fail(pc.less(size, 0), "size", "negative size", col("size"))
    quantity, too_large = _storage_quantity(
        quantity, size, start, end, volume=volume, bucket=bucket
    )
    check.fail(too_large, "size", "GB-hours beyond 27 integer digits", col("size"))

    type_keys = pa.array(list(USAGE_TYPES), pa.int64())
    where = pc.index_in(usage_type, value_set=type_keys)
    names = pa.array([v[0] for v in USAGE_TYPES.values()], pa.string()).take(where)
    units = pa.array([v[1] for v in USAGE_TYPES.values()], pa.string()).take(where)
    units = pc.if_else(pa.array(volume), pa.scalar(VOLUME_UNIT), units)
    type_text = pc.cast(usage_type, pa.string())
    service = pc.coalesce(names, pc.binary_join_element_wise("USAGE_TYPE_", type_text, ""))
    offering = clean(col("offeringid"))
    sku = pc.coalesce(pc.binary_join_element_wise(type_text, offering, ":"), type_text)

    def table_of(good: BoolArray) -> pa.Table:
        columns = {
            "account_ref": clean(col("accountid")),
            "usage_start": start,
            "usage_end": end,
            "service": service,
            "sku": sku,
            "region": clean(col("zoneid")),
            "quantity": quantity,
            "unit": units,
        }
        identity = [
            start if f == "startdate" else last if f == "enddate" else clean(col(f))
            for f in IDENTITY
        ]
        return assemble(
            con,
            columns,
            good=good,
            source=UsageSource.CLOUDSTACK,
            kind=UsageKind.CLOUD,
            namespace=options.namespace,
            identity=identity,
            # CloudStack writes one volume record per size a volume had in the
            # interval (a resize mid-day gives two): the size tells them apart.
            optional_identity=[pc.if_else(pa.array(volume), size, pa.scalar(None, DECIMAL))],
        )

    return result(raw, check, table_of, account_column="accountid")


def _storage_quantity(
    quantity: pa.Array,
    size: pa.Array,
    start: pa.Array,
    end: pa.Array,
    *,
    volume: BoolArray,
    bucket: BoolArray,
) -> tuple[pa.Array, BoolArray]:
    """GB-hours for volumes (size x hours) and buckets (size x interval hours).

    Exact Decimal products, rounded once to 10 places half away from zero
    (the importers' one rounding rule, `to_row_scale`). Python over the few
    storage rows: CloudStack files are small and already parsed by `json`.
    """
    too_large = np.zeros(len(quantity), dtype=np.bool_)
    rows = np.flatnonzero(volume | bucket)
    if rows.size == 0:
        return quantity, too_large
    values = quantity.to_pylist()
    sizes = size.to_pylist()
    starts = pc.cast(start, pa.int64()).to_pylist()
    ends = pc.cast(end, pa.int64()).to_pylist()
    with localcontext(_EXACT):
        _fill_storage(values, sizes, starts, ends, rows.tolist(), volume)
    for i in rows:
        if values[i] is not None and values[i].adjusted() >= _MAX_INT_DIGITS:
            too_large[i] = True
            values[i] = None
    return pa.array(values, DECIMAL), too_large


def _fill_storage(
    values: list[Any],
    sizes: list[Any],
    starts: list[Any],
    ends: list[Any],
    rows: Sequence[int],
    volume: BoolArray,
) -> None:
    for i in rows:
        q, b = values[i], sizes[i]
        if volume[i]:
            if q is None or b is None:
                continue  # already a bad row
            values[i] = to_row_scale(b * q / _GB)
        else:
            if q is None or starts[i] is None or ends[i] is None:
                continue
            hours = Decimal(ends[i] - starts[i]) / _US_PER_HOUR
            values[i] = to_row_scale(q * hours / _GB)
