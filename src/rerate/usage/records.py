"""Usage records posted as JSON (`POST /api/v1/usage/records`).

The client owns `record_id`: posting the same record twice is idempotent,
posting it with a different content is a correction. Quantities and money
are JSON strings (`"0.0456"`) or, from Python callers, `Decimal`: a JSON
number is refused, as a float has already lost the cents it was meant to
carry. Record ids are built as `api:<namespace>:<record_id>` and stored scoped
to their account by the import service (usage/resolve.py), so two tenants'
ids cannot collide whatever namespace they send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Self

import duckdb
import numpy as np
import pyarrow as pa
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from rerate.kit import bounds
from rerate.kit.money import to_row_scale
from rerate.kit.numbering import NumberingRules
from rerate.usage.e164 import normalize
from rerate.usage.errors import ImportRejected
from rerate.usage.importers.base import ParseResult, assemble, duck, json_lookup
from rerate.usage.schema import DECIMAL, TIMESTAMP, UsageKind, UsageSource


def _no_json_numbers(value: Any) -> Any:
    """Refuse floats (and ints, for one rule: money and quantities are strings)."""
    if isinstance(value, bool | int | float):
        raise ValueError('must be a decimal string such as "1.25", not a JSON number')
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = Decimal(text)
        except ArithmeticError:
            raise ValueError(f"not a decimal number: {value!r}") from None
        if not parsed.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return parsed
    return value


DecimalText = Annotated[Decimal, BeforeValidator(_no_json_numbers)]
UsageInstant = Annotated[
    AwareDatetime, AfterValidator(lambda v: bounds.check_usage_instant(v, "instant"))
]
Text = Annotated[str, Field(min_length=1, max_length=256)]


class UsageRecordIn(BaseModel):
    """One usage record as posted by a client."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    record_id: Text
    kind: UsageKind
    account_ref: Text
    usage_start: UsageInstant
    usage_end: UsageInstant
    # cloud
    service: Text | None = None
    sku: Text | None = None
    region: Text | None = None
    quantity: DecimalText | None = None
    unit: Text | None = None
    list_cost: DecimalText | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    # cdr
    calling_number: Annotated[str, Field(max_length=64)] | None = None
    called_number: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    duration_seconds: Annotated[int, Field(ge=0, le=7 * 86_400)] | None = None
    billable_seconds: Annotated[int, Field(ge=0, le=7 * 86_400)] | None = None
    disposition: Annotated[str, Field(max_length=32)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.usage_end < self.usage_start:
            raise ValueError("usage_end is before usage_start")
        if self.quantity is not None and self.quantity < 0:
            raise ValueError("quantity is negative")
        if self.kind is UsageKind.CLOUD:
            if self.sku is None or self.quantity is None:
                raise ValueError("a cloud record needs sku and quantity")
        elif (
            self.called_number is None
            or self.billable_seconds is None
            or self.duration_seconds is None
        ):
            raise ValueError(
                "a cdr record needs called_number, duration_seconds and billable_seconds"
            )
        if self.list_cost is not None and self.currency is None:
            raise ValueError("list_cost needs a currency")
        for name in ("quantity", "list_cost"):
            value: Decimal | None = getattr(self, name)
            if value is not None and value.adjusted() >= 27:
                raise ValueError(f"{name} is too large")
        return self


def records_to_table(
    records: Sequence[UsageRecordIn],
    *,
    namespace: str = "",
    country_code: str | None = None,
    numbering: NumberingRules | None = None,
) -> ParseResult:
    """Canonical rows for a validated batch; `line` = position in the batch (1-based)."""
    if ":" in namespace:
        # The caller's input, so a rejection (4xx), not a programming error.
        raise ImportRejected("request", 0, "namespace", "must not contain ':'")
    n = len(records)
    # `numbering` wins; `country_code` alone is the pre-issue-13 interface.
    rules = numbering or NumberingRules(country_code=country_code)

    def strings(name: str) -> pa.Array:
        return pa.array([getattr(r, name) for r in records], pa.string())

    def decimals(name: str) -> pa.Array:
        values: list[Decimal | None] = [getattr(r, name) for r in records]
        return pa.array([None if v is None else to_row_scale(v) for v in values], DECIMAL)

    def ints(name: str) -> pa.Array:
        return pa.array([getattr(r, name) for r in records], pa.int64())

    columns: Mapping[str, pa.Array] = {
        "kind": pa.array([r.kind.value for r in records], pa.string()),
        "account_ref": strings("account_ref"),
        "usage_start": pa.array([r.usage_start for r in records], TIMESTAMP),
        "usage_end": pa.array([r.usage_end for r in records], TIMESTAMP),
        "service": strings("service"),
        "sku": strings("sku"),
        "region": strings("region"),
        "quantity": decimals("quantity"),
        "unit": strings("unit"),
        "list_cost": decimals("list_cost"),
        "currency": strings("currency"),
        "calling_number": strings("calling_number"),
        "called_number": strings("called_number"),
        "destination": pa.array(
            [normalize(r.called_number, rules=rules) for r in records], pa.string()
        ),
        "duration_seconds": ints("duration_seconds"),
        "billable_seconds": ints("billable_seconds"),
        "disposition": pa.array(
            [r.disposition.upper() if r.disposition else None for r in records], pa.string()
        ),
    }
    con: duckdb.DuckDBPyConnection = duck()
    try:
        table = assemble(
            con,
            columns,
            good=np.ones(n, dtype=np.bool_),
            source=UsageSource.API,
            kind=UsageKind.CLOUD,  # overridden per row by columns["kind"]
            namespace=namespace,
            identity=[],
            source_id=strings("record_id"),
        )
    finally:
        con.close()
    dumped = [r.model_dump(mode="json") for r in records]
    return ParseResult(
        table=table,
        line_numbers=np.arange(1, n + 1, dtype=np.int64),
        rejects=[],
        rows_read=n,
        file="request",
        account_column="account_ref",
        raw_lookup=json_lookup(dumped),
    )
