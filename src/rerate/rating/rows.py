"""Per-row working state shared by the CDR and cloud raters.

Each rater fills a `RowState` for its subset of rows with plain numpy arrays:
amounts as int64 units of 1e-10 (see fixed.py), strings as int32 codes into
one `StringPool` per rating call (so the output can use Arrow dictionary
arrays instead of materialising millions of equal strings).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rerate.rating.fixed import SCALE, RatingOverflow, mul_div

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]
I8 = npt.NDArray[np.int8]
Bool = npt.NDArray[np.bool_]


class Reason(StrEnum):
    """Why a selected row is unrated. Unrated rows are kept, never dropped."""

    NO_TARIFF = "no_tariff"  # CDR: no tariff version in force, or no prefix matches
    NO_PRICE = "no_price"  # cloud: no price entry and no override, pass-through not allowed
    ACCOUNT_NOT_OWNED = "account_not_owned"  # the customer did not own the account then
    INVALID_DESTINATION = "invalid_destination"  # CDR: empty or non-digit destination
    INVALID_QUANTITY = "invalid_quantity"  # cloud: a priced row without quantity
    CURRENCY_MISMATCH = "currency_mismatch"  # pass-through cost in another currency
    UNKNOWN_KIND = "unknown_kind"  # neither 'cdr' nor 'cloud'


REASONS: tuple[Reason, ...] = tuple(Reason)
RATED = 0  # reason code of a rated row; Reason r has code REASONS.index(r) + 1


def reason_code(reason: Reason) -> int:
    return REASONS.index(reason) + 1


class StringPool:
    """Interns strings to int32 codes; code -1 stands for null.

    Safe to share between the engine's chunk threads: the engine interns
    everything it knows of up front, and a string first met inside a chunk
    (a rule label beyond the pre-interned combinations) gets its code under a
    lock, so two threads can never hand out the same code twice."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self.values: list[str] = []
        self._array: pa.Array | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Pickled (to a distributed backend's tasks) without its lock.
        return {"values": list(self.values)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.values = list(state["values"])
        self._codes = {v: i for i, v in enumerate(self.values)}
        self._array = None
        self._lock = threading.Lock()

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        found = self._codes.get(value)
        if found is None:
            with self._lock:
                found = self._codes.get(value)
                if found is None:
                    found = len(self.values)
                    self.values.append(value)
                    self._codes[value] = found
        return found

    def codes(self, values: list[str | None] | tuple[str | None, ...]) -> I32:
        return np.array([self.code(v) for v in values], dtype=np.int32)

    def array(self) -> pa.Array:
        """The pool's values as one Arrow string array (index = code)."""
        if self._array is None or len(self._array) != len(self.values):
            self._array = pa.array(self.values, type=pa.string())
        return self._array

    def dictionary(self, codes: I32) -> pa.DictionaryArray:
        """A dictionary<int32, string> array for `codes` (-1 -> null). Every column
        shares one dictionary, the whole pool: building it is O(rows) with no
        per-row Python work."""
        values = self.array()
        mask = codes < 0
        indices = pa.array(
            np.asarray(codes, dtype=np.int32), pa.int32(), mask=mask if bool(mask.any()) else None
        )
        return pa.DictionaryArray.from_arrays(indices, values)

    def strings(self, codes: I32) -> list[str | None]:
        return [self.values[c] if c >= 0 else None for c in codes.tolist()]


# Default (dtype, value) of every RowState array: 0 / False, or -1 for "none".
_DEFAULTS: dict[str, tuple[type, int]] = {
    **dict.fromkeys(
        ("quantity", "billed_seconds", "included", "list_amount", "net_amount"), (np.int64, 0)
    ),
    "reason": (np.int8, 0),
    "has_quantity": (np.bool_, 0),
    "is_cdr": (np.bool_, 0),
    **dict.fromkeys(("entry_id", "version_id", "profile_id"), (np.int64, -1)),
    "tier_first": (np.int16, -1),
    "tier_last": (np.int16, -1),
    **dict.fromkeys(
        ("item", "prefix", "band", "service", "region", "unit", "rules", "currency"), (np.int32, -1)
    ),
}


@dataclass
class RowState:
    """Results for n rows; every field is filled for every row."""

    n: int
    reason: I8 = field(init=False)
    quantity: I64 = field(init=False)  # at quantity_scale; CDRs: billed seconds
    has_quantity: Bool = field(init=False)
    billed_seconds: I64 = field(init=False)
    is_cdr: Bool = field(init=False)
    included: I64 = field(init=False)  # at quantity_scale; covered by a profile allowance
    list_amount: I64 = field(init=False)
    net_amount: I64 = field(init=False)
    entry_id: I64 = field(init=False)  # -1: none
    version_id: I64 = field(init=False)
    profile_id: I64 = field(init=False)
    tier_first: I16 = field(init=False)
    tier_last: I16 = field(init=False)
    item: I32 = field(init=False)  # sku or destination group
    prefix: I32 = field(init=False)
    band: I32 = field(init=False)
    service: I32 = field(init=False)
    region: I32 = field(init=False)
    unit: I32 = field(init=False)
    rules: I32 = field(init=False)
    currency: I32 = field(init=False)
    # CDRs: `prefix` indexes these strings rather than the StringPool, so a
    # 200,000-prefix deck is never interned string by string.
    prefix_values: pa.Array | None = field(init=False, default=None)
    # Decimals of `quantity` and `included`: 0 for seconds, qs for cloud rows
    # (fixed.py: huge integer quantities only fit 64 bits at a small scale).
    quantity_scale: int = field(init=False, default=SCALE)
    # Per-row decimals of `quantity` and `included` when one scale cannot hold
    # every row (cloud.rate_cloud's scale classes); None: `quantity_scale`.
    # Constant within an (account, SKU) group, hence within a daily row.
    row_scale: npt.NDArray[np.int8] | None = field(init=False, default=None)
    # Rows of a flat-priced (account, SKU) group whose rows have different
    # scales (cloud._scale_classes): their daily quantity is summed exactly.
    mixed_scale: Bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # Arrays are created on first use (__getattr__): a rater replaces most
        # of them wholesale, and allocating ~20 row-sized defaults up front cost
        # more than rating 10 M CDRs' prefixes.
        self.prefix_values = None
        self.quantity_scale = SCALE
        self.row_scale = None
        self.mixed_scale = None

    def __getattr__(self, name: str) -> npt.NDArray[np.generic]:
        spec = _DEFAULTS.get(name)
        if spec is None:
            raise AttributeError(name)
        dtype, fill = spec
        arr: npt.NDArray[np.generic] = np.full(self.n, fill, dtype=dtype)
        setattr(self, name, arr)
        return arr

    def rescale_quantities(self, scale: int) -> None:
        """Express quantity and included at `scale` (>= the current scale)."""
        if self.row_scale is not None:
            raise RatingOverflow("quantities at several scales cannot share one")
        factor = 10 ** (scale - self.quantity_scale)
        if factor != 1:
            self.quantity = mul_div(self.quantity, factor, 1)
            self.included = mul_div(self.included, factor, 1)
        self.quantity_scale = scale

    @property
    def rated(self) -> Bool:
        return np.asarray(self.reason == RATED, dtype=bool)

    def put(self, idx: I64 | None, other: RowState) -> None:
        """Copy `other` (rows idx of self, or all rows when idx is None) into self."""
        for name in self.__dataclass_fields__:
            if name in ("n", "prefix_values", "quantity_scale", "row_scale", "mixed_scale"):
                continue
            target = getattr(self, name)
            if idx is None:
                target[:] = getattr(other, name)
            else:
                target[idx] = getattr(other, name)
