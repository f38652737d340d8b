"""`rerate settings show|set|unset --node ID`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from rerate.cli.acting import AS_HELP, acting, fail

settings_app = typer.Typer(
    help="Settings in force on a node, and their overrides.", no_args_is_help=True
)
out = Console()


def _key(name: str):  # type: ignore[no-untyped-def]
    from rerate.models.enums import SettingKey

    try:
        return SettingKey(name)
    except ValueError:
        known = ", ".join(k.value for k in SettingKey)
        raise fail(f"no setting {name!r}; settings: {known}") from None


@settings_app.command("show")
def show(
    node: int = typer.Option(..., "--node", help="Node id."),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP),
) -> None:
    """Each setting's value on the node, and where it comes from."""
    from rerate.auth.permissions import Permission
    from rerate.settings import service
    from rerate.settings.endpoints import node_setting_view
    from rerate.tenancy.service import get_node

    with acting(as_user) as (session, principal):
        target = get_node(session, principal, node, Permission.VIEW)
        views = [node_setting_view(target, e) for e in service.effective_settings(session, target)]
        title = f"{target.name} ({target.kind} {target.id})"
    table = Table("setting", "value", "set here", "from", "policy of", title=title)
    for v in views:
        table.add_row(
            v.key,
            v.value,
            "yes" if v.set_here else "inherited",
            v.source["label"],
            v.owner if v.policy else "",
        )
    out.print(table)


@settings_app.command("set")
def set_(
    key: str = typer.Argument(..., help="The setting, e.g. UseOverlapUsageSelection."),
    value: str = typer.Argument(..., help="true or false."),
    node: int = typer.Option(..., "--node", help="Node id."),
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP),
) -> None:
    """Override a setting on the node."""
    from rerate.auth.permissions import Permission
    from rerate.settings import service
    from rerate.tenancy.service import get_node

    setting = _key(key)
    with acting(as_user, reason=reason, write=True) as (session, principal):
        target = get_node(session, principal, node, Permission.MANAGE_SETTINGS)
        service.set_setting(session, principal, setting, value=value, node=target)
        effective = service.resolve(session, setting, target)
        line = (
            f"{setting.value} = {effective.value} on {target.name} (from {effective.source.label})"
        )
    typer.echo(line)


@settings_app.command("unset")
def unset(
    key: str = typer.Argument(..., help="The setting."),
    node: int = typer.Option(..., "--node", help="Node id."),
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP),
) -> None:
    """Remove the node's override: the value is inherited again."""
    from rerate.auth.permissions import Permission
    from rerate.settings import service
    from rerate.tenancy.service import get_node

    setting = _key(key)
    with acting(as_user, reason=reason, write=True) as (session, principal):
        target = get_node(session, principal, node, Permission.MANAGE_SETTINGS)
        effective = service.unset_setting(session, principal, setting, node=target)
        line = (
            f"{setting.value} cleared on {target.name}: now {effective.value} "
            f"(from {effective.source.label})"
        )
    typer.echo(line)
