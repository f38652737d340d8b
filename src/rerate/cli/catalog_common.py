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

from rerate.cli import context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rerate.auth.permissions import Principal

console = Console(stderr=True)

AS_USER = typer.Option(
    ..., "--as", envvar="RERATE_AS", help="Email of the user acting (their roles apply)."
)
REASON = typer.Option("", "--reason", help="Why: recorded in the audit log.")


@contextmanager
def acting(as_user: str, reason: str = "") -> Iterator[tuple[Session, Principal]]:
    """A session acting as `as_user`, committed at the end; a refused change
    prints one line and exits 2, storing nothing."""
    from rerate.auth import service as auth
    from rerate.kit.audit import set_reason
    from rerate.kit.errors import RerateError

    try:
        with context.database().session() as session:
            principal = auth.principal_for(
                session, auth.get_user_by_email(session, as_user), via="cli"
            )
            context.act_as(session, principal)
            set_reason(session, reason)
            yield session, principal
    except RerateError as exc:
        console.print(f"error: {exc.detail}", markup=False, highlight=False)
        raise typer.Exit(2) from None


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
