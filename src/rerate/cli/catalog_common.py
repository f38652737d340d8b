"""What the catalog commands share: acting as a user, one-line errors, JSON out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from rerate.cli.acting import AS_USER as AS_USER
from rerate.cli.acting import acting as shared_acting

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rerate.auth.permissions import Principal

console = Console(stderr=True)

REASON = typer.Option("", "--reason", help="Why: recorded in the audit log.")


@contextmanager
def acting(as_user: str, reason: str = "") -> Iterator[tuple[Session, Principal]]:
    """cli/acting.py's session for `as_user`, with the catalog commands' `--reason`."""
    with shared_acting(as_user, reason=reason or None) as acted:
        yield acted


def parse_instant(value: str, option: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            "an ISO instant, e.g. 2026-08-16T00:00:00Z", param_hint=option
        ) from None
    if instant.tzinfo is None:
        raise typer.BadParameter("give a UTC offset, e.g. 2026-08-16T00:00:00Z", param_hint=option)
    return instant


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("a date, YYYY-MM-DD", param_hint=option) from None


def parse_decimal(value: str, option: str) -> Decimal:
    from decimal import InvalidOperation

    try:
        out = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter("a decimal number, e.g. 12.5", param_hint=option) from None
    if not out.is_finite():
        raise typer.BadParameter("a decimal number, e.g. 12.5", param_hint=option)
    return out


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=_plain, ensure_ascii=False))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(type(value).__name__)


def table(rows: list[list[Any]], header: list[str]) -> None:
    typer.echo("\t".join(header))
    for row in rows:
        typer.echo("\t".join("" if v is None else str(v) for v in row))
