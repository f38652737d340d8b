"""Field types for path, query and body values, bounded to what rerate can hold.

Each works as a path parameter, a query parameter and a model field alike,
and its bounds show in the OpenAPI schema, so a client (or a fuzzer) learns
them from `/openapi.json` instead of from a 500. The checks themselves live
in `rerate.kit.bounds`, shared with the services.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import annotated_types as at
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from rerate.kit import bounds

Id = Annotated[int, at.Interval(ge=1, le=bounds.MAX_ID)]
"""A row id: 1 to 2**31-1 (INTEGER on PostgreSQL)."""

Offset = Annotated[int, at.Interval(ge=0, le=bounds.INT64_MAX)]
"""How many items a page skips."""

Period = Annotated[
    str,
    Field(
        pattern=bounds.PERIOD_PATTERN,
        examples=["2026-08"],
        description=f"A billing month, YYYY-MM ({bounds.MIN_YEAR}-01 to {bounds.MAX_YEAR}-12).",
    ),
]

BillingDate = Annotated[
    date,
    AfterValidator(lambda v: bounds.check_year(v, "date")),
    Field(description=f"A calendar date, years {bounds.MIN_YEAR} to {bounds.MAX_YEAR}."),
]

Instant = Annotated[
    datetime,
    AfterValidator(lambda v: bounds.check_instant(v, "instant")),
    Field(
        description=f"An instant with its UTC offset, years {bounds.MIN_YEAR} to "
        f"{bounds.MAX_YEAR} in UTC.",
        examples=["2026-09-01T02:00:00Z"],
    ),
]


def decimal_text(value: Any) -> Any:
    """A decimal string (or a whole JSON number); a JSON float has already lost
    the cents it was meant to carry, so it is refused."""
    if isinstance(value, bool | float):
        raise ValueError('must be a decimal string such as "250.00", not a JSON float')
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value[:40]!r}") from None
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(decimal_text),
    AfterValidator(lambda v: bounds.check_row_amount(v, "amount")),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]{1,9}(\.[0-9]{1,10})?$",
            "examples": ["250.00"],
            "description": f"A decimal string, at most {bounds.MAX_ROW_AMOUNT} in absolute "
            "value and 10 decimal places.",
        }
    ),
]
"""Money or a quantity on one engine row: a decimal string within MAX_ROW_AMOUNT."""
