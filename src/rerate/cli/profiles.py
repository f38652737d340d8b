"""`rerate profiles ...`: consumption profiles, their versions and assignments."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import typer

from rerate.cli.catalog_common import (
    AS_USER,
    REASON,
    acting,
    echo_json,
    parse_decimal,
    parse_instant,
    table,
)
from rerate.profiles.service import VersionIn

if TYPE_CHECKING:  # the models load only for the commands that use them
    from rerate.profiles.service import VersionIn

app = typer.Typer(
    help="Consumption profiles and their assignment to accounts.", no_args_is_help=True
)


def _tiers(values: list[str]) -> tuple[tuple[Decimal, Decimal], ...]:
    out = []
    for value in values:
        q, sep, r = value.partition(":")
        if not sep:
            raise typer.BadParameter("FROM:RATE, e.g. 0:0.05", param_hint="--tier")
        out.append((parse_decimal(q, "--tier"), parse_decimal(r, "--tier")))
    return tuple(out)


def _version(
    effective_from: str, included: str, tier_mode: str, tier: list[str], scope: str, note: str
) -> VersionIn:
    from rerate.profiles.service import VersionIn

    return VersionIn(
        effective_from=parse_instant(effective_from, "--effective-from"),
        included_quantity=parse_decimal(included, "--included"),
        tier_mode=tier_mode,
        tiers=_tiers(tier),
        scope=scope,
        note=note,
    )


INCLUDED = typer.Option("0", "--included", help="Included minutes or units per period.")
TIER_MODE = typer.Option("none", "--tier-mode", help="none, graduated or volume.")
TIER = typer.Option([], "--tier", help="FROM:RATE; repeat; the first starts at 0.")
SCOPE = typer.Option("", "--scope", help="minutes: destination-group prefix; units: the SKU.")


@app.command("create")
def create(
    owner: int = typer.Option(..., "--owner", help="Id of the owner node."),
    name: str = typer.Option(..., "--name"),
    unit: str = typer.Option(..., "--unit", help="minutes (CDRs) or units (one cloud SKU)."),
    included: str = INCLUDED,
    tier_mode: str = TIER_MODE,
    tier: list[str] = TIER,
    scope: str = SCOPE,
    effective_from: str = typer.Option("1970-01-01T00:00:00Z", "--effective-from"),
    note: str = typer.Option("", "--note"),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """Create a profile with its first version."""
    from rerate.profiles import service

    version = _version(effective_from, included, tier_mode, tier, scope, note)
    with acting(as_user, reason) as (session, principal):
        profile = service.create_profile(
            session, principal, owner_node_id=owner, name=name, unit=unit, version=version
        )
        typer.echo(f"created profile {profile.id} ({profile.name}, {profile.unit})")


@app.command("add-version")
def add_version(
    profile_id: int,
    effective_from: str = typer.Option(..., "--effective-from"),
    included: str = INCLUDED,
    tier_mode: str = TIER_MODE,
    tier: list[str] = TIER,
    scope: str = SCOPE,
    note: str = typer.Option("", "--note"),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """New terms from --effective-from (a period uses the version in force at its start)."""
    from rerate.profiles import service

    version = _version(effective_from, included, tier_mode, tier, scope, note)
    with acting(as_user, reason) as (session, principal):
        v = service.add_version(session, principal, profile_id, version)
        typer.echo(f"profile {profile_id}: version {v.version}")


@app.command("list")
def list_(
    q: str = typer.Option("", "--q"),
    limit: int = typer.Option(50, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_user: str = AS_USER,
) -> None:
    from rerate.profiles import service

    with acting(as_user) as (session, principal):
        rows, total = service.list_profiles(session, principal, q=q, limit=limit, offset=offset)
        table(
            [[p.id, p.name, p.unit, p.owner_node_id, len(p.versions)] for p in rows],
            ["id", "name", "unit", "owner", "versions"],
        )
        typer.echo(f"{total} in all")


@app.command("show")
def show(profile_id: int, as_user: str = AS_USER) -> None:
    """The profile, its versions and assignments (JSON)."""
    from rerate.profiles import service

    with acting(as_user) as (session, principal):
        profile = service.get_profile(session, principal, profile_id)
        out = service.view(profile)
        out["assignments"] = [
            service.assignment_view(a) for a in service.assignments(session, principal, profile_id)
        ]
        echo_json(out)


@app.command("assign")
def assign(
    profile_id: int,
    account: int = typer.Option(..., "--account", help="Account id."),
    valid_from: str = typer.Option(..., "--from", help="ISO instant."),
    valid_to: str = typer.Option(None, "--to", help="ISO instant, exclusive; none: open."),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """Assign the profile to an account (never overlapping its other assignments)."""
    from rerate.profiles import service

    start = parse_instant(valid_from, "--from")
    end = parse_instant(valid_to, "--to") if valid_to else None
    with acting(as_user, reason) as (session, principal):
        link = service.assign(
            session, principal, profile_id, account_id=account, valid_from=start, valid_to=end
        )
        typer.echo(f"assignment {link.id}: account {account} uses profile {profile_id}")


@app.command("end-assignment")
def end_assignment(
    assignment_id: int,
    valid_to: str = typer.Option(..., "--to", help="ISO instant the assignment ends."),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    from rerate.profiles import service

    end = parse_instant(valid_to, "--to")
    with acting(as_user, reason) as (session, principal):
        service.end_assignment(session, principal, assignment_id, valid_to=end)
        typer.echo(f"assignment {assignment_id} ends at {end.isoformat()}")
