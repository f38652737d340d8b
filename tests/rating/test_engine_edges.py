"""Engine paths the random scenarios rarely reach."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rerate.kit.periods import Month
from rerate.rating import engine
from rerate.rating.chunks import chunk_layout
from rerate.rating.fixed import RatingOverflow
from rerate.rating.plan import PriceEntry

from .helpers import compare, usage_table, utc
from .test_golden import plan, price, tariff

AUG = Month(2026, 8).in_zone("UTC")


def _cloud(qty: str, sku: str = "s1", start: str = "2026-08-03T10:00") -> dict[str, Any]:
    return {
        "kind": "cloud",
        "account_id": 1,
        "usage_start": utc(start),
        "sku": sku,
        "quantity": Decimal(qty),
        "unit": "req",
    }


@pytest.mark.parametrize("chunk_rows", [None, 1])  # one chunk; a chunk per row
def test_huge_integer_quantities_use_a_reduced_scale(chunk_rows: int | None) -> None:
    # 5e12 requests do not fit a 64-bit integer at 10 decimals (limit ~9.2e8 units);
    # at scale 0 they do. 5e12 * 0.0000004 = 2,000,000 exactly; 3e12 * 4e-7 = 1,200,000.
    result, _ = compare(
        [_cloud("5000000000000"), _cloud("3000000000000", start="2026-08-04T10:00")],
        plan((price(1, "s1", "0.0000004"),)),
        AUG,
        chunk_rows=chunk_rows,
    )
    assert [r["net_amount"] for r in result.rated.to_pylist()] == [
        Decimal(2_000_000),
        Decimal(1_200_000),
    ]


def test_amounts_beyond_the_fixed_point_raise_instead_of_wrapping() -> None:
    # 9e8 units * 10 per unit = 9e9 > 9.2e8: not representable per row at 10 decimals.
    table = usage_table([_cloud("900000000")])
    with pytest.raises(RatingOverflow):
        engine.rate(table, plan((PriceEntry(1, "s1", Decimal(10)),)), AUG)


@pytest.mark.parametrize("kind", ["cdr", "cloud"])
def test_daily_grouping_fallback_beyond_a_64_bit_key(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "cloud":
        rows = [
            _cloud(q, sku, f"2026-08-0{d}T10:00")
            for q in ("1", "2")
            for d in (3, 4)
            for sku in ("s1", "s2")
        ]
        p = plan((price(1, "s1", "0.5"), price(2, "s2", "0.25")))
        expected = engine.rate(usage_table(rows), p, AUG).daily.to_pylist()
        monkeypatch.setattr(engine, "_KEY_LIMIT", 1)
        assert engine.rate(usage_table(rows), p, AUG).daily.to_pylist() == expected
        assert len(expected) == 4  # 2 days x 2 skus
        return
    rows = [
        {
            "kind": "cdr",
            "account_id": a,
            "usage_start": utc(f"2026-08-0{d}T10:00"),
            "destination": dest,
            "billable_seconds": 60,
        }
        for a in (1, 2)
        for d in (3, 4)
        for dest in ("331", "332", "44")
    ]
    p = plan((tariff(1, "33", "0.02"), tariff(2, "332", "0.05", "Other")))
    expected = engine.rate(usage_table(rows), p, AUG).daily.to_pylist()
    monkeypatch.setattr(engine, "_KEY_LIMIT", 1)  # force the tuple-ranking path
    assert engine.rate(usage_table(rows), p, AUG).daily.to_pylist() == expected
    # 2 accounts x 2 days x 2 groups; "44" has no tariff and no daily row
    assert len(expected) == 8


def test_chunked_parallel_cdr_stage_matches_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    from rerate.rating import cdr

    monkeypatch.setattr(cdr, "_CHUNK_ROWS", 3)  # many chunks over several threads
    rows = [
        {
            "kind": "cdr",
            "account_id": 1 + i % 2,
            "usage_start": utc(f"2026-08-{3 + i % 5:02d}T1{i % 10}:00"),
            "destination": dest,
            "billable_seconds": 7 * i,
        }
        for i, dest in enumerate(
            ["331", "3361", "44", "", "33612", "3", "336", "33x", "3319", "33"] * 2
        )
    ]
    p = plan(
        (
            tariff(1, "33", "0.02"),
            tariff(2, "336", "0.10", initial_increment=30, subsequent_increment=6),
        )
    )
    result, _ = compare(rows, p, AUG)
    assert result.summary.unrated_by_reason == {"no_tariff": 4, "invalid_destination": 4}


def test_chunks_hold_whole_accounts_and_every_row_once() -> None:
    codes = np.array([3, -1, 0, 3, 1, 0, 2, 2, 2, -1, 1, 3], dtype=np.int32)
    layout = chunk_layout(codes, 4)
    assert len(layout.spans) > 1
    assert layout.place is not None
    assert sorted(layout.place.tolist()) == list(range(len(codes)))  # every row exactly once
    order = np.argsort(layout.place)
    owners = [set(codes[order[lo:hi]].tolist()) for lo, hi in layout.spans]
    for i, a in enumerate(owners):
        for b in owners[i + 1 :]:
            assert not a & b  # an account never spans two chunks
    for lo, hi in layout.spans:
        rows = order[lo:hi].tolist()
        assert rows == sorted(rows)  # input order within a chunk
    single = chunk_layout(codes, 100)  # small inputs: one chunk, input order
    assert (single.spans, single.place) == ([(0, len(codes))], None)


def test_many_input_chunks_and_rating_chunks_give_the_same_run() -> None:
    """A Parquet-like table of many record batches, rated in chunks of whole
    accounts on several threads, bills exactly what one chunk bills; rows with
    nulls and dictionary-encoded strings included."""
    rows: list[dict[str, Any]] = []
    for i in range(60):
        rows.append(
            {
                "kind": "cdr",
                "account_id": 1 + i % 4,
                "usage_start": utc(f"2026-08-{1 + i % 28:02d}T1{i % 10}:00"),
                "destination": ["331", "3361", "44", None, "33612"][i % 5],
                "billable_seconds": 7 * i,
            }
        )
        rows.append(_cloud(f"{i}.5", sku=f"s{i % 3}", start=f"2026-08-{1 + i % 28:02d}T09:00"))
    p = plan(
        (
            tariff(1, "33", "0.02"),
            tariff(2, "336", "0.10", initial_increment=30, subsequent_increment=6),
            price(3, "s1", "0.25"),
        )
    )
    table = usage_table(rows)
    batched = pa.Table.from_batches(table.to_batches(max_chunksize=7))
    batched = batched.set_column(
        batched.schema.get_field_index("sku"), "sku", pc.dictionary_encode(batched.column("sku"))
    )
    assert batched.column("record_id").num_chunks > 5
    one = engine.rate(table, p, AUG)
    many = engine.rate(batched, p, AUG, chunk_rows=9)
    assert one.summary == many.summary
    assert one.lines == many.lines
    key = [
        *("account_id", "day", "kind", "service", "item", "region"),
        *("band", "unit", "version_id", "rules"),
    ]
    assert one.daily.sort_by([(k, "ascending") for k in key]).equals(
        many.daily.sort_by([(k, "ascending") for k in key])
    )
    by_id = {r["record_id"]: r for r in many.rated.to_pylist()}
    assert len(by_id) == many.rated.num_rows == one.rated.num_rows
    assert all(by_id[r["record_id"]] == r for r in one.rated.to_pylist())
