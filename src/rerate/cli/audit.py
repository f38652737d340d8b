"""`rerate audit list`: the audit trail, filtered, newest first."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from rerate.cli.acting import AS_HELP, acting, fail

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
out = Console(width=200)


def _instant(text: str | None, option: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    from rerate.kit import bounds

    if text is None:
        return None
    try:
        return bounds.check_instant(datetime.fromisoformat(text.replace("Z", "+00:00")), option)
    except ValueError as exc:
        raise fail(f"{option}: {exc}" if option not in str(exc) else str(exc)) from None


@audit_app.command("list")
def list_(
    object_type: str | None = typer.Option(None, "--object-type", help="e.g. accounts, nodes."),
    object_id: str | None = typer.Option(None, "--object-id"),
    actor: str | None = typer.Option(None, "--actor", help="Part of the actor (an email)."),
    since: str | None = typer.Option(None, "--from", help="From this instant (ISO 8601)."),
    until: str | None = typer.Option(None, "--to", help="Before this instant (ISO 8601)."),
    limit: int = typer.Option(50, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP),
) -> None:
    """Entries about objects in your subtree (platform: all), newest first."""
    from rerate.audit import service

    f = service.AuditFilter(
        object_type, object_id, actor, _instant(since, "--from"), _instant(until, "--to")
    )
    with acting(as_user) as (session, principal):
        entries, total = service.list_entries(session, principal, f, limit=limit, offset=offset)
        rows = [
            (
                e.at.isoformat(timespec="seconds"),
                e.actor,
                e.action,
                e.object_type,
                e.object_id,
                e.reason,
                e.changes,
            )
            for e in entries
        ]
    table = Table("at", "actor", "action", "object", "id", "reason", "changes")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    out.print(f"{len(rows)} of {total}")
