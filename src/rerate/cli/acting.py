"""Commands that act for an application user (`--as EMAIL`, or RERATE_AS).

The user's roles decide, exactly as over the API; a refusal prints one line
(`error: ...`) and exits with code 2, never a traceback.
"""

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

console = Console(stderr=True)

AS_USER = typer.Option(
    ..., "--as", envvar="RERATE_AS", help="Email of the user acting (or set RERATE_AS)."
)
REASON = typer.Option("", help="Why; kept in the audit log.")


def fail(message: str) -> typer.Exit:
    console.print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(2)


@contextmanager
def acting(as_user: str, *, reason: str = "") -> Iterator[tuple[Session, Principal]]:
    """A unit of work for `as_user`, committed when the block ends without error."""
    from rerate.auth import service as auth
    from rerate.kit.audit import set_session_actor
    from rerate.kit.errors import RerateError

    try:
        with context.database().write_session() as session:
            principal = auth.principal_for(
                session, auth.get_user_by_email(session, as_user), via="cli"
            )
            set_session_actor(session, context.cli_actor(principal), reason)
            yield session, principal
    except RerateError as exc:
        raise fail(exc.detail) from None
