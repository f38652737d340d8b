"""A fine-grained quantity (10 decimals) and huge ones in the same run
(docs/rating.md, section 8, "Quantity scales"): each (account, SKU) group is
held at the scale it needs, so one does not make the other overflow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.kit.periods import Month
from rerate.rating import engine
from rerate.rating.fixed import RatingOverflow
from rerate.rating.plan import PriceEntry, Tier, TierMode

from .helpers import compare, usage_table, utc
from .test_golden import cdr, plan, price, tariff

AUG = Month(2026, 8).in_zone("UTC")
D = Decimal


def _cloud(qty: str, sku: str, account: int = 1, day: int = 3) -> dict[str, Any]:
    return {
        "kind": "cloud",
        "account_id": account,
        "usage_start": utc(f"2026-08-0{day}T10:00"),
        "sku": sku,
        "quantity": D(qty),
        "unit": "u",
    }


def _plan() -> Any:
    return plan(
        (
            price(1, "req", "0.0000004"),
            # graduated tiers: the fine-grained SKU is on the cumulative axis
            PriceEntry(
                2,
                "gb",
                D(0),
                tier_mode=TierMode.GRADUATED,
                tiers=(Tier(D(0), D("0.10")), Tier(D("0.005"), D("0.08"))),
            ),
            tariff(3, "33", "0.02"),
        )
    )


@pytest.mark.parametrize("chunk_rows", [None, 1, 2])
def test_fine_and_huge_quantities_of_one_customer_month(chunk_rows: int | None) -> None:
    rows = [
        _cloud("0.0072838553", "gb"),
        _cloud("5000000000000", "req"),
        _cloud("0.0000000001", "gb", day=4),
        _cloud("3000000000000", "req", day=4),
        cdr("33123", 65),
        _cloud("5000000000000", "req", account=2),
    ]
    result, _ = compare(rows, _plan(), AUG, chunk_rows=chunk_rows)
    by_id = {r["record_id"]: r for r in result.rated.to_pylist()}
    assert len(by_id) == 6
    q = sorted((r["item"], r["quantity"], r["net_amount"]) for r in by_id.values())
    # gb: [0, 0.005) at 0.10 + [0.005, 0.0072838553) at 0.08
    #   = 0.0005 + 0.000182708424 -> 0.0006827084; then 1e-10 at 0.08 -> 0 (half-up of 8e-12)
    # req: 5e12 * 4e-7 = 2,000,000; 3e12 * 4e-7 = 1,200,000
    assert q == [
        ("G", D("65.0000000000"), D("0.0216666667")),
        ("gb", D("1E-10"), D("0E-10")),
        ("gb", D("0.0072838553"), D("0.0006827084")),
        ("req", D("3000000000000.0000000000"), D("1200000.0000000000")),
        ("req", D("5000000000000.0000000000"), D("2000000.0000000000")),
        ("req", D("5000000000000.0000000000"), D("2000000.0000000000")),
    ]
    daily = sorted(
        (r["account_id"], str(r["day"]), r["item"], r["quantity"]) for r in result.daily.to_pylist()
    )
    assert daily == [
        (1, "2026-08-03", "G", D("65")),
        (1, "2026-08-03", "gb", D("0.0072838553")),
        (1, "2026-08-03", "req", D("5000000000000")),
        (1, "2026-08-04", "gb", D("1E-10")),
        (1, "2026-08-04", "req", D("3000000000000")),
        (2, "2026-08-03", "req", D("5000000000000")),
    ]
    assert result.summary.totals["EUR"].usage_net == D("5200000.0223493751")


@pytest.mark.parametrize("chunk_rows", [None, 1])
def test_both_in_one_flat_priced_group(chunk_rows: int | None) -> None:
    # The same SKU and account: nothing cumulative for a flat price, so each row
    # keeps its own decimals, and the daily row sums them exactly.
    rows = [
        _cloud("0.0072838553", "req"),
        _cloud("5000000000000", "req"),
        _cloud("1.5", "req"),
        cdr("33123", 65),
    ]
    result, _ = compare(rows, _plan(), AUG, chunk_rows=chunk_rows)
    q = sorted((r["quantity"], r["net_amount"]) for r in result.rated.to_pylist())
    # 0.0072838553 * 4e-7 = 2.91354212e-9 -> 0.0000000029; 1.5 * 4e-7 = 0.0000006
    assert q == [
        (D("0.0072838553"), D("0.0000000029")),
        (D("1.5"), D("0.0000006")),
        (D("65"), D("0.0216666667")),
        (D("5000000000000"), D("2000000")),
    ]
    daily = {r["item"]: (r["rows"], r["quantity"]) for r in result.daily.to_pylist()}
    assert daily["req"] == (3, D("5000000000001.5072838553"))


def test_one_tiered_group_holding_both_is_still_refused() -> None:
    # Within one (account, SKU) group on the cumulative axis (tiers) one scale is
    # needed: 5e12 at 10 decimals is beyond 64 bits. Refused, never a wrong number.
    table = usage_table([_cloud("0.0072838553", "gb"), _cloud("5000000000000", "gb")])
    with pytest.raises(RatingOverflow):
        engine.rate(table, _plan(), AUG)


_fine = st.decimals(
    min_value=D("-0.05"), max_value=D("0.05"), places=10, allow_nan=False, allow_infinity=False
)
_huge = st.integers(min_value=-(9 * 10**12), max_value=9 * 10**12).map(D)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("gb"), st.sampled_from([1, 2]), _fine),
            st.tuples(st.just("req"), st.sampled_from([1, 2]), st.one_of(_fine, _huge)),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([None, 1, 3]),
)
def test_engine_agrees_with_the_reference_on_mixed_scales(
    rows: list[tuple[str, int, Decimal]], chunk_rows: int | None
) -> None:
    usage = [
        _cloud(str(q), sku, account=account, day=1 + i % 9)
        for i, (sku, account, q) in enumerate(rows)
    ]
    result, _ = compare(usage, _plan(), AUG, chunk_rows=chunk_rows)
    # Daily quantities are the exact sums of their rows, whatever their scales.
    by_day: dict[tuple[int, str, str], Decimal] = {}
    for r in result.rated.to_pylist():
        k = (r["account_id"], str(r["day"]), r["item"])
        by_day[k] = by_day.get(k, D(0)) + r["quantity"]
    daily = {
        (r["account_id"], str(r["day"]), r["item"]): r["quantity"] for r in result.daily.to_pylist()
    }
    assert daily == by_day
