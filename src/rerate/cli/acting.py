"""Run a CLI command as an application user (`--as EMAIL`), inside one
transaction, with user mistakes printed as one line and exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from rerate.cli import context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rerate.auth.permissions import Principal

err = Console(stderr=True)

AS_HELP = "Email of the user the command acts as (its roles decide what it may do)."

# Options the tenancy and people commands share (RERATE_AS saves typing --as each time).
AS_USER = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP + " Or set RERATE_AS.")
REASON = typer.Option("", help="Why; kept in the audit log.")


def fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(2)


@contextmanager
def acting(
    as_user: str, *, reason: str | None = None, write: bool = False
) -> Iterator[tuple[Session, Principal]]:
    """A session acting for `as_user` (audited as "cli:<os user> as <email>",
    with `reason`); commits when the block ends without error."""
    from rerate.auth import service as auth
    from rerate.kit.audit import set_session_actor
    from rerate.kit.errors import RerateError

    try:
        with context.database().session(write=write) as session:
            principal = auth.principal_for(
                session, auth.get_user_by_email(session, as_user), via="cli"
            )
            set_session_actor(session, context.cli_actor(principal), reason)
            yield session, principal
    except RerateError as exc:
        raise fail(exc.detail) from None
