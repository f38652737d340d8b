"""Exact fixed-point arithmetic on numpy int64 arrays.

Money never touches a float. Inside the vectorised engine an amount is an
int64 count of 1e-10 currency units (`SCALE` = ROW_SCALE = 10 decimal places),
so |amount| < 922,337,203.6854775807 per row. Products that may exceed 64 bits
(quantity x unit price, seconds x rate) go through `mul_div`, which computes
round_half_up(a * b / d) exactly with a 128-bit product built from 32-bit limbs
and a long division (kernels.mul_div_half_up); only the *result* has to fit in 64 bits, and
`RatingOverflow` is raised (never a wrong number) when it does not.

Half-up here means "half away from zero", which is what Python's
`decimal.ROUND_HALF_UP` does; the reference rater relies on that.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rerate.kit.money import ROW_SCALE
from rerate.rating.kernels import mul_div_half_up

SCALE = ROW_SCALE
UNIT = 10**SCALE
DECIMAL_TYPE = pa.decimal128(38, SCALE)

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


class RatingOverflow(ArithmeticError):
    """A per-row quantity or amount does not fit the engine's 64-bit fixed point."""


def to_scaled(value: Decimal, scale: int = SCALE) -> int:
    """`value` as an integer count of 10**-scale units; refuses to round."""
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {scale} decimal places")
    return int(scaled)


def from_scaled(value: int, scale: int = SCALE) -> Decimal:
    return Decimal(int(value)).scaleb(-scale)


def decimal_places(value: Decimal) -> int:
    """Number of decimal places actually used by `value` (0 for integers)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _raw_int64(arr: pa.Array) -> tuple[I64, Bool]:
    """Unscaled int64 values of a decimal128 array, and its validity mask."""
    n = len(arr)
    buf = arr.buffers()[1]
    words = np.frombuffer(buf, dtype=np.int64, count=2 * (arr.offset + n))[2 * arr.offset :]
    lo = words[0::2]
    hi = words[1::2]
    valid = validity(arr)
    # The value fits in int64 exactly when the high word is the sign extension
    # of the low word; null slots may hold garbage, so they are ignored.
    fits = hi == (lo >> 63)
    if not bool(np.all(fits | ~valid)):
        raise RatingOverflow("a decimal value does not fit the 64-bit fixed point")
    values = np.where(valid, lo, 0).astype(np.int64)
    return values, valid


@dataclass(frozen=True, slots=True)
class Scaled:
    """A decimal column already in the engine's fixed point: int64 units of
    10**-SCALE and validity (a null is value 0, valid False). The engine
    converts the input's decimal columns this way once, while laying out its
    chunks (chunks.ChunkColumns.decimals)."""

    values: I64
    valid: Bool

    def __len__(self) -> int:
        return len(self.values)

    def take(self, rows: npt.NDArray[np.int64]) -> Scaled:
        return Scaled(self.values[rows], self.valid[rows])

    def at_scale(self, scale: int) -> tuple[I64, Bool]:
        """(values in units of 10**-scale, validity); like Arrow's safe cast,
        refuses to drop digits (ArrowInvalid) and to overflow (RatingOverflow)."""
        if scale == SCALE:
            return self.values, self.valid
        factor = 10 ** abs(SCALE - scale)
        if scale < SCALE:
            if bool(np.any(self.values[self.valid] % factor)):
                raise pa.ArrowInvalid(f"rescaling to {scale} decimal places would lose digits")
            return self.values // factor, self.valid
        if bool(np.any(np.abs(self.values) > (2**63 - 1) // factor)):
            raise RatingOverflow("a decimal value does not fit the 64-bit fixed point")
        return self.values * factor, self.valid


def validity(arr: pa.Array) -> Bool:
    """Which values of an Arrow array are not null."""
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def decimal_column(
    arr: pa.Array | pa.ChunkedArray | Scaled, scale: int = SCALE
) -> tuple[I64, Bool]:
    """A decimal (or integer) Arrow column as int64 units of 10**-scale.

    The cast is Arrow's *safe* cast: it raises instead of dropping digits.
    """
    if isinstance(arr, Scaled):
        return arr.at_scale(scale)
    arr = _combine(arr)
    target = pa.decimal128(38, scale)
    if arr.type != target:
        arr = arr.cast(target)
    return _raw_int64(arr)


def decimal_array(values: I64, valid: Bool | None = None, scale: int = SCALE) -> pa.Array:
    """int64 units of 10**-scale as an Arrow decimal128(38, scale) array (no copy of
    digits through Python: the 128-bit words are written directly)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    n = len(values)
    words = np.empty((n, 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    validity = None
    null_count = 0
    if valid is not None and not bool(valid.all()):
        validity = pa.array(np.ascontiguousarray(valid, dtype=bool)).buffers()[1]
        null_count = int(n - np.count_nonzero(valid))
    return pa.Array.from_buffers(
        pa.decimal128(38, scale), n, [validity, pa.py_buffer(words)], null_count=null_count
    )


def safe_sum(values: I64) -> int:
    """Exact sum of an int64 array as a Python int (numpy's sum would wrap)."""
    if len(values) == 0:
        return 0
    if len(values) >= 2**31:
        return sum(safe_sum(values[i : i + 2**30]) for i in range(0, len(values), 2**30))
    hi = values >> 32  # |hi| < 2**31, so n of them cannot overflow
    lo = values & 0xFFFFFFFF
    return (int(hi.sum()) << 32) + int(lo.sum())


def round_div(x: I64, d: int) -> I64:
    """round_half_up(x / d) for a positive integer d, halves away from zero."""
    if d <= 0:
        raise ValueError("divisor must be positive")
    if d == 1:
        return np.asarray(x, dtype=np.int64).copy()
    x = np.asarray(x, dtype=np.int64)
    ax = np.abs(x)
    q = ax // d
    r = ax - q * d
    q += r >= d - r
    return np.where(x < 0, -q, q)


def mul_div(a: I64 | int, b: I64 | int, d: int) -> I64:
    """round_half_up(a * b / d), exact for any int64 a and b and 0 < d < 2**63
    (kernels.mul_div_half_up: 128-bit products, one compiled pass).

    Raises RatingOverflow if a result does not fit in int64.
    """
    if d <= 0 or d >= 2**63:
        raise ValueError("divisor must be positive and below 2**63")
    if np.ndim(b) == 0:
        # A scalar factor such as 95% = 95 * 10**10 / 10**12 shares powers of ten
        # with the divisor; cancelling them keeps products within 64 bits.
        bi = int(b)
        while bi != 0 and bi % 10 == 0 and d % 10 == 0:
            bi //= 10
            d //= 10
        b = bi
    aa, bb = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    if aa.size == 0:
        return np.zeros(aa.shape, dtype=np.int64)
    out, overflow = mul_div_half_up(
        np.ascontiguousarray(aa).ravel(), np.ascontiguousarray(bb).ravel(), np.uint64(d)
    )
    if overflow:
        raise RatingOverflow("a product does not fit the 64-bit fixed point")
    return out.reshape(aa.shape)
