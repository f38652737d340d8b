"""Consumption profiles and their assignment to accounts over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.api.fields import Amount, Id, Instant, Offset
from rerate.kit.audit import set_reason
from rerate.profiles import service

router = APIRouter(tags=["profiles"])

Reason = Annotated[str, Field(max_length=400, description="why: recorded in the audit log")]


class TierIn(BaseModel):
    from_quantity: Amount = Field(description="minutes or units; the first tier starts at 0")
    rate: Amount = Field(description="price per minute or per unit from there on")


class VersionIn(BaseModel):
    effective_from: Instant = Field(description="a period uses the version in force at its start")
    included_quantity: Amount = Decimal(0)
    tier_mode: Literal["none", "graduated", "volume"] = "none"
    tiers: list[TierIn] = Field(default_factory=list, max_length=service.MAX_TIERS)
    scope: str = Field(
        "", max_length=200, description="minutes: destination-group prefix; units: the SKU"
    )
    note: str = Field("", max_length=400)
    reason: Reason = ""

    def to_service(self) -> service.VersionIn:
        return service.VersionIn(
            effective_from=self.effective_from,
            included_quantity=self.included_quantity,
            tier_mode=self.tier_mode,
            tiers=tuple((t.from_quantity, t.rate) for t in self.tiers),
            scope=self.scope,
            note=self.note,
        )


class ProfileIn(VersionIn):
    name: str = Field(min_length=1, max_length=200)
    unit: Literal["minutes", "units"]
    owner_node_id: Id


class AssignIn(BaseModel):
    account_id: Id
    valid_from: Instant
    valid_to: Instant | None = Field(None, description="exclusive; none: open-ended")
    reason: Reason = ""


class EndIn(BaseModel):
    valid_to: Instant
    reason: Reason = ""


@router.get("/profiles")
def list_profiles(
    session: SessionDep,
    principal: Viewer,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    rows, total = service.list_profiles(session, principal, q=q, limit=limit, offset=offset)
    return {"items": [service.view(p, versions=False) for p in rows], "total": total}


@router.post("/profiles", status_code=201)
def create_profile(body: ProfileIn, session: SessionDep, principal: CatalogManager) -> Any:
    set_reason(session, body.reason)
    profile = service.create_profile(
        session,
        principal,
        owner_node_id=body.owner_node_id,
        name=body.name,
        unit=body.unit,
        version=body.to_service(),
    )
    return service.view(profile)


@router.get("/profiles/{profile_id}")
def get_profile(profile_id: Id, session: SessionDep, principal: Viewer) -> Any:
    return service.view(service.get_profile(session, principal, profile_id))


@router.post("/profiles/{profile_id}/versions", status_code=201)
def add_version(
    profile_id: Id, body: VersionIn, session: SessionDep, principal: CatalogManager
) -> Any:
    set_reason(session, body.reason)
    return service.version_view(
        service.add_version(session, principal, profile_id, body.to_service())
    )


@router.get("/profiles/{profile_id}/assignments")
def list_assignments(profile_id: Id, session: SessionDep, principal: Viewer) -> dict[str, Any]:
    links = service.assignments(session, principal, profile_id)
    return {"items": [service.assignment_view(a) for a in links], "total": len(links)}


@router.post("/profiles/{profile_id}/assignments", status_code=201)
def assign(profile_id: Id, body: AssignIn, session: SessionDep, principal: CatalogManager) -> Any:
    """Never overlapping another assignment of the account (409 naming it)."""
    set_reason(session, body.reason)
    link = service.assign(
        session,
        principal,
        profile_id,
        account_id=body.account_id,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
    )
    return service.assignment_view(link)


@router.post("/profile-assignments/{assignment_id}/end")
def end_assignment(
    assignment_id: Id, body: EndIn, session: SessionDep, principal: CatalogManager
) -> Any:
    set_reason(session, body.reason)
    link = service.end_assignment(session, principal, assignment_id, valid_to=body.valid_to)
    return service.assignment_view(link)
