"""Regions and their usage collection over HTTP.

Secrets are write-only: `secret` is accepted on create and update (a value,
sealed at rest, or `env:NAME`) and never returned; responses say only
whether one is set (`secret_set`) and how (`secret`: "set (encrypted)" or
"from environment variable NAME").
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from rerate.api.deps import Require, SessionDep, Viewer, get_db
from rerate.api.fields import Id
from rerate.auth.permissions import Permission, Principal
from rerate.collection import secrets, service
from rerate.jobs import views
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.settings import Settings

router = APIRouter(tags=["regions"])


# Platform roles only (`manage_regions`); 403 otherwise.
RegionManager = Annotated[Principal, Depends(Require(Permission.MANAGE_REGIONS))]


def secret_key(request: Request) -> bytes:
    settings: Settings = request.app.state.settings
    return secrets.load_key(settings.data_dir, settings.secret_key)


class RegionOut(BaseModel):
    id: int
    code: str
    name: str
    platform: str | None = Field(description="azure_stack, azure_local, public_azure, cloudstack")
    platform_label: str
    reference_platform: str
    collection: bool = Field(description="false: a reference region without a source")
    owner_node_id: int | None
    owner_name: str | None
    settings: dict[str, Any] = Field(description="connection settings; never a secret")
    secret: str = Field(description='"not set", "set (encrypted)" or the environment variable')
    secret_set: bool
    enabled: bool
    schedule_id: int | None
    cron: str | None = Field(None, description="the daily collection schedule, UTC")
    next_run_at: Any = None
    collected_through: date | None = Field(description="last UTC day collected completely")


def _out(session: SessionDep, record: service.RegionRecord) -> RegionOut:
    view = service.region_view(record)
    schedule = service.schedule_of(session, record.source) if record.source else None
    view["cron"] = schedule.cron if schedule else None
    view["next_run_at"] = schedule.next_run_at if schedule and schedule.enabled else None
    return RegionOut(**view)


@router.get("/regions")
def list_regions(session: SessionDep, principal: Viewer) -> list[RegionOut]:
    """Regions you may see (platform roles: all; others: those owned in their scope)."""
    return [_out(session, r) for r in service.list_regions(session, principal)]


@router.get("/regions/{region_id}")
def get_region(region_id: Id, session: SessionDep, principal: Viewer) -> RegionOut:
    return _out(session, service.get_region(session, principal, region_id))


class RegionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, examples=["ch-gva-1"])
    name: str = Field("", max_length=200)
    platform: str = Field(examples=["cloudstack"])
    owner_node_id: Id | None = Field(None, description="default: the platform")
    settings: dict[str, Any] = Field(default_factory=dict)
    secret: str | None = Field(
        None,
        max_length=4000,
        description="write-only: a value (sealed at rest) or env:VARIABLE_NAME",
        json_schema_extra={"writeOnly": True},
    )
    enabled: bool = True
    cron: str = Field(service.DEFAULT_CRON, max_length=100, description="5-field cron, UTC")
    reason: str = Field("", max_length=400)


@router.post("/regions", status_code=201)
def create_region(
    body: RegionIn, request: Request, session: SessionDep, principal: RegionManager
) -> RegionOut:
    set_session_actor(session, Actor(principal.user_id, principal.email), body.reason)
    record = service.create_region(
        session,
        principal,
        code=body.code,
        name=body.name,
        platform=body.platform,
        settings=body.settings,
        secret=body.secret,
        secret_key=secret_key(request),
        owner_node_id=body.owner_node_id,
        enabled=body.enabled,
        cron=body.cron,
    )
    return _out(session, record)


class RegionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    owner_node_id: Id | None = None
    settings: dict[str, Any] | None = Field(None, description="replaces the settings whole")
    secret: str | None = Field(
        None,
        max_length=4000,
        description="write-only; absent keeps the stored secret",
        json_schema_extra={"writeOnly": True},
    )
    clear_secret: bool = False
    enabled: bool | None = None
    cron: str | None = Field(None, max_length=100)
    reason: str = Field("", max_length=400)


@router.patch("/regions/{region_id}")
def update_region(
    region_id: Id,
    body: RegionPatch,
    request: Request,
    session: SessionDep,
    principal: RegionManager,
) -> RegionOut:
    set_session_actor(session, Actor(principal.user_id, principal.email), body.reason)
    record = service.update_region(
        session,
        principal,
        region_id,
        secret_key=secret_key(request),
        name=body.name,
        settings=body.settings,
        secret=body.secret,
        clear_secret=body.clear_secret,
        enabled=body.enabled,
        cron=body.cron,
        owner_node_id=body.owner_node_id,
    )
    return _out(session, record)


@router.delete("/regions/{region_id}", status_code=204)
def delete_region(region_id: Id, session: SessionDep, principal: RegionManager) -> Response:
    """Remove a region that never collected anything (409 otherwise: disable it)."""
    service.delete_region(session, principal, region_id)
    return Response(status_code=204)


class CollectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date = Field(description="first UTC day collected")
    end: date = Field(description="the day after the last one: the range is [start, end)")


@router.post("/regions/{region_id}/collect", status_code=202)
def collect(
    region_id: Id, body: CollectIn, request: Request, session: SessionDep, principal: RegionManager
) -> dict[str, Any]:
    """Queue the region's collection for `[start, end)` (the job the daily
    schedule queues); follow it in the run queue & log (`GET /jobs/{id}`).
    409 while another collection of the region is queued or running."""
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        job = service.request_collection(
            write,
            principal,
            region_id,
            start=body.start,
            end=body.end,
            actor_label=principal.email,
        )
        write.flush()
        return views.get_job(write, principal, job.id)[1]
