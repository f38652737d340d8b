"""`rerate init`: the first platform node and its first administrator.

An empty database has no tenancy tree, and every other object (distributors,
users, price books) hangs from a node someone may act on. `init` creates the
root once; everything after it is done through the API, console or CLI as
that administrator.
"""

from __future__ import annotations

import typer
from rich.console import Console

from rerate.cli import context

console = Console(stderr=True)


def init(
    admin_email: str = typer.Option(..., "--admin-email", help="The first platform admin."),
    admin_name: str = typer.Option("", "--admin-name", help="Display name."),
    platform_name: str = typer.Option("Platform", "--platform-name", help="The root node."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="RERATE_ADMIN_PASSWORD",
        help="At least RERATE_PASSWORD_MIN_LENGTH (10) characters; not a common password.",
    ),
) -> None:
    """Create the platform node and its first platform admin in an empty database."""
    from sqlalchemy import select

    from rerate.auth import service as auth
    from rerate.kit.errors import Invalid
    from rerate.models import Node
    from rerate.models.enums import NodeKind, Role
    from rerate.tenancy.service import create_node

    with context.database().write_session() as session:
        if session.scalar(select(Node.id).limit(1)) is not None:
            console.print(
                "error: the database already has a tenancy tree; "
                "add users with `rerate users invite` or `rerate users create`"
            )
            raise typer.Exit(2)
        try:
            platform = create_node(session, NodeKind.PLATFORM, name=platform_name, parent=None)
            user = auth.create_user(
                session,
                admin_email,
                name=admin_name or admin_email,
                password=password,
                min_password_length=context.settings().password_min_length,
            )
        except Invalid as exc:
            session.rollback()
            console.print(f"error: {exc.detail}")
            raise typer.Exit(2) from None
        auth.assign_role(session, user, role=Role.PLATFORM_ADMIN, node=platform)
        platform_id, email = platform.id, user.email
    console.print(
        f"created platform node {platform_name!r} (id {platform_id}) and platform admin {email}; "
        "log in at /login or create an API key with `rerate apikeys create --user EMAIL`"
    )
