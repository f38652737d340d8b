"""A destination that is not an E.164 number is rated invalid_destination by
the engine and by the reference rater alike, never matched by prefix."""

from __future__ import annotations

from rerate.kit.periods import Month

from .helpers import compare, utc
from .test_golden import plan, tariff

AUG = Month(2026, 8).in_zone("UTC")


def test_more_than_15_digits_is_invalid_not_a_prefix_match() -> None:
    rows = [
        {
            "kind": "cdr",
            "account_id": 1,
            "usage_start": utc("2026-08-03T10:00"),
            "destination": dest,
            "billable_seconds": 60,
        }
        for dest in ["336" + "1" * 12, "336" + "1" * 13, "9" * 20]
    ]
    # Before issue 13 the 16-digit number was cut to 15 and rated as 336.
    result, _ = compare(rows, plan((tariff(1, "336", "0.10"),)), AUG)
    assert result.summary.unrated_by_reason == {"invalid_destination": 2}
    reasons = result.rated.column("reason").to_pylist()
    assert [str(r) if r is not None else None for r in reasons][1:] == [
        "invalid_destination",
        "invalid_destination",
    ]
