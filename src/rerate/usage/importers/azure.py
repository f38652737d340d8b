"""Azure cost details CSV (EA and MCA exports, actual or amortized).

Column names are matched without regard to case (`SubscriptionId` in EA
files, `subscriptionId` in MCA ones) and a few historical aliases are
accepted (see `SPEC`). Rows are daily: usage_start = `Date` 00:00 UTC,
usage_end = the next midnight. `Date` may be ISO (`2026-08-01`) or US
(`08/01/2026`), as Azure writes both depending on the export.

Account: `SubscriptionId`; with `ImportOptions.tag_key`, the value of that
tag in `Tags` is appended (`<subscription>/<tag value>`), which is how
Azure Stack / CMS operators map resource groups to tenants (enable tag
inheritance so resource-group tags reach each row). A row without the tag
keeps the bare subscription id, and fails account resolution unless that
is a known account too.

list_cost = `PaygCostInBillingCurrency` (the pay-as-you-go price, i.e. the
list cost), falling back to `CostInBillingCurrency` when absent or empty.

Rows whose `ChargeType` is not `Usage` (Purchase, Refund, UnusedReservation,
UnusedSavingsPlan, RoundingAdjustment, Tax ...) are not consumption a price
book can price: they keep their stated cost (`CostInBillingCurrency` first)
and get the SKU `<ChargeType>:<MeterId>`, which no usage price entry matches,
so the rater passes them through at that cost (or leaves them `no_price` when
the contract does not pass through). Their quantity may be negative (refunds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from rerate.usage.errors import ImportRejected
from rerate.usage.importers.base import (
    BoolArray,
    Checker,
    ImportOptions,
    ParseResult,
    assemble,
    clean,
    duck,
    mask_np,
    match_columns,
    parse_decimal,
    parse_timestamp,
    read_csv_raw,
    read_header,
    result,
)
from rerate.usage.schema import TIMESTAMP, UsageKind, UsageSource

SPEC: dict[str, tuple[str, ...]] = {
    "subscription": ("SubscriptionId", "SubscriptionGuid"),
    "date": ("Date", "UsageDate", "UsageDateTime"),
    "meter": ("MeterId",),
    "product": ("ProductName", "Product"),
    "service": ("MeterCategory",),
    "region": ("ResourceLocation", "MeterRegion"),
    "quantity": ("Quantity", "UsageQuantity"),
    "unit": ("UnitOfMeasure",),
    "payg": ("PaygCostInBillingCurrency",),
    "cost": ("CostInBillingCurrency", "Cost", "PreTaxCost"),
    "currency": ("BillingCurrency", "BillingCurrencyCode", "Currency"),
    "tags": ("Tags",),
    "resource_group": ("ResourceGroup", "ResourceGroupName"),
    "resource": ("ResourceId", "InstanceId", "InstanceName"),
    "charge_type": ("ChargeType",),
    "pricing_model": ("PricingModel",),
    "benefit": ("BenefitId", "ReservationId"),
    "product_order": ("ProductOrderId",),
    "frequency": ("Frequency",),
    "additional_info": ("AdditionalInfo",),
}
REQUIRED = ("subscription", "date", "meter", "quantity", "currency")
# Identity of a row: what was consumed, by which resource, on which day and
# under which pricing. Tags are left out: a changed tag must correct the row's
# account, not add a row. AdditionalInfo is added (as canonical JSON, see
# `_canonical_json`) where present: Azure writes two rows that differ only
# there (one per reservation order, or per vCore count), both real charges.
# Azure spells resource ids with varying case, so they are compared lower-cased.
IDENTITY = (
    "subscription", "date", "meter", "product", "resource", "resource_group", "charge_type",
    "pricing_model", "benefit", "product_order", "frequency",
)  # fmt: skip
_US_DATE = r"^\d{1,2}/\d{1,2}/\d{4}$"
USAGE_CHARGE = "usage"
_DAY_US = 86_400_000_000


def parse(path: Path, options: ImportOptions) -> ParseResult:
    file = options.label(path)
    required = [*REQUIRED, "tags"] if options.tag_key else list(REQUIRED)
    cols = match_columns(read_header(path), SPEC, required, file=file)
    if cols["payg"] is None and cols["cost"] is None:
        raise ImportRejected(file, 1, "CostInBillingCurrency", "missing column")
    present = [c for c in cols.values() if c is not None]
    raw = read_csv_raw(path, header=True, include=present, progress=options.progress)
    t = raw.table
    n = raw.num_rows

    def col(key: str) -> pa.Array:
        name = cols.get(key)
        return t.column(name).combine_chunks() if name is not None else pa.nulls(n, pa.string())

    def name(key: str) -> str:
        return cols.get(key) or SPEC[key][0]

    con = duck()
    try:
        check = Checker(raw, file=file, skip_bad_rows=options.skip_bad_rows)
        subscription = clean(col("subscription"))
        check.required(subscription, name("subscription"))
        tag_value = None
        if options.tag_key:
            tag_value, bad_tags = _tag_values(col("tags"), options.tag_key)
            check.fail(bad_tags, name("tags"), "unparsable tags", col("tags"))
        start, bad_date = _parse_dates(con, col("date"))
        check.required(col("date"), name("date"))
        check.fail(bad_date, name("date"), "unparsable date", col("date"))
        meter = pc.coalesce(clean(col("meter")), clean(col("product")))
        check.fail(pc.is_null(meter), name("meter"), "missing value")
        # No ChargeType column (older exports) or an empty one: usage.
        charge_type = clean(col("charge_type"))
        usage = pa.array(
            ~mask_np(pc.is_valid(charge_type))
            | mask_np(pc.equal(pc.utf8_lower(charge_type), USAGE_CHARGE))
        )
        quantity, bad_q = parse_decimal(col("quantity"))
        check.required(col("quantity"), name("quantity"))
        check.fail(bad_q, name("quantity"), "unparsable number", col("quantity"))
        check.fail(
            pc.and_(usage, pc.less(quantity, 0)),
            name("quantity"),
            "negative quantity",
            col("quantity"),
        )
        payg, bad_payg = parse_decimal(col("payg"))
        check.fail(bad_payg, name("payg"), "unparsable number", col("payg"))
        cost, bad_cost = parse_decimal(col("cost"))
        check.fail(bad_cost, name("cost"), "unparsable number", col("cost"))
        # Usage is priced from its pay-as-you-go (list) cost; a purchase,
        # refund or unused reservation is what it cost, nothing to re-price.
        list_cost = pc.if_else(usage, pc.coalesce(payg, cost), pc.coalesce(cost, payg))
        sku = pc.if_else(usage, meter, pc.binary_join_element_wise(charge_type, meter, ":"))
        check.fail(
            pc.is_null(list_cost), name("cost") if cols["cost"] else name("payg"), "missing value"
        )
        check.required(col("currency"), name("currency"))

        account = subscription
        if tag_value is not None:
            joined = pc.binary_join_element_wise(subscription, tag_value, "/")
            account = pc.coalesce(joined, subscription)
        end = pc.add(start, pa.scalar(_DAY_US, pa.duration("us"))).cast(TIMESTAMP)

        def table_of(good: BoolArray) -> pa.Table:
            columns = {
                "account_ref": account,
                "usage_start": start,
                "usage_end": end,
                "service": clean(col("service")),
                "sku": sku,
                "region": clean(col("region")),
                "quantity": quantity,
                "unit": clean(col("unit")),
                "list_cost": list_cost,
                "currency": pc.utf8_upper(clean(col("currency"))),
            }
            identity = []
            for key in IDENTITY:
                if key == "date":
                    identity.append(start)
                elif key in ("resource", "resource_group"):
                    identity.append(pc.utf8_lower(clean(col(key))))
                else:
                    identity.append(clean(col(key)))
            return assemble(
                con,
                columns,
                good=good,
                source=UsageSource.AZURE,
                kind=UsageKind.CLOUD,
                namespace=options.namespace,
                identity=identity,
                optional_identity=[_canonical_json(clean(col("additional_info")))],
            )

        account_column = name("subscription") + (f"+{name('tags')}" if options.tag_key else "")
        return result(raw, check, table_of, account_column=account_column)
    finally:
        con.close()


def _parse_dates(con: duckdb.DuckDBPyConnection, values: pa.Array) -> tuple[pa.Array, BoolArray]:
    """ISO dates through DuckDB, US `MM/DD/YYYY` through Arrow's strptime."""
    s = clean(values)
    us = mask_np(pc.match_substring_regex(s, _US_DATE))
    us_arr = pa.array(us)
    null = pa.scalar(None, pa.string())
    iso, bad_iso, _ = parse_timestamp(con, pc.if_else(us_arr, null, s), default_tz="UTC")
    us_ts = pc.strptime(
        pc.if_else(us_arr, s, null), format="%m/%d/%Y", unit="us", error_is_null=True
    )
    us_ts = us_ts.cast(pa.timestamp("us")).cast(TIMESTAMP)
    start = pc.coalesce(iso, us_ts)
    bad = bad_iso | (us & ~mask_np(pc.is_valid(us_ts)))
    return start, bad


