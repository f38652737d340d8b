"""Timetables: bands by weekday and time of day, holidays, and versions.

A timetable is a name, an IANA zone and an owner node; what it says (default
band, rules, holidays) is a version in force from `effective_from` until the
next version's. An edit never changes a version: it writes a new one, copied
from the version in force at the new instant with the change applied, so a
billed period can be rated again exactly as before, and a version effective
in the past (a correction) is picked up by recalculating the periods it
touches. Every change is audited by the session hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.catalog import owned
from rerate.kit import bounds
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.models import Holiday, Node, Timetable, TimetableRule, TimetableVersion
from rerate.rating import plan as p

MAX_RULES = 200
MAX_HOLIDAYS = 2000


@dataclass(frozen=True, slots=True)
class RuleIn:
    """`band` applies on `weekdays` (digits 0=Mon..6=Sun) from `start` to
    `end` local time; end <= start crosses midnight, end == start is all day."""

    band: str
    weekdays: str
    start: time
    end: time
    priority: int = 0


@dataclass(frozen=True, slots=True)
class HolidayIn:
    day: date
    band: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class VersionIn:
    """A complete version: what a timetable says from `effective_from` on."""

    default_band: str
    effective_from: datetime
    rules: tuple[RuleIn, ...] = ()
    holidays: tuple[HolidayIn, ...] = ()
    note: str = ""


def create_timetable(
    session: Session,
    principal: Principal,
    *,
    owner_node_id: int,
    name: str,
    tz: str,
    version: VersionIn,
) -> Timetable:
    owner = owned.owner_node(session, principal, owner_node_id, Permission.MANAGE_CATALOG)
    return new_timetable(session, owner, name=name, tz=tz, version=version)


def new_timetable(
    session: Session, owner: Node, *, name: str, tz: str, version: VersionIn
) -> Timetable:
    """Create a timetable for `owner` (the caller has been checked, or is the demo loader)."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"tz: {tz[:64]!r} is not an IANA time zone (e.g. Europe/Paris)") from None
    tt = Timetable(name=owned.check_name(name), tz=tz, owner_node_id=owner.id)
    session.add(tt)
    session.flush()
    _write_version(session, tt, version)
    return tt


def get_timetable(
    session: Session,
    principal: Principal,
    timetable_id: int,
    permission: Permission = Permission.VIEW,
) -> Timetable:
    tt = session.get(Timetable, timetable_id)
    if tt is None:
        raise NotFound("not found")
    owned.owner_node(session, principal, tt.owner_node_id, permission)
    return tt


def list_timetables(
    session: Session, principal: Principal, *, q: str = "", limit: int = 50, offset: int = 0
) -> tuple[list[Timetable], int]:
    return owned.page(
        session,
        principal,
        Timetable,
        Timetable.owner_node_id,
        Timetable.name,
        q=q,
        limit=limit,
        offset=offset,
    )


def add_version(
    session: Session, principal: Principal, timetable_id: int, version: VersionIn
) -> TimetableVersion:
    """A whole new version (replaces every rule and holiday from its instant)."""
    tt = get_timetable(session, principal, timetable_id, Permission.MANAGE_CATALOG)
    return _write_version(session, tt, version)


def edit(
    session: Session,
    principal: Principal,
    timetable_id: int,
    *,
    effective_from: datetime,
    note: str,
    change: Callable[[VersionIn], VersionIn],
) -> TimetableVersion:
    """A new version effective from `effective_from`: the version in force at
    that instant, changed by `change`."""
    tt = get_timetable(session, principal, timetable_id, Permission.MANAGE_CATALOG)
    instant = owned.effective_instant(effective_from)
    base = owned.in_force(tt.versions, instant) or tt.versions[0]
    copied = replace(as_input(base), effective_from=instant, note=note)
    return _write_version(session, tt, change(copied))


def add_rule(rule: RuleIn) -> Callable[[VersionIn], VersionIn]:
    return lambda v: replace(v, rules=(*v.rules, rule))


def remove_rule(position: int) -> Callable[[VersionIn], VersionIn]:
    """Remove the rule at `position` (1-based, in listed order)."""

    def change(v: VersionIn) -> VersionIn:
        if not 1 <= position <= len(v.rules):
            raise Invalid(f"rule: there is no rule {position} (the version has {len(v.rules)})")
        return replace(v, rules=v.rules[: position - 1] + v.rules[position:])

    return change


def add_holiday(holiday: HolidayIn) -> Callable[[VersionIn], VersionIn]:
    def change(v: VersionIn) -> VersionIn:
        kept = tuple(h for h in v.holidays if h.day != holiday.day)
        return replace(v, holidays=tuple(sorted((*kept, holiday), key=lambda h: h.day)))

    return change


def remove_holiday(day: date) -> Callable[[VersionIn], VersionIn]:
    def change(v: VersionIn) -> VersionIn:
        if all(h.day != day for h in v.holidays):
            raise Invalid(f"day: {day.isoformat()} is not a holiday of that version")
        return replace(v, holidays=tuple(h for h in v.holidays if h.day != day))

    return change


