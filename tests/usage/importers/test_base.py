"""The vectorised parsers against slow, obviously right references."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.usage.importers.base import duck, parse_decimal, parse_int, parse_timestamp

QUANTUM = Decimal("1e-10")

plain_decimals = st.decimals(
    min_value=Decimal("-1e20"), max_value=Decimal("1e20"), allow_nan=False, places=14
).map(lambda d: format(d, "f"))
exponent_decimals = st.decimals(
    min_value=Decimal("-1e6"), max_value=Decimal("1e6"), allow_nan=False
).map(lambda d: f"{d:E}")
junk = st.sampled_from(["", " ", "abc", "1,5", "NaN", "-inf", "1.2.3", "--1", "1e", "0x10"])


def reference_decimal(text: str | None) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        return None
    if not value.is_finite() or "," in text or "x" in text:
        return None
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP, context=Context(prec=60))


@given(st.lists(st.one_of(plain_decimals, exponent_decimals, junk, st.none()), max_size=40))
def test_parse_decimal_matches_python_decimal_half_up(texts: list[str | None]) -> None:
    values, bad = parse_decimal(pa.array(texts, pa.string()))
    for text, got, is_bad in zip(texts, values.to_pylist(), bad.tolist(), strict=True):
        expected = reference_decimal(text)
        if expected is None:
            assert got is None
            assert is_bad == bool(text and text.strip())
        else:
            assert (got, is_bad) == (expected, False), text


@given(st.lists(st.one_of(st.integers(-(10**12), 10**12).map(str), junk, st.none()), max_size=30))
def test_parse_int_accepts_whole_numbers_only(texts: list[str | None]) -> None:
    values, bad = parse_int(pa.array(texts, pa.string()))
    for text, got, is_bad in zip(texts, values.to_pylist(), bad.tolist(), strict=True):
        if text is not None and re.fullmatch(r"-?\d+", text):
            assert (got, is_bad) == (int(text), False)
        else:
            assert got is None
            assert is_bad == bool(text and text.strip())


instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2199, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(instants, offsets), max_size=20))
def test_parse_timestamp_honours_offsets(values: list[tuple[datetime, timezone]]) -> None:
    texts = [instant.astimezone(tz).isoformat() for instant, tz in values]
    con = duck()
    try:
        parsed, bad, no_offset = parse_timestamp(con, pa.array(texts, pa.string()), default_tz=None)
    finally:
        con.close()
    assert parsed.to_pylist() == [instant for instant, _ in values]
    assert not bad.any()
    assert not no_offset.any()


def test_parse_timestamp_reads_naive_values_in_the_default_zone() -> None:
    con = duck()
    try:
        texts = pa.array(["2026-01-15 12:00:00", "2026-07-15 12:00:00", "1969-12-31 00:00:00"])
        parsed, bad, _ = parse_timestamp(con, texts, default_tz="Europe/Paris")
    finally:
        con.close()
    assert parsed.to_pylist() == [
        datetime(2026, 1, 15, 11, tzinfo=UTC),
        datetime(2026, 7, 15, 10, tzinfo=UTC),
        None,
    ]
    assert bad.tolist() == [False, False, True]  # before 1970: a broken clock
