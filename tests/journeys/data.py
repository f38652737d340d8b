"""The files a new user brings: a tariff deck, a cloud price list, CDRs and a
FOCUS export, generated deterministically for the end-to-end journeys.

Small enough to read, large enough to be real: the deck has 5,000 prefixes,
and the expected totals are computed here by hand from the same numbers, so
the journeys check the bill, not just that something was produced.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

DECK_PREFIXES = 5_000
# The calls go to these prefixes (the deck's first lines), one per destination.
CALLED = ["4420", "4421", "4422"]


def deck_rows(rate_per_minute: Decimal) -> list[dict[str, str]]:
    """5,000 prefixes 44xxxx (UK-like), one destination group per hundred."""
    rows = []
    for i in range(DECK_PREFIXES):
        prefix = f"44{2000 + i}"
        rows.append(
            {
                "prefix": prefix,
                "destination_group": f"UK {i // 100:02d}",
                "rate_per_minute": str(rate_per_minute),
                "connect_fee": "0",
                "min_seconds": "0",
                "initial_increment": "60",
                "subsequent_increment": "60",
                "band": "",
                "charge_unanswered": "false",
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})
    return path


def price_rows() -> list[dict[str, str]]:
    return [
        {"sku": "vm.small", "region": "", "unit": "h", "unit_price": "0.05", "tier_mode": "none"},
        {"sku": "disk.gb", "region": "", "unit": "GB", "unit_price": "0.10", "tier_mode": "none"},
    ]


@dataclass(frozen=True)
class Usage:
    month: str  # YYYY-MM, closed
    peer: str  # the VoIP peer's account code
    cloud_account: str  # the FOCUS SubAccountId
    calls: int
    call_seconds: int  # billable seconds of every call (whole minutes)
    vm_hours: int


def cdr_rows(u: Usage) -> list[dict[str, str]]:
    """`u.calls` answered calls of `u.call_seconds`, spread over the month's first days."""
    start = datetime.fromisoformat(f"{u.month}-01T00:00:00+00:00")
    rows = []
    for i in range(u.calls):
        at = start + timedelta(days=i % 28, hours=9 + i % 8, minutes=i % 60)
        rows.append(
            {
                "record_id": f"call-{i:05d}",
                "account": u.peer,
                "start": at.isoformat(),
                "calling": "+33140000000",
                "called": f"+{CALLED[i % len(CALLED)]}{100000 + i}",
                "duration_seconds": str(u.call_seconds + 5),
                "billable_seconds": str(u.call_seconds),
                "disposition": "ANSWERED",
            }
        )
    return rows


FOCUS_HEADER = [
    "BillingAccountId",
    "SubAccountId",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ServiceName",
    "SkuId",
    "RegionId",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ListCost",
    "BillingCurrency",
    "x_RecordId",
]


def focus_rows(u: Usage) -> list[dict[str, str]]:
    """One vm.small hour per row, `u.vm_hours` rows from the month's start."""
    start = datetime.fromisoformat(f"{u.month}-01T00:00:00+00:00").astimezone(UTC)
    rows = []
    for h in range(u.vm_hours):
        at = start + timedelta(hours=h)
        rows.append(
            {
                "BillingAccountId": "payer-1",
                "SubAccountId": u.cloud_account,
                "ChargePeriodStart": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ChargePeriodEnd": (at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ChargeCategory": "Usage",
                "ServiceName": "Compute",
                "SkuId": "vm.small",
                "RegionId": "",
                "ConsumedQuantity": "1",
                "ConsumedUnit": "h",
                "ListCost": "0.06",
                "BillingCurrency": "EUR",
                "x_RecordId": f"vm-{h:05d}",
            }
        )
    return rows


def expected_voice(u: Usage, rate: Decimal) -> Decimal:
    """60/60 increments and whole-minute calls: minutes x rate."""
    return Decimal(u.calls) * Decimal(u.call_seconds // 60) * rate


def expected_cloud(u: Usage) -> Decimal:
    return Decimal(u.vm_hours) * Decimal("0.05")
