"""FOCUS 1.x cost and usage exports, CSV or Parquet (chosen by content).

Account: `SubAccountId` (the AWS account / Azure subscription / GCP project
that consumed), falling back per row to `BillingAccountId` when the
sub-account is empty: a reseller prices the consuming account, and exports
without sub-accounts still import. Timestamps without an offset are UTC, as
FOCUS requires. `BilledCost` is not stored: rerate prices from `ListCost`
or its own price book. See docs/formats.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rerate.usage.errors import ImportRejected
from rerate.usage.importers.base import (
    BoolArray,
    Checker,
    ImportOptions,
    ParseResult,
    RawLookup,
    RawTable,
    arrow_of,
    assemble,
    clean,
    duck,
    match_columns,
    parse_decimal,
    parse_timestamp,
    read_csv_raw,
    read_header,
    result,
)
from rerate.usage.schema import UsageKind, UsageSource

SPEC: dict[str, tuple[str, ...]] = {
    "billing_account": ("BillingAccountId",),
    "sub_account": ("SubAccountId",),
    "start": ("ChargePeriodStart",),
    "end": ("ChargePeriodEnd",),
    "category": ("ChargeCategory",),
    "charge_class": ("ChargeClass",),
    "frequency": ("ChargeFrequency",),
    "service": ("ServiceName",),
    "sku": ("SkuId",),
    "sku_price": ("SkuPriceId",),
    "region": ("RegionId",),
    "resource": ("ResourceId",),
    "commitment": ("CommitmentDiscountId",),
    "pricing_category": ("PricingCategory",),
    "quantity": ("ConsumedQuantity",),
    "unit": ("ConsumedUnit",),
    "list_cost": ("ListCost",),
    "currency": ("BillingCurrency",),
}
REQUIRED = (
    "billing_account",
    "start",
    "end",
    "category",
    "service",
    "quantity",
    "unit",
    "list_cost",
    "currency",
)
DEFAULT_ID_COLUMNS = ("RecordId", "x_RecordId")
# How FOCUS CSV writers (the FinOps sample data among them) mark a null: an
# unquoted NULL. A quoted "NULL" is the text NULL.
NULL_TEXT = "NULL"
# Identity of a row without an id: what the charge is for and when, not how
# much. Descriptions are left out on purpose: providers reword them.
IDENTITY = (
    "billing_account",
    "sub_account",
    "start",
    "end",
    "category",
    "charge_class",
    "frequency",
    "service",
    "sku",
    "sku_price",
    "region",
    "resource",
    "commitment",
    "pricing_category",
    "unit",
    "currency",
)


def parse(path: Path, options: ImportOptions) -> ParseResult:
    file = options.label(path)
    if _is_parquet(path):
        header = [f.name for f in pq.read_schema(path)]
        cols = _columns(header, options, file=file, header_line=0)
        raw = _read_parquet(path, [c for c in cols.values() if c is not None], file=file)
        if options.progress is not None:
            size = path.stat().st_size
            options.progress(size, size)
    else:
        header = read_header(path)
        cols = _columns(header, options, file=file, header_line=1)
        raw = read_csv_raw(
            path,
            header=True,
            include=[c for c in cols.values() if c is not None],
            progress=options.progress,
            null_text=NULL_TEXT,
        )
    return _parse_raw(raw, cols, options, file=file)


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def _columns(
    header: Sequence[str], options: ImportOptions, *, file: str, header_line: int
) -> dict[str, str | None]:
    spec = dict(SPEC)
    spec["id"] = (options.id_column,) if options.id_column else DEFAULT_ID_COLUMNS
    required = [*REQUIRED, "id"] if options.id_column else list(REQUIRED)
    try:
        return match_columns(header, spec, required, file=file)
    except ImportRejected as exc:
        message = exc.message
        if exc.column == "ChargeCategory" and any(h.lower() == "chargetype" for h in header):
            # FOCUS 0.5 named it ChargeType; its other columns differ too.
            message += " (a FOCUS 0.5 file? rerate reads FOCUS 1.x)"
        # Parquet has no header line: its schema is "line 0".
        raise ImportRejected(file, header_line, exc.column, message) from None


def _read_parquet(path: Path, columns: Sequence[str], *, file: str) -> RawTable:
    """Read the wanted columns as text, so CSV and Parquet share one parser.

    Typed Parquet values become their exact text: decimals as written,
    timestamps with their offset, doubles (which FOCUS writers sometimes
    use for money) as their shortest round-trip text.
    """
    con = duck()
    select = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in columns)
    try:
        table = arrow_of(con.execute(f"SELECT {select} FROM read_parquet(?)", [str(path)]))
    except duckdb.Error as exc:
        raise ImportRejected(file, 0, None, f"unreadable Parquet file: {exc}") from None
    finally:
        con.close()
    table = table.combine_chunks()
    lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return RawTable(table, lines, raw_lookup=_parquet_lookup(table))


def _parquet_lookup(table: pa.Table) -> RawLookup:
    def lookup(lines: Sequence[int]) -> Mapping[int, str]:
        return {
            n: json.dumps(table.slice(n - 1, 1).to_pylist()[0], sort_keys=True)
            for n in lines
            if 0 < n <= table.num_rows
        }

    return lookup


def _parse_raw(
    raw: RawTable, cols: Mapping[str, str | None], options: ImportOptions, *, file: str
) -> ParseResult:
    t = raw.table
    n = raw.num_rows
    empty = pa.nulls(n, pa.string())

    raw_cols: dict[str, pa.Array] = {}
    cleaned: dict[str, pa.Array] = {}

    def col(key: str) -> pa.Array:
        if key not in raw_cols:
            name = cols.get(key)
            raw_cols[key] = t.column(name).combine_chunks() if name is not None else empty
        return raw_cols[key]

    def text(key: str) -> pa.Array:
        if key not in cleaned:
            cleaned[key] = clean(col(key))
        return cleaned[key]

    def name(key: str) -> str:
        return cols.get(key) or SPEC[key][0]

    con = duck()
    try:
        check = Checker(raw, file=file, skip_bad_rows=options.skip_bad_rows)
        account = pc.coalesce(text("sub_account"), text("billing_account"))
        check.required(account, name("billing_account"), is_clean=True)
        start, bad_start, _ = parse_timestamp(con, text("start"), default_tz="UTC", is_clean=True)
        check.required(text("start"), name("start"), is_clean=True)
        check.fail(bad_start, name("start"), "unparsable timestamp", col("start"))
        end, bad_end, _ = parse_timestamp(con, text("end"), default_tz="UTC", is_clean=True)
        check.required(text("end"), name("end"), is_clean=True)
        check.fail(bad_end, name("end"), "unparsable timestamp", col("end"))
        check.fail(pc.less(end, start), name("end"), "end before start", col("end"))
        quantity, bad_q = parse_decimal(text("quantity"), is_clean=True)
        # A negative quantity (and cost) is valid FOCUS: a refund or correction
        # of earlier usage. It is kept and rated as negative usage, so it takes
        # back what the usage it corrects was billed (docs/formats.md).
        check.fail(bad_q, name("quantity"), "unparsable number", col("quantity"))
        list_cost, bad_cost = parse_decimal(text("list_cost"), is_clean=True)
        check.required(text("list_cost"), name("list_cost"), is_clean=True)
        check.fail(bad_cost, name("list_cost"), "unparsable number", col("list_cost"))
        check.required(text("currency"), name("currency"), is_clean=True)

        def table_of(good: BoolArray) -> pa.Table:
            columns = {
                "account_ref": account,
                "usage_start": start,
                "usage_end": end,
                "service": text("service"),
                "sku": pc.coalesce(text("sku"), text("sku_price")),
                "region": text("region"),
                "quantity": quantity,
                "unit": text("unit"),
                "list_cost": list_cost,
                "currency": pc.utf8_upper(text("currency")),
            }
            identity = [start if k == "start" else end if k == "end" else text(k) for k in IDENTITY]
            return assemble(
                con,
                columns,
                good=good,
                source=UsageSource.FOCUS,
                kind=UsageKind.CLOUD,
                namespace=options.namespace,
                identity=identity,
                source_id=col("id") if cols.get("id") else None,
            )

        account_column = name("sub_account") if cols.get("sub_account") else name("billing_account")
        return result(raw, check, table_of, account_column=account_column)
    finally:
        con.close()
