"""Console: the Timetables page (search, pages, create) and one timetable's
page (every version, and forms that write a new version from an instant:
add or remove a rule or a holiday, change the default band).

A refused change (409/422) renders the same page with the problem said in the
form's words; the request's transaction is rolled back, so nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission, Principal
from rerate.catalog import forms
from rerate.catalog.forms import owner_names
from rerate.kit.audit import set_reason
from rerate.kit.errors import Conflict, Invalid
from rerate.models import Node, Timetable
from rerate.tenancy.service import list_nodes
from rerate.timetables import service
from rerate.web.console import PAGE_SIZE, int_or_none, page_router, render

router = page_router()

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LABELS = {
    "name": "Name",
    "tz": "Time zone",
    "owner_node_id": "Owner",
    "default_band": "Default band",
    "effective_from": "Effective from",
    "rules": "Rule",
    "rule": "Rule",
    "band": "Band",
    "weekdays": "Weekdays",
    "start": "Start",
    "end": "End",
    "priority": "Priority",
    "holidays": "Holiday",
    "day": "Day",
    "reason": "Reason",
}


def _owners(session: SessionDep, principal: Principal) -> list[Node]:
    if not principal.has(Permission.MANAGE_CATALOG):
        return []
    return list_nodes(session, principal, permission=Permission.MANAGE_CATALOG)


def _list_context(session: SessionDep, principal: Principal, q: str, page: int) -> dict[str, Any]:
    query = q.strip()[:200]
    rows, total = service.list_timetables(
        session, principal, q=query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    pages = max(1, -(-total // PAGE_SIZE))
    return {
        "active": "timetables",
        "rows": [
            {**service.view(t, versions=False), "owner": owner_names(session, t.owner_node_id)}
            for t in rows
        ],
        "q": query,
        "page": page,
        "pages": pages,
        "total": total,
        "base_query": urlencode({"q": query}) if query else "",
        "owners": _owners(session, principal),
        "form": {},
        "error": None,
    }


@router.get("/timetables")
def timetables_page(
    request: Request, session: SessionDep, principal: Viewer, q: str = "", page: str = ""
) -> Response:
    ctx = _list_context(session, principal, q, max(1, int_or_none(page) or 1))
    return render(request, "timetables/list.html", ctx)


@router.post("/timetables")
def timetable_create(
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    name: Annotated[str, Form()] = "",
    tz: Annotated[str, Form()] = "",
    default_band: Annotated[str, Form()] = "",
    owner_node_id: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "name": name,
        "tz": tz,
        "default_band": default_band,
        "owner_node_id": owner_node_id,
        "effective_from": effective_from,
        "reason": reason,
    }
    try:
        owner = forms.optional_id(owner_node_id, "owner_node_id")
        if owner is None:
            raise Invalid("owner_node_id: choose the node that owns the timetable")
        set_reason(session, forms.text(reason, "reason", size=forms.MAX_FIELD))
        tt = service.create_timetable(
            session,
            principal,
            owner_node_id=owner,
            name=forms.text(name, "name", required=True),
            tz=forms.text(tz, "tz", size=64, required=True),
            version=service.VersionIn(
                default_band=forms.text(default_band, "default_band", size=32),
                effective_from=forms.instant(effective_from),
            ),
        )
    except (Invalid, Conflict) as exc:
        session.rollback()
        ctx = _list_context(session, principal, "", 1)
        ctx.update(form=form, error=forms.plain(exc.detail, LABELS))
        return render(request, "timetables/list.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/timetables/{tt.id}", status_code=303)


def _weekday_names(digits: str) -> str:
    return " ".join(WEEKDAYS[int(d)] for d in digits if d.isdigit() and int(d) < 7)


def _timetable_context(session: SessionDep, principal: Principal, tt: Timetable) -> dict[str, Any]:
    view = service.view(tt)
    who = forms.authors(session, "timetable_versions", [v["id"] for v in view["versions"]])
    versions = sorted(view["versions"], key=lambda v: v["effective_from"], reverse=True)
    for v in versions:
        v["author"] = who.get(v["id"])
        for r in v["rules"]:
            r["days"] = _weekday_names(r["weekdays"])
    owner = session.get(Node, tt.owner_node_id)
    latest = max(view["versions"], key=lambda v: v["version"])
    return {
        "active": "timetables",
        "tt": view,
        "owner": owner.name if owner else "",
        "versions": versions,
        "latest": latest,
        "weekdays": list(enumerate(WEEKDAYS)),
        "can_manage": owner is not None and principal.has(Permission.MANAGE_CATALOG, owner.path),
        "form": {},
        "error": None,
        "message": None,
    }


@router.get("/timetables/{timetable_id}")
def timetable_page(
    timetable_id: Id, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    tt = service.get_timetable(session, principal, timetable_id)
    return render(request, "timetables/timetable.html", _timetable_context(session, principal, tt))


def _edit(
    request: Request,
    session: SessionDep,
    principal: Principal,
    timetable_id: int,
    form: dict[str, Any],
    change: Callable[[], Callable[[service.VersionIn], service.VersionIn]],
) -> Response:
    """Write a new version (the one in force at the form's instant, changed);
    a refusal renders the page again with the message and the form kept."""
    tt = service.get_timetable(session, principal, timetable_id)
    try:
        set_reason(session, forms.reason(form.get("reason", "")))
        when: datetime = forms.instant(form.get("effective_from", ""))
        v = service.edit(
            session,
            principal,
            timetable_id,
            effective_from=when,
            note=forms.text(form.get("note", ""), "note", size=400),
            change=change(),
        )
    except (Invalid, Conflict) as exc:
        session.rollback()
        tt = service.get_timetable(session, principal, timetable_id)
        ctx = _timetable_context(session, principal, tt)
        ctx.update(form=form, error=forms.plain(exc.detail, LABELS))
        return render(request, "timetables/timetable.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/timetables/{tt.id}?version={v.version}", status_code=303)


@router.post("/timetables/{timetable_id}/rules")
def timetable_add_rule(
    timetable_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    band: Annotated[str, Form()] = "",
    weekday: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "0",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "form": "add-rule",
        "band": band,
        "weekday": weekday,
        "start": start,
        "end": end,
        "priority": priority,
        "effective_from": effective_from,
        "reason": reason,
    }

    def change() -> Callable[[service.VersionIn], service.VersionIn]:
        days = "".join(sorted({d for d in weekday if d in "0123456" and len(d) == 1}))
        if not days:
            raise Invalid("weekdays: tick at least one day")
        return service.add_rule(
            service.RuleIn(
                band=forms.text(band, "band", size=32),
                weekdays=days,
                start=forms.clock(start, "start"),
                end=forms.clock(end, "end"),
                priority=forms.integer(priority or "0", "priority", -1000, 1000),
            )
        )

    return _edit(request, session, principal, timetable_id, form, change)


@router.post("/timetables/{timetable_id}/rules/remove")
def timetable_remove_rule(
    timetable_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    position: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "form": "remove-rule",
        "position": position,
        "effective_from": effective_from,
        "reason": reason,
    }

    def change() -> Callable[[service.VersionIn], service.VersionIn]:
        return service.remove_rule(forms.integer(position, "rule", 1, service.MAX_RULES))

    return _edit(request, session, principal, timetable_id, form, change)


@router.post("/timetables/{timetable_id}/holidays")
def timetable_add_holiday(
    timetable_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    day: Annotated[str, Form()] = "",
    band: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "form": "add-holiday",
        "day": day,
        "band": band,
        "name": name,
        "effective_from": effective_from,
        "reason": reason,
    }

    def change() -> Callable[[service.VersionIn], service.VersionIn]:
        return service.add_holiday(
            service.HolidayIn(
                day=forms.day(day, "day"),
                band=forms.text(band, "band", size=32),
                name=forms.text(name, "name"),
            )
        )

    return _edit(request, session, principal, timetable_id, form, change)


@router.post("/timetables/{timetable_id}/holidays/remove")
def timetable_remove_holiday(
    timetable_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    day: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "form": "remove-holiday",
        "day": day,
        "effective_from": effective_from,
        "reason": reason,
    }

    def change() -> Callable[[service.VersionIn], service.VersionIn]:
        return service.remove_holiday(forms.day(day, "day"))

    return _edit(request, session, principal, timetable_id, form, change)


@router.post("/timetables/{timetable_id}/default-band")
def timetable_default_band(
    timetable_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    default_band: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "form": "default-band",
        "default_band": default_band,
        "effective_from": effective_from,
        "reason": reason,
    }

    def change() -> Callable[[service.VersionIn], service.VersionIn]:
        return service.set_default_band(forms.text(default_band, "default_band", size=32))

    return _edit(request, session, principal, timetable_id, form, change)
