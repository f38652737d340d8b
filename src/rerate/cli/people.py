"""`rerate users invite|list|grant|revoke|deactivate|activate`, `rerate apikeys list|revoke`."""

from __future__ import annotations

import typer

from rerate.cli import context
from rerate.cli.acting import AS_USER, REASON, acting
from rerate.models.enums import Role

ROLE_HELP = ", ".join(r.value for r in Role)


def users_invite(
    email: str,
    role: Role = typer.Option(..., help=ROLE_HELP),
    node_id: int = typer.Option(..., help="The node the role is held on."),
    name: str = typer.Option("", help="Display name (default: the email)."),
    base_url: str = typer.Option(
        "", help="The console's address for the link (default http://RERATE_HOST:RERATE_PORT)."
    ),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """Invite EMAIL to hold ROLE on NODE_ID; prints the single-use acceptance link."""
    from rerate.tenancy import people

    with acting(as_user, reason=reason, write=True) as (session, principal):
        invitation, token = people.invite(
            session, principal, email=email, name=name or email, role=role, node_id=node_id
        )
        expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    s = context.settings()
    base = (base_url or f"http://{s.host}:{s.port}").rstrip("/")
    typer.echo(f"invited {email} as {role.value}; the link works once, until {expires}:", err=True)
    typer.echo(f"{base}/invitations/{token}")


def users_list(
    q: str = typer.Option("", "--q", "-q", help="Search email or name."),
    node_id: int | None = typer.Option(None, help="Only users holding a role on this node."),
    include_inactive: bool = typer.Option(False, help="Also deactivated users."),
    limit: int = typer.Option(100, min=1, max=10_000),
    offset: int = typer.Option(0, min=0),
    as_user: str = AS_USER,
) -> None:
    """Users in your subtree: id, email, name, status, roles (tab-separated)."""
    from rerate.tenancy import people

    with acting(as_user) as (session, principal):
        page = people.list_users(
            session,
            principal,
            q=q,
            node_id=node_id,
            include_inactive=include_inactive,
            limit=limit,
            offset=offset,
        )
        typer.echo("id\temail\tname\tstatus\troles")
        for user in page.items:
            roles = ", ".join(f"{a.role}@{a.node.name} (grant {a.id})" for a in user.roles)
            status = "active" if user.active else "inactive"
            typer.echo(f"{user.id}\t{user.email}\t{user.name}\t{status}\t{roles}")
    typer.echo(f"{len(page.items)} of {page.total}", err=True)


def users_grant(
    user_id: int,
    role: Role = typer.Option(..., help=ROLE_HELP),
    node_id: int = typer.Option(..., help="The node the role is held on."),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """Grant USER_ID a role on a node."""
    from rerate.tenancy import people

    with acting(as_user, reason=reason, write=True) as (session, principal):
        assignment = people.grant(session, principal, user_id, role=role, node_id=node_id)
        text = f"granted {role.value} on {assignment.node.name} (grant {assignment.id})"
    typer.echo(text)


def users_revoke(grant_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
    """Revoke a role assignment (its id is in `rerate users list`)."""
    from rerate.tenancy import people

    with acting(as_user, reason=reason, write=True) as (session, principal):
        assignment = people.revoke(session, principal, grant_id)
        text = f"revoked {assignment.role} on {assignment.node.name} (grant {grant_id})"
    typer.echo(text)


def _set_active(user_id: int, as_user: str, reason: str, active: bool) -> None:
    from rerate.tenancy import people

    with acting(as_user, reason=reason, write=True) as (session, principal):
        user = people.set_user_active(session, principal, user_id, active=active)
        email = user.email
    typer.echo(f"{email} {'activated' if active else 'deactivated'}")


def users_deactivate(user_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
    """Deactivate a user: sessions and API keys stop at once."""
    _set_active(user_id, as_user, reason, False)


def users_activate(user_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
    """Reactivate a user."""
    _set_active(user_id, as_user, reason, True)


def apikeys_list(
    user_id: int | None = typer.Option(
        None, "--user-id", help="Another user's keys (needs manage_users over them)."
    ),
    include_revoked: bool = typer.Option(True, help="Also revoked keys."),
    as_user: str = AS_USER,
) -> None:
    """API keys: id, prefix, owner, name, created, last used, revoked (tab-separated)."""
    from rerate.tenancy import keys

    def when(value: object) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"  # type: ignore[attr-defined]

    with acting(as_user) as (session, principal):
        page = keys.list_keys(
            session, principal, user_id=user_id, include_revoked=include_revoked, limit=10_000
        )
    typer.echo("id\tprefix\towner\tname\tcreated\tlast_used\trevoked")
    for k in page.items:
        typer.echo(
            f"{k.id}\t{k.prefix}\t{k.owner_email}\t{k.name}\t{when(k.created_at)}"
            f"\t{when(k.last_used_at)}\t{when(k.revoked_at)}"
        )


def apikeys_revoke(key_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
    """Revoke an API key: it stops working at once."""
    from rerate.tenancy import keys

    with acting(as_user, reason=reason, write=True) as (session, principal):
        view = keys.revoke_key(session, principal, key_id)
    typer.echo(f"revoked key {view.prefix}... of {view.owner_email}")
