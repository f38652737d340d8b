"""Declarative base and the column types every model shares.

`DecimalType` keeps money exact on both databases: PostgreSQL stores NUMERIC,
SQLite (which would silently turn NUMERIC into a float) stores the decimal's
text. `UTCDateTime` refuses naive datetimes and always returns aware UTC ones.
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, Numeric, String
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    # Column names the audit log does not record (high-churn bookkeeping).
    __audit_ignore__: frozenset[str] = frozenset()
    # Models that are not audited at all (the audit log itself, sessions).
    __audited__: bool = True
    # Secret columns: the log records that they changed, never their value
    # (kit.audit.is_secret also redacts any `*_hash`, `*password*`, `*secret*`).
    __audit_redact__: frozenset[str] = frozenset()


# NUMERIC(38, s) holds 38 digits; Python's default context only 28.
_WIDE = decimal.Context(prec=60)


class DecimalType(TypeDecorator[Decimal]):
    """Exact decimal on every dialect. Never accepts a float."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 38, scale: int = 10) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale

    def __repr__(self) -> str:  # what Alembic's autogenerate writes into migrations
        return f"DecimalType({self.precision}, {self.scale})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money and quantities are Decimal, never float")
        value = Decimal(value)
        # The same text on every dialect (PostgreSQL pads NUMERIC to its
        # scale; so do we), and never a silent loss of digits.
        quantized = _WIDE.quantize(value, Decimal(1).scaleb(-self.scale))
        if quantized != value:
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return format(quantized, "f") if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value) if not isinstance(value, Decimal) else value


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("naive datetime: rerate stores aware UTC instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def utcnow() -> datetime:
    return datetime.now(UTC)
