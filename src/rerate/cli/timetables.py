"""`rerate timetables ...`: timetables, their rules and holidays, as versions."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path
from typing import Any

import typer

from rerate.cli.catalog_common import (
    AS_USER,
    REASON,
    acting,
    echo_json,
    parse_date,
    parse_instant,
    table,
)

app = typer.Typer(help="Timetables: bands, rules, holidays, versions.", no_args_is_help=True)

EFFECTIVE = typer.Option(
    ..., "--effective-from", help="ISO instant the new version takes effect (may be past)."
)


def _time(value: str, option: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("a local time, HH:MM", param_hint=option) from None


def _version_file(path: Path, effective_from: str, default_band: str | None) -> Any:
    """A version from JSON: {"default_band", "rules": [...], "holidays": [...], "note"}."""
    from rerate.timetables.service import HolidayIn, RuleIn, VersionIn

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rules = tuple(
            RuleIn(
                str(r["band"]),
                str(r["weekdays"]),
                _time(str(r["start"]), f"{path}: rules[{i}].start"),
                _time(str(r["end"]), f"{path}: rules[{i}].end"),
                int(r.get("priority", 0)),
            )
            for i, r in enumerate(data.get("rules", []), start=1)
        )
        holidays = tuple(
            HolidayIn(
                parse_date(str(h["day"]), f"{path}: holidays[{i}].day"),
                str(h["band"]),
                str(h.get("name", "")),
            )
            for i, h in enumerate(data.get("holidays", []), start=1)
        )
        band = default_band or data["default_band"]
        if not isinstance(band, str) or not band.strip():
            # str(None) would have stored a band literally named "None".
            raise ValueError(f"default_band: a band name is required, got {band!r}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise typer.BadParameter(f"{path}: {exc!s}", param_hint="--file") from None
    return VersionIn(
        default_band=band,
        effective_from=parse_instant(effective_from, "--effective-from"),
        rules=rules,
        holidays=holidays,
        note=str(data.get("note", "")),
    )


@app.command("create")
def create(
    owner: int = typer.Option(..., "--owner", help="Id of the owner node."),
    name: str = typer.Option(..., "--name"),
    tz: str = typer.Option(..., "--tz", help="IANA zone, e.g. Europe/Paris."),
    default_band: str = typer.Option(None, "--default-band", help="Band outside every rule."),
    effective_from: str = typer.Option("1970-01-01T00:00:00Z", "--effective-from"),
    file: Path = typer.Option(None, "--file", help="Version JSON (rules, holidays)."),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """Create a timetable with its first version."""
    from rerate.timetables import service

    if file is not None:
        version = _version_file(file, effective_from, default_band)
    elif default_band:
        version = service.VersionIn(
            default_band=default_band,
            effective_from=parse_instant(effective_from, "--effective-from"),
        )
    else:
        raise typer.BadParameter("give --default-band or --file", param_hint="--default-band")
    with acting(as_user, reason) as (session, principal):
        tt = service.create_timetable(
            session, principal, owner_node_id=owner, name=name, tz=tz, version=version
        )
        typer.echo(f"created timetable {tt.id} ({tt.name}, {tt.tz})")


@app.command("list")
def list_(
    q: str = typer.Option("", "--q", help="Search the name."),
    limit: int = typer.Option(50, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_user: str = AS_USER,
) -> None:
    """Timetables you can see: id, name, zone, owner, current version."""
    from rerate.timetables import service

    with acting(as_user) as (session, principal):
        rows, total = service.list_timetables(session, principal, q=q, limit=limit, offset=offset)
        table(
            [[t.id, t.name, t.tz, t.owner_node_id, len(t.versions)] for t in rows],
            ["id", "name", "tz", "owner", "versions"],
        )
        typer.echo(f"{total} in all")


@app.command("show")
def show(timetable_id: int, as_user: str = AS_USER) -> None:
    """The timetable and every version (JSON)."""
    from rerate.timetables import service

    with acting(as_user) as (session, principal):
        echo_json(service.view(service.get_timetable(session, principal, timetable_id)))


def _edit(
    timetable_id: int, effective_from: str, as_user: str, reason: str, note: str, change: Any
) -> None:
    from rerate.timetables import service

    instant = parse_instant(effective_from, "--effective-from")
    with acting(as_user, reason) as (session, principal):
        v = service.edit(
            session, principal, timetable_id, effective_from=instant, note=note, change=change
        )
        typer.echo(
            f"timetable {timetable_id}: version {v.version} from {v.effective_from.isoformat()}"
        )


@app.command("add-rule")
def add_rule(
    timetable_id: int,
    band: str = typer.Option(..., "--band"),
    weekdays: str = typer.Option(..., "--weekdays", help="Digits 0 (Mon) to 6 (Sun): 01234."),
    start: str = typer.Option(..., "--start", help="Local HH:MM."),
    end: str = typer.Option(..., "--end", help="Local HH:MM; <= start crosses midnight."),
    priority: int = typer.Option(0, "--priority"),
    effective_from: str = EFFECTIVE,
    note: str = typer.Option("", "--note"),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """New version: the one in force at --effective-from plus this rule."""
    from rerate.timetables import service

    rule = service.RuleIn(band, weekdays, _time(start, "--start"), _time(end, "--end"), priority)
    _edit(timetable_id, effective_from, as_user, reason, note, service.add_rule(rule))


@app.command("remove-rule")
def remove_rule(
    timetable_id: int,
    position: int = typer.Option(..., "--position", help="1-based, as `show` lists them."),
    effective_from: str = EFFECTIVE,
    note: str = typer.Option("", "--note"),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """New version without the rule at --position."""
    from rerate.timetables import service

    _edit(timetable_id, effective_from, as_user, reason, note, service.remove_rule(position))


@app.command("add-holiday")
def add_holiday(
    timetable_id: int,
    day: str = typer.Option(..., "--day", help="YYYY-MM-DD (local date)."),
    band: str = typer.Option(..., "--band"),
    name: str = typer.Option("", "--name"),
    effective_from: str = EFFECTIVE,
    note: str = typer.Option("", "--note"),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """New version with this holiday (replacing one on the same day)."""
    from rerate.timetables import service

    holiday = service.HolidayIn(parse_date(day, "--day"), band, name)
    _edit(timetable_id, effective_from, as_user, reason, note, service.add_holiday(holiday))


@app.command("remove-holiday")
def remove_holiday(
    timetable_id: int,
    day: str = typer.Option(..., "--day"),
    effective_from: str = EFFECTIVE,
    note: str = typer.Option("", "--note"),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    from rerate.timetables import service

    change = service.remove_holiday(parse_date(day, "--day"))
    _edit(timetable_id, effective_from, as_user, reason, note, change)


@app.command("set-default-band")
def set_default_band(
    timetable_id: int,
    band: str = typer.Option(..., "--band"),
    effective_from: str = EFFECTIVE,
    note: str = typer.Option("", "--note"),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    from rerate.timetables import service

    _edit(timetable_id, effective_from, as_user, reason, note, service.set_default_band(band))


@app.command("add-version")
def add_version(
    timetable_id: int,
    file: Path = typer.Option(..., "--file", help="Version JSON (default_band, rules, holidays)."),
    effective_from: str = EFFECTIVE,
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """A whole new version from a JSON file (docs/administration/contracts.md)."""
    from rerate.timetables import service

    version = _version_file(file, effective_from, None)
    with acting(as_user, reason) as (session, principal):
        v = service.add_version(session, principal, timetable_id, version)
        typer.echo(f"timetable {timetable_id}: version {v.version}")
