"""A price-book version's tariff entries as columns, built once per version.

Rating reads a deck column by column (rates, increments, prefixes ...); a
200,000-prefix deck has 600,000 entries over three versions, and turning
those Python objects into arrays costs more than matching 10 M calls. A
version is immutable, so `PriceBookVersion` builds its columns once, when
the plan is built and validated (plan.py), and every rating call reuses them.
Nothing here depends on one rating call (its string pool, its bands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rerate.rating.fixed import decimal_column

if TYPE_CHECKING:
    from rerate.rating.plan import TariffEntry

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class TariffColumns:
    """One row per tariff entry, in the version's order."""

    entry_id: I64
    prefix: pa.Array  # string
    group: pa.DictionaryArray  # destination group
    band: pa.Array  # string, null = every band
    rate: I64  # per minute, units of 1e-10
    connect: I64  # units of 1e-10
    min_s: I64
    init: I64
    sub: I64
    unanswered: Bool

    def __len__(self) -> int:
        return len(self.entry_id)


def _scaled(values: list[Decimal]) -> I64:
    return decimal_column(pa.array(values, pa.decimal128(38, 10)))[0]


def tariff_columns(entries: Sequence[TariffEntry]) -> TariffColumns:
    def ints(name: str) -> I64:
        return np.fromiter((getattr(e, name) for e in entries), dtype=np.int64, count=len(entries))

    return TariffColumns(
        entry_id=ints("id"),
        prefix=pa.array([e.prefix for e in entries], pa.string()),
        group=pa.array([e.destination_group for e in entries], pa.string()).dictionary_encode(),
        band=pa.array([e.band for e in entries], pa.string()),
        rate=_scaled([e.rate_per_minute for e in entries]),
        connect=_scaled([e.connect_fee for e in entries]),
        min_s=ints("min_seconds"),
        init=ints("initial_increment"),
        sub=ints("subsequent_increment"),
        unanswered=np.fromiter(
            (e.charge_unanswered for e in entries), dtype=np.bool_, count=len(entries)
        ),
    )
