"""Timetables over HTTP: view to read, manage_catalog to change (in the owner's subtree)."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.api.fields import BillingDate, Id, Instant, Offset
from rerate.kit.audit import set_reason
from rerate.timetables import service

router = APIRouter(tags=["timetables"])

Band = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
Weekdays = Annotated[
    str, Field(pattern=r"^[0-6]{1,7}$", description="digits 0 (Monday) to 6 (Sunday)")
]
Reason = Annotated[str, Field(max_length=400, description="why: recorded in the audit log")]


class RuleIn(BaseModel):
    band: Band
    weekdays: Weekdays = Field(examples=["01234"])
    start: time = Field(description="local wall-clock time", examples=["08:00"])
    end: time = Field(description="end <= start crosses midnight; equal: all day")
    priority: int = Field(0, ge=-1000, le=1000, description="highest wins; ties: first listed")

    def to_service(self) -> service.RuleIn:
        return service.RuleIn(self.band, self.weekdays, self.start, self.end, self.priority)


class HolidayIn(BaseModel):
    day: BillingDate
    band: Band
    name: str = Field("", max_length=200)

    def to_service(self) -> service.HolidayIn:
        return service.HolidayIn(self.day, self.band, self.name)


class VersionIn(BaseModel):
    effective_from: Instant = Field(description="may lie in the past: recalculate after")
    default_band: Band
    rules: list[RuleIn] = Field(default_factory=list, max_length=service.MAX_RULES)
    holidays: list[HolidayIn] = Field(default_factory=list, max_length=service.MAX_HOLIDAYS)
    note: str = Field("", max_length=400)
    reason: Reason = ""

    def to_service(self) -> service.VersionIn:
        return service.VersionIn(
            default_band=self.default_band,
            effective_from=self.effective_from,
            rules=tuple(r.to_service() for r in self.rules),
            holidays=tuple(h.to_service() for h in self.holidays),
            note=self.note,
        )


class TimetableIn(VersionIn):
    name: str = Field(min_length=1, max_length=200)
    tz: str = Field(min_length=1, max_length=64, examples=["Europe/Paris"])
    owner_node_id: Id


class EditIn(BaseModel):
    effective_from: Instant
    note: str = Field("", max_length=400)
    reason: Reason = ""


class AddRuleIn(EditIn):
    rule: RuleIn


class RemoveRuleIn(EditIn):
    position: int = Field(ge=1, le=service.MAX_RULES, description="1-based, as listed")


class AddHolidayIn(EditIn):
    holiday: HolidayIn


class RemoveHolidayIn(EditIn):
    day: BillingDate


class DefaultBandIn(EditIn):
    default_band: Band


@router.get("/timetables")
def list_timetables(
    session: SessionDep,
    principal: Viewer,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    rows, total = service.list_timetables(session, principal, q=q, limit=limit, offset=offset)
    return {"items": [service.view(t, versions=False) for t in rows], "total": total}


@router.post("/timetables", status_code=201)
def create_timetable(body: TimetableIn, session: SessionDep, principal: CatalogManager) -> Any:
    set_reason(session, body.reason)
    tt = service.create_timetable(
        session,
        principal,
        owner_node_id=body.owner_node_id,
        name=body.name,
        tz=body.tz,
        version=body.to_service(),
    )
    return service.view(tt)


@router.get("/timetables/{timetable_id}")
def get_timetable(timetable_id: Id, session: SessionDep, principal: Viewer) -> Any:
    """The timetable with every version, oldest first (old versions stay readable)."""
    return service.view(service.get_timetable(session, principal, timetable_id))


@router.post("/timetables/{timetable_id}/versions", status_code=201)
def add_version(
    timetable_id: Id, body: VersionIn, session: SessionDep, principal: CatalogManager
) -> Any:
    """A whole new version (rules and holidays replaced) from `effective_from`."""
    set_reason(session, body.reason)
    v = service.add_version(session, principal, timetable_id, body.to_service())
    return service.version_view(v)


def _edit(session: Any, principal: Any, timetable_id: int, body: EditIn, change: Any) -> Any:
    set_reason(session, body.reason)
    v = service.edit(
        session,
        principal,
        timetable_id,
        effective_from=body.effective_from,
        note=body.note,
        change=change,
    )
    return service.version_view(v)


@router.post("/timetables/{timetable_id}/rules", status_code=201)
def add_rule(
    timetable_id: Id, body: AddRuleIn, session: SessionDep, principal: CatalogManager
) -> Any:
    """A new version: the one in force at `effective_from` plus this rule."""
    return _edit(session, principal, timetable_id, body, service.add_rule(body.rule.to_service()))


@router.post("/timetables/{timetable_id}/rules/remove", status_code=201)
def remove_rule(
    timetable_id: Id, body: RemoveRuleIn, session: SessionDep, principal: CatalogManager
) -> Any:
    """A new version: the one in force at `effective_from` without rule `position`."""
    return _edit(session, principal, timetable_id, body, service.remove_rule(body.position))


@router.post("/timetables/{timetable_id}/holidays", status_code=201)
def add_holiday(
    timetable_id: Id, body: AddHolidayIn, session: SessionDep, principal: CatalogManager
) -> Any:
    """A new version with this holiday (replacing one on the same day)."""
    change = service.add_holiday(body.holiday.to_service())
    return _edit(session, principal, timetable_id, body, change)


@router.post("/timetables/{timetable_id}/holidays/remove", status_code=201)
def remove_holiday(
    timetable_id: Id, body: RemoveHolidayIn, session: SessionDep, principal: CatalogManager
) -> Any:
    return _edit(session, principal, timetable_id, body, service.remove_holiday(body.day))


@router.post("/timetables/{timetable_id}/default-band", status_code=201)
def set_default_band(
    timetable_id: Id, body: DefaultBandIn, session: SessionDep, principal: CatalogManager
) -> Any:
    change = service.set_default_band(body.default_band)
    return _edit(session, principal, timetable_id, body, change)
