"""Exact fixed-point arithmetic on numpy int64 arrays.

Money never touches a float. Inside the vectorised engine an amount is an
int64 count of 1e-10 currency units (`SCALE` = ROW_SCALE = 10 decimal places),
so |amount| < 922,337,203.6854775807 per row. Products that may exceed 64 bits
(quantity x unit price, seconds x rate) go through `mul_div`, which computes
round_half_up(a * b / d) exactly with a 128-bit product built from 32-bit limbs
and a limb-wise long division; only the *result* has to fit in 64 bits, and
`RatingOverflow` is raised (never a wrong number) when it does not.

Half-up here means "half away from zero", which is what Python's
`decimal.ROUND_HALF_UP` does; the reference rater relies on that.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rerate.kit.money import ROW_SCALE

SCALE = ROW_SCALE
UNIT = 10**SCALE
INT64_MAX = 2**63 - 1
DECIMAL_TYPE = pa.decimal128(38, SCALE)

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bool = npt.NDArray[np.bool_]

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


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
    valid = _validity(arr)
    # The value fits in int64 exactly when the high word is the sign extension
    # of the low word; null slots may hold garbage, so they are ignored.
    fits = hi == (lo >> 63)
    if not bool(np.all(fits | ~valid)):
        raise RatingOverflow("a decimal value does not fit the 64-bit fixed point")
    values = np.where(valid, lo, 0).astype(np.int64)
    return values, valid


def _validity(arr: pa.Array) -> Bool:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def decimal_column(arr: pa.Array | pa.ChunkedArray, scale: int = SCALE) -> tuple[I64, Bool]:
    """A decimal (or integer) Arrow column as int64 units of 10**-scale.

    The cast is Arrow's *safe* cast: it raises instead of dropping digits.
    """
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


_CHUNK = 1 << 16  # rows per block: keeps every temporary in the CPU cache
_E9 = np.uint64(10**9)
_UMAX = 2**64 - 1


def _divisor_factors(d: int) -> list[int]:
    """Split d into factors below 2**32 for the binary long division."""
    factors: list[int] = []
    while d >= 2**32:
        for f in (10**9, 10**6, 10**3, 10, 2, 3, 5):
            if d % f == 0:
                factors.append(f)
                d //= f
                break
        else:
            raise ValueError("divisor must be a product of small factors and powers of ten")
    factors.append(d)
    return factors


def _pow10_exponent(d: int) -> int | None:
    k = 0
    while d % 10 == 0:
        d //= 10
        k += 1
    return k if d == 1 and k <= 18 else None


def _accumulate(limbs: list[U64], base: int) -> tuple[U64, Bool]:
    """Value of big-endian base-`base` limbs as uint64, with a "> INT64_MAX" flag."""
    bound = np.uint64(INT64_MAX // base)
    over = np.zeros(limbs[0].shape, dtype=bool)
    value = np.zeros_like(limbs[0])
    ub = np.uint64(base)
    for limb in limbs:
        over |= value > bound
        value = np.where(over, np.uint64(0), value * ub + limb)
        over |= value > np.uint64(INT64_MAX)
    return value, over


def _wide_pow10(ua: U64, ub: U64, k: int) -> tuple[U64, Bool]:
    """round_half_up(ua*ub / 10**k) via base-10**9 limbs: dividing by a power of
    ten is then a limb shift plus one short division."""
    a1 = ua // _E9
    a0 = ua - a1 * _E9
    b1 = ub // _E9
    b0 = ub - b1 * _E9
    over = np.zeros(ua.shape, dtype=bool)
    if int(a1.max()) * int(b1.max()) >= 2**64:
        over = (a1 > 0) & (b1 > np.uint64(_UMAX) // np.maximum(a1, np.uint64(1)))
        a1 = np.where(over, np.uint64(0), a1)
    hh = a1 * b1
    mm = a1 * b0 + a0 * b1  # each term < 9.3e18, the sum < 2**64
    ll = a0 * b0
    l1 = ll // _E9
    c0 = ll - l1 * _E9
    m2 = mm // _E9
    m1 = mm - m2 * _E9
    t1 = m1 + l1
    carry = t1 // _E9
    c1 = t1 - carry * _E9
    t2 = hh + m2 + carry
    over |= t2 < hh  # wrapped: the product is far beyond any int64 result
    c3 = t2 // _E9
    c2 = t2 - c3 * _E9
    limbs = [c3, c2, c1, c0]  # value = sum(limb * 10**(9 * (3 - i)))
    j, s = divmod(k, 9)
    high = limbs[: 4 - j]
    low = limbs[4 - j :]
    rest = np.zeros_like(ua)  # the shifted-out limbs, < 10**(9j) <= 10**18
    for limb in low:
        rest = rest * _E9 + limb
    div = np.uint64(10**s)
    r = np.zeros_like(ua)
    quotient: list[U64] = []
    for limb in high:
        cur = r * _E9 + limb  # r < 10**8, so no wrap
        q = cur // div
        r = cur - q * div
        quotient.append(q)
    value, qover = _accumulate(quotient, 10**9)
    over |= qover
    remainder = r * np.uint64(10 ** (9 * j)) + rest  # < 10**k <= 10**18
    d = np.uint64(10**k)
    value += (remainder >= d - remainder).astype(np.uint64)
    over |= value > np.uint64(INT64_MAX)
    return value, over


def _wide_binary(ua: U64, ub: U64, d: int) -> tuple[U64, Bool]:
    """round_half_up(ua*ub/d) through a 128-bit product of 32-bit limbs and a
    limb-wise long division (divisors that are not powers of ten, e.g. 60)."""
    a0, a1 = ua & _M32, ua >> _S32
    b0, b1 = ub & _M32, ub >> _S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)  # < 3 * 2**32: no wrap
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)  # the product is < 2**128
    limbs = [hi >> _S32, hi & _M32, mid & _M32, p00 & _M32]
    remainder = np.zeros_like(ua)
    weight = 1
    for f in _divisor_factors(d):
        fu = np.uint64(f)
        r = np.zeros_like(ua)
        out = []
        for limb in limbs:
            cur = (r << _S32) | limb  # r < f < 2**32, so cur < 2**64
            q = cur // fu
            r = cur - q * fu
            out.append(q)
        limbs = out
        remainder += r * np.uint64(weight)  # stays below d <= 10**18
        weight *= f
    overflow = (limbs[0] != 0) | (limbs[1] != 0) | (limbs[2] >= np.uint64(2**31))
    quotient = (limbs[2] << _S32) | limbs[3]
    du = np.uint64(d)
    quotient += (remainder >= du - remainder).astype(np.uint64)
    overflow |= quotient > np.uint64(INT64_MAX)
    return quotient, overflow


def _fast(ua: U64, ub: U64, d: int) -> tuple[U64, Bool]:
    p = ua * ub  # callers guarantee no wrap on the rows they keep
    du = np.uint64(d)
    q = p // du
    r = p - q * du
    q += (r >= du - r).astype(np.uint64)
    return q, q > np.uint64(INT64_MAX)


def _mul_div_block(a: I64, b: I64, d: int, k: int | None) -> I64:
    negative = (a < 0) ^ (b < 0)
    # abs(int64 min) wraps to itself, and as uint64 that is exactly 2**63.
    ua = np.abs(a).astype(np.uint64)
    ub = np.abs(b).astype(np.uint64)
    q, overflow = _fast(ua, ub, d)
    if int(ua.max()) * int(ub.max()) >= 2**64:
        # Only the rows whose product needs more than 64 bits take the slow path.
        big = ua > np.uint64(_UMAX) // np.maximum(ub, np.uint64(1))
        idx = np.flatnonzero(big)
        if len(idx):
            if k is not None:
                qw, ow = _wide_pow10(ua[idx], ub[idx], k)
            else:
                qw, ow = _wide_binary(ua[idx], ub[idx], d)
            q[idx] = qw
            overflow[idx] = ow
    if bool(np.any(overflow)):
        raise RatingOverflow("a product does not fit the 64-bit fixed point")
    out = q.astype(np.int64)
    return np.where(negative, -out, out)


def mul_div(a: I64 | int, b: I64 | int, d: int) -> I64:
    """round_half_up(a * b / d), exact for any int64 a and b; d > 0 a power of
    ten up to 10**18 or a product of small factors (60, ...).

    Raises RatingOverflow if a result does not fit in int64.
    """
    if d <= 0:
        raise ValueError("divisor must be positive")
    if np.ndim(b) == 0:
        # A scalar factor such as 95% = 95 * 10**10 / 10**12 shares powers of ten
        # with the divisor; cancelling them keeps products in the fast path.
        bi = int(b)
        while bi != 0 and bi % 10 == 0 and d % 10 == 0:
            bi //= 10
            d //= 10
        b = bi
    aa, bb = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    n = aa.size
    if n == 0:
        return np.zeros(aa.shape, dtype=np.int64)
    k = _pow10_exponent(d)
    if n <= _CHUNK:
        return _mul_div_block(aa.ravel(), bb.ravel(), d, k).reshape(aa.shape)
    flat_a, flat_b = aa.ravel(), bb.ravel()
    out = np.empty(n, dtype=np.int64)
    for i in range(0, n, _CHUNK):
        out[i : i + _CHUNK] = _mul_div_block(flat_a[i : i + _CHUNK], flat_b[i : i + _CHUNK], d, k)
    return out.reshape(aa.shape)


def scaled_tuple(values: list[Decimal] | tuple[Decimal, ...], scale: int = SCALE) -> I64:
    return np.array([to_scaled(v, scale) for v in values], dtype=np.int64)
