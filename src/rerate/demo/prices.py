"""The demo's cloud price book, as integers of 1e-4 EUR (two complete versions).

Prices are drawn once from the catalogue's relative sizes; `usage.py` reads
the same arrays to compute list costs, so the two always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rerate.demo.catalog import PRICED_SKUS, REGIONAL, TIERED, UNPRICED_SKUS, Sku

PRICE_SCALE = 4  # prices are integers of 10**-4 currency units

# Price of one "size" unit per kind, 1e-4 EUR.
_KIND_PRICE = {"hours": 960, "gbmonth": 200, "gb": 870, "ops": 50, "units": 15_000}


@dataclass(frozen=True, slots=True)
class CloudPrices:
    skus: tuple[Sku, ...]  # priced ones first, then the unpriced ones
    n_priced: int
    list_e4: npt.NDArray[np.int64]  # the source's list price per SKU (= v1 generic)
    v1_e4: npt.NDArray[np.int64]  # generic price per priced SKU, version 1
    v2_e4: npt.NDArray[np.int64]  # version 2
    # (sku index, region) -> (v1, v2) region-specific prices
    regional: dict[tuple[int, str], tuple[int, int]]
    # sku index -> (mode, ((from_quantity, v1 price), ...))
    tiers: dict[int, tuple[str, tuple[tuple[int, int], ...]]]

    def index(self, sku: str) -> int:
        return [s.sku for s in self.skus].index(sku)


def build_prices(rng: np.random.Generator) -> CloudPrices:
    skus = (*PRICED_SKUS, *UNPRICED_SKUS)
    n_priced = len(PRICED_SKUS)
    base = np.asarray([_KIND_PRICE[s.kind] * s.size for s in skus], dtype=np.float64)
    jitter = rng.integers(95, 106, size=len(skus))
    # Whole 1e-4 units from the start: every later price is integer arithmetic.
    list_e4 = np.maximum(1, np.rint(base * jitter / 100)).astype(np.int64)
    by_name = {s.sku: i for i, s in enumerate(skus)}
    tiers: dict[int, tuple[str, tuple[tuple[int, int], ...]]] = {}
    for sku, mode, steps in TIERED:
        i = by_name[sku]
        tiers[i] = (mode, steps)
        list_e4[i] = steps[0][1]
    v1 = list_e4[:n_priced].copy()
    # Version 2: about a third of the SKUs change; compute gets cheaper, the
    # rest a little dearer.
    change = rng.random(n_priced) < 0.33
    pct = np.where(
        np.asarray([s.service == "Compute" for s in PRICED_SKUS]),
        rng.integers(-10, -2, size=n_priced),
        rng.integers(2, 9, size=n_priced),
    )
    v2 = np.where(change, np.maximum(1, (v1 * (100 + pct) + 50) // 100), v1).astype(np.int64)
    for i in tiers:  # tiered SKUs keep their tiers (and first-tier price) in v2
        v2[i] = v1[i]
    regional: dict[tuple[int, str], tuple[int, int]] = {}
    for i, s in enumerate(PRICED_SKUS):
        if i in tiers:
            continue
        for head, regions in REGIONAL:
            if s.sku.startswith(head):
                for region, percent in regions.items():
                    regional[(i, region)] = (
                        int((v1[i] * percent + 50) // 100),
                        int((v2[i] * percent + 50) // 100),
                    )
    return CloudPrices(skus, n_priced, list_e4, v1, v2, regional, tiers)
