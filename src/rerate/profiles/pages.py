"""Console: the Consumption profiles page (search, pages, create) and one
profile's page (versions, a form adding one, the accounts that use it: assign
from an instant, end an assignment; overlaps refused in plain words).

A refused change (409/422) renders the same page with the problem said in the
form's words; the request's transaction is rolled back, so nothing is stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.accounts.service import get_account, list_accounts
from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission, Principal
from rerate.catalog import forms
from rerate.catalog.forms import owner_names
from rerate.kit.audit import set_reason
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.models import AccountProfile, ConsumptionProfile, Node
from rerate.profiles import service
from rerate.tenancy.service import list_nodes
from rerate.web.console import PAGE_SIZE, int_or_none, page_router, render

router = page_router()

MAX_ACCOUNTS_LISTED = 500
UNITS = (("minutes", "Minutes (calls)"), ("units", "Units of one cloud SKU"))
TIER_MODES = (
    ("none", "No tiers"),
    ("graduated", "Graduated: each tier prices its slice"),
    ("volume", "Volume: the tier reached prices everything"),
)
LABELS = {
    "name": "Name",
    "unit": "Unit",
    "owner_node_id": "Owner",
    "included_quantity": "Included quantity",
    "tier_mode": "Tier mode",
    "tiers": "Tier",
    "scope": "Scope",
    "effective_from": "Effective from",
    "account_id": "Account",
    "valid_from": "From",
    "valid_to": "Until",
    "reason": "Reason",
    "note": "Note",
}


def _list_context(session: SessionDep, principal: Principal, q: str, page: int) -> dict[str, Any]:
    query = q.strip()[:200]
    rows, total = service.list_profiles(
        session, principal, q=query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return {
        "active": "profiles",
        "rows": [
            {**service.view(p, versions=False), "owner": owner_names(session, p.owner_node_id)}
            for p in rows
        ],
        "q": query,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "total": total,
        "base_query": urlencode({"q": query}) if query else "",
        "owners": (
            list_nodes(session, principal, permission=Permission.MANAGE_CATALOG)
            if principal.has(Permission.MANAGE_CATALOG)
            else []
        ),
        "units": UNITS,
        "tier_modes": TIER_MODES,
        "form": {},
        "error": None,
    }


@router.get("/profiles")
def profiles_page(
    request: Request, session: SessionDep, principal: Viewer, q: str = "", page: str = ""
) -> Response:
    ctx = _list_context(session, principal, q, max(1, int_or_none(page) or 1))
    return render(request, "profiles/list.html", ctx)


def _tiers(text: str) -> tuple[tuple[Decimal, Decimal], ...]:
    """One tier a line: "FROM RATE" or "FROM:RATE" (e.g. "1000: 0.04")."""
    out = []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > service.MAX_TIERS:
        raise Invalid(f"tiers: at most {service.MAX_TIERS}")
    for i, line in enumerate(lines, start=1):
        parts = line.replace(":", " ").replace(";", " ").split()
        if len(parts) != 2:
            raise Invalid(f"tiers[{i}]: write FROM:RATE, e.g. 1000:0.04, got {line[:40]!r}")
        out.append(
            (
                forms.decimal(parts[0], f"tiers[{i}].from_quantity"),
                forms.decimal(parts[1], f"tiers[{i}].rate"),
            )
        )
    return tuple(out)


def _version(form: dict[str, str]) -> service.VersionIn:
    return service.VersionIn(
        effective_from=forms.instant(form["effective_from"]),
        included_quantity=forms.decimal(form["included_quantity"] or "0", "included_quantity"),
        tier_mode=form["tier_mode"] or "none",
        tiers=_tiers(form["tiers"]),
        scope=forms.text(form["scope"], "scope"),
        note=forms.text(form.get("note", ""), "note", size=400),
    )


@router.post("/profiles")
def profile_create(
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    name: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
    owner_node_id: Annotated[str, Form()] = "",
    included_quantity: Annotated[str, Form()] = "",
    tier_mode: Annotated[str, Form()] = "none",
    tiers: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "name": name,
        "unit": unit,
        "owner_node_id": owner_node_id,
        "included_quantity": included_quantity,
        "tier_mode": tier_mode,
        "tiers": tiers,
        "scope": scope,
        "effective_from": effective_from,
        "reason": reason,
    }
    try:
        owner = forms.optional_id(owner_node_id, "owner_node_id")
        if owner is None:
            raise Invalid("owner_node_id: choose the node that owns the profile")
        set_reason(session, forms.text(reason, "reason", size=forms.MAX_FIELD))
        profile = service.create_profile(
            session,
            principal,
            owner_node_id=owner,
            name=forms.text(name, "name", required=True),
            unit=unit,
            version=_version(form),
        )
    except (Invalid, Conflict) as exc:
        session.rollback()
        ctx = _list_context(session, principal, "", 1)
        ctx.update(form=form, error=forms.plain(exc.detail, LABELS))
        return render(request, "profiles/list.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/profiles/{profile.id}", status_code=303)


def _assignment_rows(
    session: SessionDep, principal: Principal, links: list[AccountProfile]
) -> list[dict[str, Any]]:
    rows = []
    for link in links:
        account = get_account(session, principal, link.account_id)
        rows.append(
            {
                **service.assignment_view(link),
                "account": account.external_ref,
                "account_name": account.name,
            }
        )
    return rows


def _profile_context(
    session: SessionDep, principal: Principal, profile: ConsumptionProfile
) -> dict[str, Any]:
    view = service.view(profile)
    who = forms.authors(session, "profile_versions", [v["id"] for v in view["versions"]])
    versions = sorted(view["versions"], key=lambda v: v["effective_from"], reverse=True)
    for v in versions:
        v["author"] = who.get(v["id"])
    owner = owner_names(session, profile.owner_node_id)
    node = session.get(Node, profile.owner_node_id)
    can_manage = node is not None and principal.has(Permission.MANAGE_CATALOG, node.path)
    links = service.assignments(session, principal, profile.id)
    return {
        "active": "profiles",
        "profile": view,
        "owner": owner,
        "versions": versions,
        "assignments": _assignment_rows(session, principal, links),
        "accounts": (
            list_accounts(session, principal, limit=MAX_ACCOUNTS_LISTED) if can_manage else []
        ),
        "tier_modes": TIER_MODES,
        "can_manage": can_manage,
        "form": {},
        "error": None,
    }


@router.get("/profiles/{profile_id}")
def profile_page(
    profile_id: Id, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    profile = service.get_profile(session, principal, profile_id)
    return render(request, "profiles/profile.html", _profile_context(session, principal, profile))


def _refused(
    request: Request,
    session: SessionDep,
    principal: Principal,
    profile_id: int,
    form: dict[str, Any],
    exc: Invalid | Conflict,
) -> Response:
    session.rollback()
    profile = service.get_profile(session, principal, profile_id)
    ctx = _profile_context(session, principal, profile)
    ctx.update(form=form, error=forms.plain(exc.detail, LABELS))
    return render(request, "profiles/profile.html", ctx, status_code=exc.status_code)


@router.post("/profiles/{profile_id}/versions")
def profile_add_version(
    profile_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    included_quantity: Annotated[str, Form()] = "",
    tier_mode: Annotated[str, Form()] = "none",
    tiers: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "form": "version",
        "included_quantity": included_quantity,
        "tier_mode": tier_mode,
        "tiers": tiers,
        "scope": scope,
        "note": note,
        "effective_from": effective_from,
        "reason": reason,
    }
    service.get_profile(session, principal, profile_id)
    try:
        set_reason(session, forms.reason(reason))
        service.add_version(session, principal, profile_id, _version(form))
    except (Invalid, Conflict) as exc:
        return _refused(request, session, principal, profile_id, form, exc)
    return RedirectResponse(f"/profiles/{profile_id}", status_code=303)


@router.post("/profiles/{profile_id}/assignments")
def profile_assign(
    profile_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    account_id: Annotated[str, Form()] = "",
    valid_from: Annotated[str, Form()] = "",
    valid_to: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "form": "assign",
        "account_id": account_id,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "reason": reason,
    }
    service.get_profile(session, principal, profile_id)
    try:
        account = forms.optional_id(account_id, "account_id")
        if account is None:
            raise Invalid("account_id: choose an account")
        set_reason(session, forms.reason(reason))
        service.assign(
            session,
            principal,
            profile_id,
            account_id=account,
            valid_from=forms.instant(valid_from, "valid_from"),
            valid_to=forms.instant(valid_to, "valid_to") if valid_to.strip() else None,
        )
    except (Invalid, Conflict) as exc:
        return _refused(request, session, principal, profile_id, form, exc)
    except NotFound:
        unseen = Invalid("account_id: no account of that id that you can see")
        return _refused(request, session, principal, profile_id, form, unseen)
    return RedirectResponse(f"/profiles/{profile_id}", status_code=303)


@router.post("/profile-assignments/{assignment_id}/end")
def profile_end_assignment(
    assignment_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    valid_to: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    link = session.get(AccountProfile, assignment_id)
    if link is None:
        raise NotFound("not found")
    profile_id = link.profile_id
    service.get_profile(session, principal, profile_id)
    form = {"form": f"end-{assignment_id}", "valid_to": valid_to, "reason": reason}
    try:
        set_reason(session, forms.reason(reason))
        service.end_assignment(
            session, principal, assignment_id, valid_to=forms.instant(valid_to, "valid_to")
        )
    except (Invalid, Conflict) as exc:
        return _refused(request, session, principal, profile_id, form, exc)
    return RedirectResponse(f"/profiles/{profile_id}", status_code=303)