def set_default_band(band: str) -> Callable[[VersionIn], VersionIn]:
    return lambda v: replace(v, default_band=band)


def as_input(version: TimetableVersion) -> VersionIn:
    return VersionIn(
        default_band=version.default_band,
        effective_from=version.effective_from,
        rules=tuple(
            RuleIn(r.band, r.weekdays, r.start_time, r.end_time, r.priority)
            for r in sorted(version.rules, key=lambda r: r.position)
        ),
        holidays=tuple(HolidayIn(h.day, h.band, h.name) for h in version.holidays),
        note=version.note,
    )


def _write_version(session: Session, tt: Timetable, data: VersionIn) -> TimetableVersion:
    instant = owned.effective_instant(data.effective_from)
    _validate(tt, data)
    clash = next((v for v in tt.versions if v.effective_from == instant), None)
    if clash is not None:
        raise Conflict(
            f"effective_from: version {clash.version} of {tt.name} already takes effect at "
            f"{instant.isoformat()}; choose another instant"
        )
    version = TimetableVersion(
        timetable_id=tt.id,
        version=owned.next_version(tt.versions),
        effective_from=instant,
        default_band=data.default_band.strip(),
        note=data.note.strip()[:400],
    )
    session.add(version)
    session.flush()
    session.add_all(
        TimetableRule(
            version_id=version.id,
            position=i,
            band=r.band.strip(),
            weekdays="".join(sorted(set(r.weekdays))),
            start_time=r.start,
            end_time=r.end,
            priority=r.priority,
        )
        for i, r in enumerate(data.rules, start=1)
    )
    session.add_all(
        Holiday(version_id=version.id, day=h.day, band=h.band.strip(), name=h.name.strip()[:200])
        for h in data.holidays
    )
    session.flush()
    # Collections loaded before these rows existed: read them again when asked.
    session.expire(tt, ["versions"])
    session.expire(version, ["rules", "holidays"])
    return version


def _validate(tt: Timetable, data: VersionIn) -> None:
    owned.check_band(data.default_band, "default_band")
    if len(data.rules) > MAX_RULES or len(data.holidays) > MAX_HOLIDAYS:
        raise Invalid(f"a version holds at most {MAX_RULES} rules and {MAX_HOLIDAYS} holidays")
    for i, r in enumerate(data.rules, start=1):
        owned.check_band(r.band, f"rules[{i}].band")
        days = r.weekdays.strip()
        if not days or any(d not in "0123456" for d in days):
            raise Invalid(
                f"rules[{i}].weekdays: digits 0 (Monday) to 6 (Sunday), e.g. 01234, "
                f"got {r.weekdays[:20]!r}"
            )
        if r.start.tzinfo is not None or r.end.tzinfo is not None:
            raise Invalid(f"rules[{i}]: start and end are local wall-clock times, no offset")
        if not -1000 <= r.priority <= 1000:
            raise Invalid(f"rules[{i}].priority: -1000 to 1000")
    seen: set[date] = set()
    for i, h in enumerate(data.holidays, start=1):
        owned.check_band(h.band, f"holidays[{i}].band")
        try:
            bounds.check_year(h.day, f"holidays[{i}].day")
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if h.day in seen:
            raise Invalid(f"holidays[{i}].day: {h.day.isoformat()} is listed twice")
        seen.add(h.day)
    # The engine's own checks, so a version rerate stores is one it can rate.
    try:
        p.Timetable(
            id=tt.id,
            tz=tt.tz,
            default_band=data.default_band.strip(),
            rules=tuple(
                p.BandRule(r.band.strip(), frozenset(int(d) for d in r.weekdays), r.start, r.end)
                for r in data.rules
            ),
            holidays=tuple(p.Holiday(h.day, h.band.strip()) for h in data.holidays),
        )
    except p.PlanError as exc:
        raise Invalid(str(exc)) from None


def view(tt: Timetable, *, versions: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": tt.id,
        "name": tt.name,
        "tz": tt.tz,
        "owner_node_id": tt.owner_node_id,
        "created_at": tt.created_at,
        "current_version": max((v.version for v in tt.versions), default=None),
    }
    if versions:
        out["versions"] = [version_view(v) for v in tt.versions]
    return out


def version_view(v: TimetableVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "version": v.version,
        "effective_from": v.effective_from,
        "default_band": v.default_band,
        "note": v.note,
        "created_at": v.created_at,
        "rules": [
            {
                "position": r.position,
                "band": r.band,
                "weekdays": r.weekdays,
                "start": r.start_time.isoformat(),
                "end": r.end_time.isoformat(),
                "priority": r.priority,
            }
            for r in sorted(v.rules, key=lambda r: r.position)
        ],
        "holidays": [
            {"day": h.day.isoformat(), "band": h.band, "name": h.name} for h in v.holidays
        ],
    }
