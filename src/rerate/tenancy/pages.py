"""Console: customers & partners (the tenancy tree), a node's people, API keys, invitations.

Plain forms that post and redirect (or re-render with the refusal in words):
the same services as the API, so the same rules, scope and audit entries.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from rerate.api.deps import (
    AuthenticatedPrincipal,
    Public,
    Require,
    SessionDep,
    UserManager,
    Viewer,
    get_settings_dep,
)
from rerate.auth import service as auth
from rerate.auth.permissions import Permission, Principal
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Invalid, RerateError
from rerate.kit.settings import Settings
from rerate.models import Node
from rerate.models.enums import NodeKind, Role
from rerate.tenancy import keys, people, service
from rerate.tenancy.fields import plain_rate
from rerate.web.console import PAGE_SIZE, int_or_none, page_router, render

router = page_router()

TenancyManager = Annotated[Principal, Depends(Require(Permission.MANAGE_TENANCY))]

FIELDS = ("legal_name", "address", "tax_id", "currency", "time_zone", "tax_rate")
# Customers first: what people create most, and all a reseller admin may create.
CREATABLE = (NodeKind.CUSTOMER, NodeKind.PARTNER, NodeKind.DISTRIBUTOR)
KIND_LABELS = {
    NodeKind.PLATFORM: "Platform",
    NodeKind.DISTRIBUTOR: "Distributor",
    NodeKind.PARTNER: "Reseller",
    NodeKind.CUSTOMER: "Customer",
}


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _field_values(form: dict[str, str], *, kind: NodeKind, editing: bool) -> dict[str, Any]:
    """Form text to service values: a blank optional field is unset (create)
    or cleared (edit)."""
    values: dict[str, Any] = {}
    for key in FIELDS:
        if key not in form:
            continue
        text = form[key].strip() if key != "address" else form[key]
        if key == "tax_rate" and kind != NodeKind.CUSTOMER:
            continue
        if text.strip():
            values[key] = text
        elif editing:
            values[key] = None
    terms = form.get("payment_terms_days", "").strip()
    if terms:
        values["payment_terms_days"] = int(terms) if terms.isdigit() and len(terms) < 6 else terms
    elif editing and "payment_terms_days" in form:
        values["payment_terms_days"] = None
    return values


def _act(session: Session, principal: Principal, reason: str = "") -> None:
    set_session_actor(session, Actor(principal.user_id, principal.email), reason)


def _list_context(
    session: Session, principal: Principal, params: dict[str, str], **extra: Any
) -> dict[str, Any]:
    page_no = int_or_none(params.get("page")) or 1
    kind_text = params.get("kind", "")
    kind = NodeKind(kind_text) if kind_text in {k.value for k in NodeKind} else None
    include_inactive = params.get("include_inactive") == "true"
    q = params.get("q", "")[:200]
    page = service.search_nodes(
        session,
        principal,
        kind=kind,
        q=q,
        include_inactive=include_inactive,
        limit=PAGE_SIZE,
        offset=(page_no - 1) * PAGE_SIZE,
    )
    parents = {n.id: n.name for n in service.list_nodes(session, principal)}
    managed = [
        n
        for n in service.list_nodes(session, principal, permission=Permission.MANAGE_TENANCY)
        if n.kind != NodeKind.CUSTOMER and n.active
    ]
    return {
        "active": "tenancy",
        "nodes": page.items,
        "total": page.total,
        "page": page_no,
        "pages": max(1, -(-page.total // PAGE_SIZE)),
        "q": q,
        "kind": kind.value if kind else "",
        "include_inactive": include_inactive,
        "parents": parents,
        "kinds": CREATABLE,
        "kind_labels": KIND_LABELS,
        "parent_choices": managed,
        "can_manage": principal.has(Permission.MANAGE_TENANCY),
        "error": None,
        "form": {},
        **extra,
    }


@router.get("/tenancy")
def tenancy_page(request: Request, session: SessionDep, principal: Viewer) -> Response:
    params = dict(request.query_params)
    return render(request, "tenancy/nodes.html", _list_context(session, principal, params))


@router.post("/tenancy")
async def create_node(request: Request, session: SessionDep, principal: TenancyManager) -> Response:
    form = await _form(request)
    kind_text = form.get("kind", "")
    try:
        if kind_text not in {k.value for k in CREATABLE}:
            raise Invalid("kind: choose distributor, reseller or customer")
        kind = NodeKind(kind_text)
        parent_id = int_or_none(form.get("parent_id"))
        if parent_id is None:
            raise Invalid("parent: choose the node it sits under")
        _act(session, principal, form.get("reason", "")[:1000])
        node = service.add_node(
            session,
            principal,
            kind,
            parent_id=parent_id,
            name=form.get("name", ""),
            **_field_values(form, kind=kind, editing=False),
        )
    except RerateError as exc:
        session.rollback()
        status = exc.status_code if exc.status_code in (404, 409, 422) else 422
        ctx = _list_context(session, principal, {}, error=exc.detail, form=form)
        return render(request, "tenancy/nodes.html", ctx, status_code=status)
    return RedirectResponse(f"/tenancy/{node.id}", status_code=303)


def _node_context(
    session: Session, principal: Principal, node: Node, **extra: Any
) -> dict[str, Any]:
    can_users = principal.has(Permission.MANAGE_USERS, node.path)
    kind = NodeKind(node.kind)
    return {
        "active": "tenancy",
        "node": node,
        "kind_label": KIND_LABELS[kind],
        "tax_rate": None if node.tax_rate is None else format(plain_rate(node.tax_rate), "f"),
        "parent": node.parent,
        "effective_active": service.is_active(session, node),
        "children": service.children(session, node),
        "grants": people.grants_at(session, node) if can_users else [],
        "invitations": people.list_invitations(session, principal, node.id) if can_users else [],
        # The kind's own roles first (customer_user on a customer), then the shared ones.
        "roles": sorted(
            (r for r in Role if kind in auth.ROLE_NODE_KINDS[r]),
            key=lambda r: len(auth.ROLE_NODE_KINDS[r]),
        ),
        "can_manage": principal.has(Permission.MANAGE_TENANCY, node.path),
        "can_users": can_users,
        "kind_labels": KIND_LABELS,
        "error": None,
        "notice": None,
        "invite_link": None,
        "balances": _balances(session, principal, node),
        **extra,
    }


def _balances(session: Session, principal: Principal, node: Node) -> list[Any]:
    """A customer's outstanding and credit per currency, for callers who see
    its invoices (the same rule as the balance endpoint)."""
    if node.kind != NodeKind.CUSTOMER.value or not principal.has(
        Permission.VIEW_INVOICES, node.path
    ):
        return []
    from rerate.invoicing import payments, visibility

    if not visibility.is_visible(session, principal, node):
        return []
    return payments.customer_balance(session, node.id)


@router.get("/tenancy/{node_id}")
def node_page(node_id: int, request: Request, session: SessionDep, principal: Viewer) -> Response:
    node = service.get_node(session, principal, node_id, Permission.VIEW)
    return render(request, "tenancy/node.html", _node_context(session, principal, node))


def _refused(
    request: Request, session: Session, principal: Principal, node_id: int, exc: RerateError
) -> Response:
    session.rollback()
    node = service.get_node(session, principal, node_id, Permission.VIEW)
    status = exc.status_code if exc.status_code in (403, 404, 409, 422) else 422
    return render(
        request,
        "tenancy/node.html",
        _node_context(session, principal, node, error=exc.detail),
        status_code=status,
    )


@router.post("/tenancy/{node_id}")
async def edit_node(
    node_id: int, request: Request, session: SessionDep, principal: TenancyManager
) -> Response:
    form = await _form(request)
    node = service.get_node(session, principal, node_id, Permission.MANAGE_TENANCY)
    try:
        _act(session, principal, form.get("reason", "")[:1000])
        changes = _field_values(form, kind=NodeKind(node.kind), editing=True)
        if "name" in form:
            changes["name"] = form["name"]
        service.update_node(session, principal, node_id, changes)
    except RerateError as exc:
        return _refused(request, session, principal, node_id, exc)
    return RedirectResponse(f"/tenancy/{node_id}", status_code=303)


@router.post("/tenancy/{node_id}/deactivate")
async def deactivate_node(
    node_id: int, request: Request, session: SessionDep, principal: TenancyManager
) -> Response:
    return await _set_active(node_id, request, session, principal, active=False)


@router.post("/tenancy/{node_id}/activate")
async def activate_node(
    node_id: int, request: Request, session: SessionDep, principal: TenancyManager
) -> Response:
    return await _set_active(node_id, request, session, principal, active=True)


async def _set_active(
    node_id: int, request: Request, session: Session, principal: Principal, *, active: bool
) -> Response:
    form = await _form(request)
    try:
        _act(session, principal, form.get("reason", "")[:1000])
        service.set_node_active(session, principal, node_id, active=active)
    except RerateError as exc:
        return _refused(request, session, principal, node_id, exc)
    return RedirectResponse(f"/tenancy/{node_id}", status_code=303)


@router.post("/tenancy/{node_id}/invitations")
async def invite(
    node_id: int,
    request: Request,
    session: SessionDep,
    principal: UserManager,
) -> Response:
    form = await _form(request)
    try:
        role_text = form.get("role", "")
        if role_text not in {r.value for r in Role}:
            raise Invalid("role: choose a role")
        _act(session, principal, form.get("reason", "")[:1000])
        invitation, token = people.invite(
            session,
            principal,
            email=form.get("email", ""),
            name=form.get("name", "") or form.get("email", ""),
            role=Role(role_text),
            node_id=node_id,
        )
    except RerateError as exc:
        return _refused(request, session, principal, node_id, exc)
    node = service.get_node(session, principal, node_id, Permission.VIEW)
    link = f"{str(request.base_url).rstrip('/')}/invitations/{token}"
    notice = f"Invitation for {invitation.email} created. Send this link; it is shown only now."
    ctx = _node_context(session, principal, node, invite_link=link, notice=notice)
    return render(request, "tenancy/node.html", ctx, status_code=201)


@router.post("/tenancy/{node_id}/grants")
async def grant(
    node_id: int, request: Request, session: SessionDep, principal: UserManager
) -> Response:
    form = await _form(request)
    try:
        role_text = form.get("role", "")
        if role_text not in {r.value for r in Role}:
            raise Invalid("role: choose a role")
        user = auth.get_user_by_email(session, form.get("email", ""))
        _act(session, principal, form.get("reason", "")[:1000])
        people.grant(session, principal, user.id, role=Role(role_text), node_id=node_id)
    except RerateError as exc:
        return _refused(request, session, principal, node_id, exc)
    return RedirectResponse(f"/tenancy/{node_id}", status_code=303)


@router.post("/tenancy/{node_id}/grants/{grant_id}/revoke")
async def revoke(
    node_id: int, grant_id: int, request: Request, session: SessionDep, principal: UserManager
) -> Response:
    form = await _form(request)
    try:
        _act(session, principal, form.get("reason", "")[:1000])
        people.revoke(session, principal, grant_id)
    except RerateError as exc:
        return _refused(request, session, principal, node_id, exc)
    return RedirectResponse(f"/tenancy/{node_id}", status_code=303)


@router.post("/tenancy/{node_id}/users/{user_id}/{action}")
async def user_active(
    node_id: int,
    user_id: int,
    action: str,
    request: Request,
    session: SessionDep,
    principal: UserManager,
) -> Response:
    if action not in ("deactivate", "activate"):
        return RedirectResponse(f"/tenancy/{node_id}", status_code=303)
    form = await _form(request)
    try:
        _act(session, principal, form.get("reason", "")[:1000])
        people.set_user_active(session, principal, user_id, active=action == "activate")
    except RerateError as exc:
        return _refused(request, session, principal, node_id, exc)
    return RedirectResponse(f"/tenancy/{node_id}", status_code=303)


# -- API keys ------------------------------------------------------------------------------


def _keys_context(session: Session, principal: Principal, **extra: Any) -> dict[str, Any]:
    return {
        "active": "api-keys",
        "keys": keys.list_keys(session, principal, limit=500).items,
        "secret": None,
        "error": None,
        **extra,
    }


@router.get("/api-keys")
def api_keys_page(
    request: Request, session: SessionDep, principal: AuthenticatedPrincipal
) -> Response:
    return render(request, "tenancy/api_keys.html", _keys_context(session, principal))


@router.post("/api-keys")
async def create_api_key(
    request: Request, session: SessionDep, principal: AuthenticatedPrincipal
) -> Response:
    form = await _form(request)
    name = form.get("name", "").strip()[:200]
    user = auth.get_user_by_email(session, principal.email)
    key, secret = auth.create_api_key(session, user, name=name)
    ctx = _keys_context(session, principal, secret=secret, secret_prefix=key.prefix)
    return render(request, "tenancy/api_keys.html", ctx, status_code=201)


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(
    key_id: int, request: Request, session: SessionDep, principal: AuthenticatedPrincipal
) -> Response:
    try:
        _act(session, principal)
        keys.revoke_key(session, principal, key_id)
    except RerateError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        ctx = _keys_context(session, principal, error=exc.detail)
        return render(request, "tenancy/api_keys.html", ctx, status_code=exc.status_code)
    return RedirectResponse("/api-keys", status_code=303)


# -- invitation acceptance (no login yet) ---------------------------------------------------


@router.get("/invitations/{token}", dependencies=[Depends(Public())])
def invitation_page(token: str, request: Request, session: SessionDep) -> Response:
    invitation = people.open_invitation(session, token[:200])
    return render(
        request,
        "tenancy/invitation.html",
        {"invitation": invitation, "role": invitation.role, "error": None},
    )


@router.post("/invitations/{token}", dependencies=[Depends(Public())])
async def accept_invitation(
    token: str,
    request: Request,
    session: SessionDep,
    settings: Settings = Depends(get_settings_dep),
) -> Response:
    form = await _form(request)
    invitation = people.open_invitation(session, token[:200])
    try:
        if form.get("password", "") != form.get("confirm", ""):
            raise Invalid("password: the two passwords differ")
        people.accept_invitation(
            session,
            token[:200],
            password=form.get("password", "")[:1024],
            name=form.get("name", "")[:200],
            min_password_length=settings.password_min_length,
        )
    except RerateError as exc:
        session.rollback()
        ctx = {"invitation": invitation, "role": invitation.role, "error": exc.detail}
        return render(request, "tenancy/invitation.html", ctx, status_code=422)
    return RedirectResponse("/login?next=/", status_code=303)
