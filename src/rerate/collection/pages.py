"""Console: regions, their collection source (never its secret), recent
collection runs, and the "Update region" action, which queues the same
`collect_usage` job as the API and the daily schedule."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.api.deps import SessionDep, Viewer, get_db
from rerate.auth.permissions import Permission, Principal
from rerate.collection import service
from rerate.collection.endpoints import secret_key
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Invalid, RerateError
from rerate.models import Node
from rerate.models.base import utcnow
from rerate.models.enums import NodeKind
from rerate.web.console import page_router, render

router = page_router()


@router.get("/regions")
def regions_page(request: Request, session: SessionDep, principal: Viewer) -> Response:
    return render(request, "collection/regions.html", _list_context(session, principal))


def _region_context(
    session: Session, principal: Principal, region_id: int, **extra: Any
) -> dict[str, Any]:
    record = service.get_region(session, principal, region_id)
    schedule = service.schedule_of(session, record.source) if record.source else None
    runs = service.runs_of(session, record.source.id) if record.source else []
    yesterday = utcnow().date() - timedelta(days=1)
    view = service.region_view(record)
    can_edit = principal.has(Permission.MANAGE_REGIONS) and record.source is not None
    platform = [
        p for p in _platform_fields() if record.source and p["platform"] == view["platform"]
    ]
    return {
        "active": "regions",
        "region": view,
        "schedule": schedule,
        "runs": runs,
        "can_collect": principal.has(Permission.MANAGE_REGIONS) and record.source is not None,
        "form": {
            "start": yesterday.isoformat(),
            "end": (yesterday + timedelta(days=1)).isoformat(),
        },
        "error": None,
        "can_edit": can_edit,
        "edit_platform": platform[0] if platform and can_edit else None,
        "owners": _owners(session) if can_edit else [],
        "edit": _edit_values(view, schedule),
        "edit_error": None,
        "edit_error_field": None,
        **extra,
    }


@router.get("/regions/{region_id}")
def region_page(
    region_id: int, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    return render(request, "collection/region.html", _region_context(session, principal, region_id))


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field}: choose a date", field=field) from None


@router.post("/regions/{region_id}/collect")
async def update_region(
    region_id: int, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    """The "Update region" action: collect one date range now."""
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in ("start", "end")}
    try:
        start, end = _day(values["start"], "start"), _day(values["end"], "end")
        session.rollback()
        with get_db(request).write_session() as write:
            set_session_actor(write, Actor(principal.user_id, principal.email))
            job = service.request_collection(
                write, principal, region_id, start=start, end=end, actor_label=principal.email
            )
            job_id = job.id
    except RerateError as exc:
        if exc.status_code in (403, 404):
            raise
        ctx = _region_context(session, principal, region_id, error=exc.detail, form=values)
        return render(request, "collection/region.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/billing/jobs/{job_id}", status_code=303)


# ---------------------------------------------------------------------- create / edit

_INT_KEYS = ("page_size", "max_retries", "lookback_days")
_NUMBER_KEYS = ("backoff_s", "max_backoff_s", "timeout_s", "max_gap_hours")
_JSON_KEYS = ("sku_map", "meter_aliases")


def _platform_fields() -> list[dict[str, Any]]:
    """Per platform, its settings as form fields (required ones first)."""
    out = []
    for platform, (required, optional, needs_secret) in service.SETTINGS.items():
        keys = [(k, True) for k in required] + [(k, False) for k in optional]
        out.append(
            {
                "platform": platform,
                "label": service.PLATFORM_LABELS[platform],
                "needs_secret": needs_secret,
                "fields": [
                    {
                        "key": k,
                        "required": req,
                        "kind": "json"
                        if k in _JSON_KEYS
                        else "number"
                        if k in (*_INT_KEYS, *_NUMBER_KEYS)
                        else "text",
                    }
                    for k, req in keys
                ],
            }
        )
    return out


def _owners(session: Session) -> list[Node]:
    return list(
        session.scalars(
            select(Node).where(Node.kind != NodeKind.CUSTOMER.value).order_by(Node.path)
        )
    )


def _settings_from_form(platform: str, form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(settings, the raw text per key for re-display). Blank fields are left out;
    numbers and JSON objects are parsed here, the rest is checked by the service."""
    if platform not in service.SETTINGS:
        raise Invalid(f"platform: choose one of {', '.join(service.SETTINGS)}", field="platform")
    required, optional, _ = service.SETTINGS[platform]
    settings: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for key in (*required, *optional):
        text = str(form.get(f"s.{platform}.{key}", "")).strip()
        raw[key] = text
        if not text:
            continue
        field = f"settings.{key}"
        if key in _INT_KEYS:
            try:
                settings[key] = int(text)
            except ValueError:
                raise Invalid(f"{field}: must be a whole number", field=field) from None
        elif key in _NUMBER_KEYS:
            try:
                settings[key] = float(text) if "." in text or "e" in text.lower() else int(text)
            except ValueError:
                raise Invalid(f"{field}: must be a number", field=field) from None
        elif key in _JSON_KEYS:
            try:
                settings[key] = json.loads(text)
            except ValueError:
                raise Invalid(
                    f'{field}: must be a JSON object of text to text, e.g. {{"a": "b"}}',
                    field=field,
                ) from None
        else:
            settings[key] = text
    return settings, raw