def _canonical_json(values: pa.Array) -> pa.Array:
    """AdditionalInfo as compact JSON with sorted keys, so that exports that
    space or order it differently (EA and MCA do) give the same identity;
    text that is not JSON is kept as written. Parsed once per distinct value."""
    distinct = [v for v in pc.unique(values).to_pylist() if v is not None]
    if not distinct:
        return values
    canonical: list[str] = []
    for text in distinct:
        try:
            canonical.append(json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")))
        except (ValueError, RecursionError):
            canonical.append(text)
    keys = pa.array(distinct, pa.string())
    return pa.array(canonical, pa.string()).take(pc.index_in(values, value_set=keys))


def _tag_values(tags: pa.Array, key: str) -> tuple[pa.Array, BoolArray]:
    """The value of tag `key` per row (matched without case, as Azure does),
    and which rows have unparsable tags.

    Python parses each *distinct* tags string once: a resource carries the
    same tags every day, so there are few of them. EA files write tags
    without the outer braces (`"env": "prod"`); both forms are accepted.
    """
    s = clean(tags)
    distinct = [v for v in pc.unique(s).to_pylist() if v is not None]
    wanted = key.lower()
    values: dict[str, str | None] = {}
    broken: set[str] = set()
    for text in distinct:
        parsed = _load_tags(text)
        if parsed is None:
            broken.add(text)
            continue
        found = next((v for k, v in parsed.items() if k.lower() == wanted), None)
        value = str(found).strip() if found is not None else ""
        values[text] = value or None
    keys = pa.array(list(values), pa.string())
    mapped = pa.array(list(values.values()), pa.string()).take(pc.index_in(s, value_set=keys))
    bad = mask_np(pc.is_in(s, value_set=pa.array(sorted(broken), pa.string())))
    return mapped, bad


def _load_tags(text: str) -> Mapping[str, object] | None:
    body = text if text.startswith("{") else "{" + text + "}"
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return None
    return parsed if isinstance(parsed, dict) else None
