"""Helpers shared by the rating tests: build usage tables, compare the engine
with the reference rater field by field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from rerate.kit.periods import Period
from rerate.rating.engine import RatingResult, rate
from rerate.rating.plan import RatingPlan
from rerate.usage.schema import USAGE_SCHEMA

from .reference import RefResult, reference_rate

# While a test holds a checker here (tests/rating/test_spark_parity.py),
# `compare` also hands it every scenario: it rates the scenario on another
# backend and asserts the same run as the embedded engine's.
PARITY: list[Callable[[pa.Table, RatingPlan, Period], None]] = []

ROW_FIELDS = (
    "status",
    "reason",
    "service",
    "item",
    "region",
    "prefix",
    "band",
    "unit",
    "quantity",
    "billed_seconds",
    "list_amount",
    "net_amount",
    "currency",
    "entry_id",
    "version_id",
    "profile_id",
    "tier_first",
    "tier_last",
    "rules",
)


def utc(text: str) -> datetime:
    """An aware UTC instant from 'YYYY-MM-DDTHH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def usage_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Canonical usage rows; identity columns get harmless defaults."""
    full = []
    for i, row in enumerate(rows):
        r = {
            "record_id": f"r{i:05d}",
            "content_hash": "h",
            "import_id": 1,
            "source": "api",
            "account_ref": str(row.get("account_id", 1)),
            "account_id": 1,
        }
        if row.get("kind", "cdr") == "cdr":
            r.update(kind="cdr")
        r.update(row)
        r.setdefault("usage_end", r["usage_start"])
        full.append(r)
    return pa.Table.from_pylist(full, schema=USAGE_SCHEMA)


def rated_rows(result: RatingResult) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in result.rated.to_pylist()}


def compare(
    rows: list[dict[str, Any]],
    plan: RatingPlan,
    period: Period,
    *,
    chunk_rows: int | None = None,
) -> tuple[RatingResult, RefResult]:
    """Rate with the engine and the reference; assert they agree exactly.

    `chunk_rows` splits the engine's work into chunks of whole accounts; rated
    rows then come grouped by chunk, so rows are matched by record id."""
    table = usage_table(rows)
    got = rate(table, plan, period, **({"chunk_rows": chunk_rows} if chunk_rows else {}))
    if PARITY:
        PARITY[0](table, plan, period)
    ref = reference_rate(table.to_pylist(), plan, period)
    by_id = {r["record_id"]: r for r in got.rated.to_pylist()}
    assert len(by_id) == got.rated.num_rows  # no row twice
    if chunk_rows is None:
        ids = [r["record_id"] for r in got.rated.to_pylist()]
        assert ids == [r.record_id for r in ref.rows]  # one chunk: input order
    assert sorted(by_id) == sorted(r.record_id for r in ref.rows)
    engine_rows = [by_id[r.record_id] for r in ref.rows]
    assert got.summary.out_of_period == ref.out_of_period
    for g, r in zip(engine_rows, ref.rows, strict=True):
        for name in ROW_FIELDS:
            expected = getattr(r, name)
            assert g[name] == expected, (r.record_id, name, g[name], expected)
        assert g["kind"] == r.kind
        assert g["day"] == r.day, (r.record_id, g["day"], r.day)
        if r.status == "rated":
            assert g["included_quantity"] == r.included, (
                r.record_id,
                g["included_quantity"],
                r.included,
            )
    daily = {}
    for d in got.daily.to_pylist():
        key = (
            d["account_id"],
            d["day"],
            d["kind"],
            d["service"],
            d["item"],
            d["region"],
            d["band"],
            d["unit"],
            d["version_id"],
            d["rules"],
        )
        assert key not in daily
        daily[key] = {
            k: d[k]
            for k in (
                "rows",
                "quantity",
                "included_quantity",
                "list_amount",
                "net_amount",
                "entry_id",
                "prefix",
            )
        }
    assert daily == ref.daily
    lines = [(ln.kind, ln.source_id, ln.account_id, ln.amount, ln.month) for ln in got.lines]
    assert lines == ref.lines
    totals = got.summary.totals[plan.contract.currency]
    assert totals.usage_list == ref.usage_list
    assert totals.usage_net == ref.usage_net
    assert totals.total == ref.total
    assert got.summary.rated + got.summary.unrated == len(ref.rows)
    return got, ref


def d(text: str) -> Decimal:
    return Decimal(text)