def _raw_settings(settings: dict[str, Any]) -> dict[str, str]:
    return {
        k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v)
        for k, v in settings.items()
    }


def _owner_id(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise Invalid("owner_node_id: choose an owner", field="owner_node_id") from None


def _write_actor(write: Session, principal: Principal) -> None:
    set_session_actor(write, Actor(principal.user_id, principal.email))


def _list_context(session: Session, principal: Principal, **extra: Any) -> dict[str, Any]:
    views = [service.region_view(r) for r in service.list_regions(session, principal)]
    can_manage = principal.has(Permission.MANAGE_REGIONS)
    return {
        "active": "regions",
        "regions": views,
        "can_manage": can_manage,
        "platforms": _platform_fields() if can_manage else [],
        "owners": _owners(session) if can_manage else [],
        "new": {
            "code": "",
            "name": "",
            "platform": "public_azure",
            "owner_node_id": "",
            "settings": {},
            "enabled": True,
            "cron": service.DEFAULT_CRON,
        },
        "new_error": None,
        "new_error_field": None,
        **extra,
    }


@router.post("/regions")
async def create_region_form(request: Request, session: SessionDep, principal: Viewer) -> Response:
    """The "New region" form: the service the API's POST /regions uses."""
    principal.require(Permission.MANAGE_REGIONS)
    form = await request.form()
    platform = str(form.get("platform", ""))
    values: dict[str, Any] = {
        "code": str(form.get("code", "")).strip(),
        "name": str(form.get("name", "")).strip(),
        "platform": platform,
        "owner_node_id": str(form.get("owner_node_id", "")),
        "settings": {},
        "enabled": form.get("enabled") == "on",
        "cron": str(form.get("cron", "")).strip() or service.DEFAULT_CRON,
    }
    try:
        settings, values["settings"] = _settings_from_form(platform, form)
        owner = _owner_id(values["owner_node_id"])
        session.rollback()
        with get_db(request).write_session() as write:
            _write_actor(write, principal)
            record = service.create_region(
                write,
                principal,
                code=values["code"],
                name=values["name"],
                platform=platform,
                settings=settings,
                secret=str(form.get("secret", "")) or None,
                secret_key=secret_key(request),
                owner_node_id=owner,
                enabled=values["enabled"],
                cron=values["cron"],
            )
            region_id = record.region.id
    except RerateError as exc:
        if exc.status_code in (403, 404):
            raise
        ctx = _list_context(
            session,
            principal,
            new=values,
            new_error=exc.detail,
            new_error_field=exc.extra.get("field"),
        )
        return render(request, "collection/regions.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/regions/{region_id}", status_code=303)


def _edit_values(view: dict[str, Any], schedule: Any) -> dict[str, Any]:
    return {
        "name": view["name"],
        "owner_node_id": str(view["owner_node_id"] or ""),
        "settings": _raw_settings(view["settings"]),
        "enabled": view["enabled"],
        "cron": schedule.cron if schedule else service.DEFAULT_CRON,
    }


@router.post("/regions/{region_id}/edit")
async def edit_region_form(
    region_id: int, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    """The region page's "Edit" form: the service the API's PATCH uses. A
    blank secret keeps the stored one (it is never shown)."""
    principal.require(Permission.MANAGE_REGIONS)
    record = service.get_region(session, principal, region_id)
    form = await request.form()
    values: dict[str, Any] = {
        "name": str(form.get("name", "")).strip(),
        "owner_node_id": str(form.get("owner_node_id", "")),
        "settings": {},
        "enabled": form.get("enabled") == "on",
        "cron": str(form.get("cron", "")).strip(),
    }
    try:
        if record.source is None:
            raise Invalid(
                "platform: this region has no collection source yet; create it from "
                "the Regions page with its code",
                field="platform",
            )
        settings, values["settings"] = _settings_from_form(record.source.platform, form)
        owner = _owner_id(values["owner_node_id"])
        session.rollback()
        with get_db(request).write_session() as write:
            _write_actor(write, principal)
            service.update_region(
                write,
                principal,
                region_id,
                secret_key=secret_key(request),
                name=values["name"],
                settings=settings,
                secret=str(form.get("secret", "")) or None,
                enabled=values["enabled"],
                cron=values["cron"] or service.DEFAULT_CRON,
                owner_node_id=owner,
            )
    except RerateError as exc:
        if exc.status_code in (403, 404):
            raise
        ctx = _region_context(
            session,
            principal,
            region_id,
            edit=values,
            edit_error=exc.detail,
            edit_error_field=exc.extra.get("field"),
        )
        return render(request, "collection/region.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/regions/{region_id}", status_code=303)
