"""SpendView: net spend per (service, sku, region), exact beyond int64."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.rating.contract import SpendView

I64_MAX = 2**63 - 1


def _sums(view: SpendView) -> dict[tuple[int, int, int], int]:
    out: dict[tuple[int, int, int], int] = defaultdict(int)
    for i in range(len(view.net_hi)):
        key = (int(view.service[i]), int(view.sku[i]), int(view.region[i]))
        out[key] += (int(view.net_hi[i]) << 32) + int(view.net_lo[i])
    return dict(out)


@pytest.mark.parametrize("code_base", [0, 3_000_000])  # packed-key and np.unique paths
@given(
    rows=st.lists(
        st.tuples(
            st.integers(-1, 3),
            st.integers(-1, 3),
            st.integers(-1, 2),
            st.integers(-I64_MAX, I64_MAX),
        ),
        max_size=40,
    )
)
def test_sums_per_scope_are_exact(code_base: int, rows: list[tuple[int, int, int, int]]) -> None:
    def codes(i: int) -> np.ndarray:
        return np.array([r[i] + (code_base if r[i] >= 0 else 0) for r in rows], dtype=np.int32)

    net = np.array([r[3] for r in rows], dtype=np.int64)
    expected: dict[tuple[int, int, int], int] = defaultdict(int)
    for s, k, g, amount in zip(
        codes(0).tolist(), codes(1).tolist(), codes(2).tolist(), net.tolist(), strict=True
    ):
        expected[(s, k, g)] += amount
    views = [
        SpendView.of_rows(net[:5], codes(0)[:5], codes(1)[:5], codes(2)[:5]),
        SpendView.of_rows(net[5:], codes(0)[5:], codes(1)[5:], codes(2)[5:]),
    ]
    got: dict[tuple[int, int, int], int] = defaultdict(int)
    for key, amount in _sums(SpendView.concat(views)).items():
        got[key] += amount
    assert dict(got) == dict(expected)
