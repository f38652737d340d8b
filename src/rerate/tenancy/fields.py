"""What a node's name and invoice fields may hold; each refusal names its field.

The API, the CLI and the console all come through these checks, so a value
refused by one is refused by all with the same words.
"""

from __future__ import annotations

import unicodedata
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from rerate.kit.errors import Invalid
from rerate.kit.money import MINOR_UNITS
from rerate.models.enums import NodeKind

MAX_NAME = 200
MAX_TAX_ID = 64
MAX_ADDRESS = 2000
MAX_PAYMENT_TERMS_DAYS = 365
TAX_RATE_PLACES = 6  # the column is NUMERIC(9, 6)


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _one_line(value: Any, field: str, max_length: int, *, required: bool) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{field}: must be text")
    text = value.strip()
    if required and not text:
        raise Invalid(f"{field}: must not be empty")
    if len(text) > max_length:
        raise Invalid(f"{field}: at most {max_length} characters")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise Invalid(f"{field}: must be one line without control characters")
    return text


def check_name(value: Any) -> str:
    return _one_line(value, "name", MAX_NAME, required=True)


def check_currency(value: Any) -> str:
    code = _one_line(value, "currency", 3, required=True).upper()
    if code not in MINOR_UNITS:
        raise Invalid(
            f"currency: {code!r} is not an ISO 4217 code rerate bills in "
            f"({', '.join(sorted(MINOR_UNITS))})"
        )
    return code


def check_time_zone(value: Any) -> str:
    zone = _one_line(value, "time_zone", 64, required=True)
    if zone not in time_zones():
        raise Invalid(f"time_zone: {zone!r} is not an IANA time zone (e.g. Europe/Paris)")
    return zone


def check_tax_rate(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise Invalid('tax_rate: a decimal string such as "0.20", not a float')
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise Invalid(f"tax_rate: not a decimal number: {str(value)[:40]!r}") from None
    if not rate.is_finite() or not Decimal(0) <= rate < Decimal(1):
        raise Invalid("tax_rate: must be at least 0 and below 1 (0.20 is 20 %)")
    if rate != rate.quantize(Decimal(1).scaleb(-TAX_RATE_PLACES)):
        raise Invalid(f"tax_rate: at most {TAX_RATE_PLACES} decimal places")
    return rate


def plain_rate(rate: Decimal) -> Decimal:
    """A stored rate without the column's trailing zeros (0.190000 -> 0.19)."""
    return rate.normalize() if rate else Decimal(0)


def check_payment_terms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("payment_terms_days: must be a whole number of days")
    if not 0 <= value <= MAX_PAYMENT_TERMS_DAYS:
        raise Invalid(f"payment_terms_days: 0 to {MAX_PAYMENT_TERMS_DAYS} days")
    return value


def check_address(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("address: must be text")
    lines = [line.strip() for line in value.replace("\r\n", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    if len(text) > MAX_ADDRESS:
        raise Invalid(f"address: at most {MAX_ADDRESS} characters")
    if any(unicodedata.category(c) == "Cc" and c != "\n" for c in text):
        raise Invalid("address: control characters other than line breaks are refused")
    return text


def check_node_fields(kind: NodeKind, values: Mapping[str, Any]) -> dict[str, Any]:
    """The checked values of the invoice fields present in `values`; None
    clears an optional field (text fields become empty)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "tax_rate":
            if value is not None and kind != NodeKind.CUSTOMER:
                raise Invalid("tax_rate: only customers carry a tax rate")
            out[key] = None if value is None else check_tax_rate(value)
        elif key == "currency":
            out[key] = None if value is None else check_currency(value)
        elif key == "time_zone":
            out[key] = None if value is None else check_time_zone(value)
        elif key == "payment_terms_days":
            out[key] = None if value is None else check_payment_terms(value)
        elif key == "address":
            out[key] = "" if value is None else check_address(value)
        elif key == "legal_name":
            out[key] = "" if value is None else _one_line(value, key, MAX_NAME, required=False)
        elif key == "tax_id":
            out[key] = "" if value is None else _one_line(value, key, MAX_TAX_ID, required=False)
        else:
            raise Invalid(f"{key}: not a field of a node")
    return out
