"""Aggregations of a run's daily rows for the cache, diffs and invoices.

Sums run on DECIMAL(38, 10) (exact: scaled integers, no float), in Arrow's
group-by (no database to open per call: an invoice refresh and every publish
make such calls per job); they come back to Python as `Decimal`. Rounding to the minor unit is
not done here: invoices round per line at their own boundary
(rerate.invoicing.service).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MINUTE_QUANTUM = Decimal("0.0001")


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value or 0)


def cache_aggregates(daily: pa.Table, rated: pa.Table | None = None) -> list[dict[str, Any]]:
    """Per account: quantity, list and net amount, rated row count (and unrated
    row count when the per-row table is given). Arrow's group-by (exact
    decimal sums): opening a DuckDB database per call cost more than a small
    run's whole aggregation, and every publish makes this call."""
    return cache_rows_of(daily, unrated_counts(rated) if rated is not None else {})


def unrated_counts(rated: pa.Table) -> dict[int, int]:
    """Unrated rows per account of (a part of) a run's per-row table."""
    unrated: dict[int, int] = {}
    if not rated.num_rows:
        return unrated
    status = rated.column("status")
    if pa.types.is_dictionary(status.type):
        status = status.cast(pa.string())
    mask = pc.equal(status, "unrated")
    counts = (
        pa.table({"account_id": rated.column("account_id")})
        .filter(pc.fill_null(mask, False))
        .group_by("account_id", use_threads=False)
        .aggregate([("account_id", "count")])
    )
    for account_id, count in zip(
        counts.column("account_id").to_pylist(),
        counts.column("account_id_count").to_pylist(),
        strict=True,
    ):
        unrated[int(account_id)] = int(count)
    return unrated


def cache_rows_of(daily: pa.Table, unrated_by_account: dict[int, int]) -> list[dict[str, Any]]:
    """`cache_aggregates` from the daily rows and the unrated counts per
    account (counted part by part while a large run is written)."""
    grouped = (
        daily.select(["account_id", "quantity", "list_amount", "net_amount", "rows"])
        .group_by("account_id", use_threads=False)
        .aggregate(
            [("quantity", "sum"), ("list_amount", "sum"), ("net_amount", "sum"), ("rows", "sum")]
        )
        .sort_by("account_id")
    )
    unrated = dict(unrated_by_account)
    out = [
        {
            "account_id": int(a),
            "quantity": _dec(q),
            "list_amount": _dec(la),
            "net_amount": _dec(na),
            "row_count": int(n or 0),
            "unrated_count": unrated.pop(int(a), 0),
        }
        for a, q, la, na, n in zip(
            grouped.column("account_id").to_pylist(),
            grouped.column("quantity_sum").to_pylist(),
            grouped.column("list_amount_sum").to_pylist(),
            grouped.column("net_amount_sum").to_pylist(),
            grouped.column("rows_sum").to_pylist(),
            strict=True,
        )
    ]
    # Accounts whose every row was unrated still get a cache row, with zero amounts.
    out.extend(
        {
            "account_id": a,
            "quantity": Decimal(0),
            "list_amount": Decimal(0),
            "net_amount": Decimal(0),
            "row_count": 0,
            "unrated_count": n,
        }
        for a, n in sorted(unrated.items())
    )
    return out


def _grouped(table: pa.Table, keys: list[str], sums: list[str]) -> pa.Table:
    """`SUM(sums) ... GROUP BY keys`, with null string keys read as '' (COALESCE)."""
    columns = {
        k: pc.fill_null(table.column(k), "")
        if pa.types.is_string(table.schema.field(k).type)
        else table.column(k)
        for k in keys
    }
    columns.update({c: table.column(c) for c in sums})
    return pa.table(columns).group_by(keys, use_threads=False).aggregate([(c, "sum") for c in sums])


def item_aggregates(daily: pa.Table) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
    """(account, SKU or destination group) -> (quantity, net amount)."""
    grouped = _grouped(daily, ["account_id", "item"], ["quantity", "net_amount"])
    return {
        (int(a), str(item)): (_dec(q), _dec(na))
        for a, item, q, na in zip(
            grouped.column("account_id").to_pylist(),
            grouped.column("item").to_pylist(),
            grouped.column("quantity_sum").to_pylist(),
            grouped.column("net_amount_sum").to_pylist(),
            strict=True,
        )
    }


_GROUP_KEYS = ["kind", "service", "item", "unit"]


def invoice_groups(
    daily: pa.Table, period_lines: pa.Table
) -> list[tuple[str, str, str, Decimal, Decimal]]:
    """Invoice lines before rounding: (kind, description, unit, quantity, amount).

    Cloud usage: one line per service and SKU; VoIP: one line per destination
    group (quantity in billed minutes); then the run's period lines (custom
    line items, support fee, minimum shortfall, credits, profile fees).
    """
    groups: list[tuple[str, str, str, Decimal, Decimal]] = []
    grouped = _grouped(daily, _GROUP_KEYS, ["quantity", "net_amount"]).sort_by(
        [(k, "ascending") for k in _GROUP_KEYS]
    )
    for kind, service, item, unit, qty, amount in zip(
        *(grouped.column(k).to_pylist() for k in _GROUP_KEYS),
        grouped.column("quantity_sum").to_pylist(),
        grouped.column("net_amount_sum").to_pylist(),
        strict=True,
    ):
        qty, amount = _dec(qty), _dec(amount)
        if kind == "cdr":
            # quantity of CDR rows is billed seconds; invoices speak minutes,
            # shown to 4 places (a display quantity: the amount is not derived from it)
            minutes = (qty / 60).quantize(MINUTE_QUANTUM, rounding=ROUND_HALF_UP)
            groups.append(("usage", f"Calls to {item}", "min", minutes, amount))
        else:
            label = f"{service} - {item}" if service else item
            groups.append(("usage", label, unit, qty, amount))
    lines = period_lines.sort_by("line_no") if period_lines.num_rows else period_lines
    if lines.num_rows:
        for kind, description, amount in zip(
            lines.column("kind").to_pylist(),
            lines.column("description").to_pylist(),
            lines.column("amount").to_pylist(),
            strict=True,
        ):
            groups.append((str(kind), str(description), "", Decimal(1), _dec(amount)))
    return groups
