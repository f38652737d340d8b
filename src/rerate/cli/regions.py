"""`rerate regions list|show|create|update|delete|collect`: regions and their usage collection.

Secrets are write-only here too: `--secret` takes a value (sealed at rest) or
`env:NAME`; `--secret-stdin` reads it from standard input so it stays out of
the shell history; nothing prints a stored secret.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from rerate.cli import context
from rerate.cli.acting import AS_USER, REASON, acting, fail

regions_app = typer.Typer(help="Regions and their usage collection.", no_args_is_help=True)
out = Console()


def _key() -> bytes:
    from rerate.collection import secrets

    s = context.settings()
    return secrets.load_key(s.data_dir, s.secret_key)


def _settings(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise fail(f"--settings: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise fail('--settings: a JSON object, e.g. \'{"endpoint": "https://..."}\'')
    return value


def _secret(secret: str | None, from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return secret


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{name}: not a date (YYYY-MM-DD): {text!r}") from None


def _print(view: dict[str, Any]) -> None:
    for key in ("id", "code", "name", "platform", "owner_name", "enabled", "secret",
                "collected_through"):  # fmt: skip
        typer.echo(f"{key}: {view[key] if view[key] is not None else '-'}")
    typer.echo(f"settings: {json.dumps(view['settings'], sort_keys=True)}")


@regions_app.command("list")
def list_(as_user: str = AS_USER) -> None:
    """Regions you may see, with their platform and how far they are collected."""
    from rerate.collection import service

    with acting(as_user) as (session, principal):
        views = [service.region_view(r) for r in service.list_regions(session, principal)]
    table = Table(
        "id", "code", "name", "platform", "owner", "enabled", "secret", "collected through"
    )
    for v in views:
        table.add_row(
            str(v["id"]), v["code"], v["name"], v["platform"] or "-", v["owner_name"] or "-",
            "yes" if v["enabled"] else "no", v["secret"], str(v["collected_through"] or "-"),
        )  # fmt: skip
    out.print(table)


@regions_app.command("show")
def show(region_id: int, as_user: str = AS_USER) -> None:
    """One region (its secret is never shown)."""
    from rerate.collection import service

    with acting(as_user) as (session, principal):
        view = service.region_view(service.get_region(session, principal, region_id))
    _print(view)


@regions_app.command("create")
def create(
    code: str = typer.Option(..., help="Region code, e.g. ch-gva-1."),
    platform: str = typer.Option(..., help="azure_stack, azure_local, public_azure, cloudstack."),
    name: str = typer.Option("", help="Display name (default: the code)."),
    settings: str = typer.Option("{}", help="Connection settings, JSON (docs/collection.md)."),
    secret: str = typer.Option(None, help="A secret value (sealed at rest) or env:NAME."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the secret from stdin."),
    owner: int = typer.Option(None, "--owner", help="Owning node id (default: the platform)."),
    cron: str = typer.Option("30 3 * * *", help="Daily collection schedule, cron in UTC."),
    disabled: bool = typer.Option(False, "--disabled", help="Create it without its schedule."),
    reason: str = REASON,
    as_user: str = AS_USER,
) -> None:
    """Configure a region's usage source and its daily collection."""
    from rerate.collection import service

    value = _secret(secret, secret_stdin)
    with acting(as_user, reason=reason, write=True) as (session, principal):
        record = service.create_region(
            session,
            principal,
            code=code,
            name=name,
            platform=platform,
            settings=_settings(settings) or {},
            secret=value,
            secret_key=_key(),
            owner_node_id=owner,
            enabled=not disabled,
            cron=cron,
        )
        view = service.region_view(record)
    typer.echo(f"created region {view['id']} {view['code']} ({view['platform']})")


@regions_app.command("update")
def update(
    region_id: int,
    name: str = typer.Option(None, help="New display name."),
    settings: str = typer.Option(None, help="New settings, JSON (replaces them whole)."),
    secret: str = typer.Option(None, help="New secret value or env:NAME."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the secret from stdin."),
    clear_secret: bool = typer.Option(False, "--clear-secret", help="Remove the secret."),
    enable: bool = typer.Option(None, "--enable/--disable", help="Turn collection on or off."),
    cron: str = typer.Option(None, help="New daily schedule, cron in UTC."),
    owner: int = typer.Option(None, "--owner", help="New owning node id."),
    reason: str = REASON,
    as_user: str = AS_USER,
) -> None:
    """Change a region's settings, secret, owner or schedule."""
    from rerate.collection import service

    value = _secret(secret, secret_stdin)
    with acting(as_user, reason=reason, write=True) as (session, principal):
        record = service.update_region(
            session,
            principal,
            region_id,
            secret_key=_key(),
            name=name,
            settings=_settings(settings),
            secret=value,
            clear_secret=clear_secret,
            enabled=enable,
            cron=cron,
            owner_node_id=owner,
        )
        view = service.region_view(record)
    _print(view)


@regions_app.command("delete")
def delete(region_id: int, reason: str = REASON, as_user: str = AS_USER) -> None:
    """Remove a region that never collected anything (otherwise: --disable it)."""
    from rerate.collection import service

    with acting(as_user, reason=reason, write=True) as (session, principal):
        service.delete_region(session, principal, region_id)
    typer.echo(f"deleted region {region_id}")


@regions_app.command("collect")
def collect(
    region_id: int,
    start: str = typer.Option(..., help="First UTC day collected (YYYY-MM-DD)."),
    end: str = typer.Option(..., help="The day after the last one: the range is [start, end)."),
    as_user: str = AS_USER,
) -> None:
    """Queue the region's collection for a date range (the daily schedule's job);
    `rerate jobs show ID` follows it."""
    from rerate.collection import service

    first, after = _day(start, "--start"), _day(end, "--end")
    with acting(as_user, write=True) as (session, principal):
        job = service.request_collection(
            session, principal, region_id, start=first, end=after, actor_label=principal.email
        )
        job_id = job.id
    typer.echo(f"queued job {job_id}: collect region {region_id}, {first} to {after} (excl.)")
