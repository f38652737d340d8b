"""Property: whatever imports happen, scan returns each visible record once,
with the content of the last visible import that sent it."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rerate.usage.store import UsageStore

from .helpers import T0, cloud_batch

record = st.tuples(
    st.sampled_from([f"r{i}" for i in range(8)]),
    st.sampled_from(["acme", "globex"]),
    st.integers(min_value=0, max_value=3).map(str),
    st.sampled_from([0, 5, 23, 24, 30, 50]),  # hours: spans three UTC days
)
imports = st.lists(
    st.tuples(st.lists(record, min_size=1, max_size=6), st.booleans()), min_size=1, max_size=4
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(imports)
def test_scan_returns_the_last_committed_content_of_each_record(
    batches: list[tuple[list[tuple[str, str, str, int]], bool]],
) -> None:
    model: dict[str, tuple[str, Decimal, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = UsageStore(Path(tmp))
        visible: list[int] = []
        for import_id, (rows, commits) in enumerate(batches, start=1):
            with store.import_lock():
                plan = store.plan_import(cloud_batch(rows), visible)
                store.write_import(plan, import_id)
            if not commits:
                store.discard_import(import_id)  # rolled back
                continue
            visible.append(import_id)
            for rid, account, quantity, hour in rows:  # the last occurrence wins
                model[f"api::{rid}"] = (account, Decimal(quantity), hour)

        everything = store.scan(visible)
        ids = everything.column("record_id").to_pylist()
        assert len(ids) == len(set(ids))
        got = {
            r["record_id"]: (
                {1: "acme", 2: "globex"}[r["account_id"]],
                r["quantity"],
                int((r["usage_start"] - T0).total_seconds() // 3600),
            )
            for r in everything.to_pylist()
        }
        assert got == model

        # Any one-day window sees exactly the records whose latest version starts in it.
        for day in range(3):
            lo = T0 + timedelta(days=day)
            window = store.scan(visible, start_utc=lo, end_utc=lo + timedelta(days=1))
            expected = {rid for rid, (_, _, hour) in model.items() if hour // 24 == day}
            assert sorted(window.column("record_id").to_pylist()) == sorted(expected)
