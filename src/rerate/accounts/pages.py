"""Console: the Accounts page (search, pages, create) and one account's page
(ownership history, link and move forms, the billed periods a change affects)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.accounts import service
from rerate.accounts.endpoints import accounts_out, change_out
from rerate.api.deps import Require, SessionDep, Viewer
from rerate.auth.permissions import Permission, Principal
from rerate.kit import bounds
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.models.enums import AccountKind, NodeKind
from rerate.tenancy.service import list_nodes
from rerate.web.console import PAGE_SIZE, int_or_none, page_router, render, sentence

router = page_router()

TenancyManager = Annotated[Principal, Depends(Require(Permission.MANAGE_TENANCY))]


def _sellers(session: SessionDep, principal: Principal) -> list[Any]:
    return [
        n
        for n in list_nodes(session, principal, permission=Permission.MANAGE_TENANCY)
        if n.kind != NodeKind.CUSTOMER
    ]


def _list_context(session: SessionDep, principal: Principal, q: str, page: int) -> dict[str, Any]:
    query = q.strip()[:200] or None
    total = service.count_accounts(session, principal, q=query)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    accounts = service.list_accounts(
        session, principal, q=query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return {
        "active": "accounts",
        "accounts": accounts_out(session, principal, accounts),
        "q": query or "",
        "page": page,
        "pages": pages,
        "total": total,
        "base_query": urlencode({"q": query}) if query else "",
        "kinds": [k.value for k in AccountKind],
        "sellers": _sellers(session, principal) if principal.has(Permission.MANAGE_TENANCY) else [],
        "can_manage": principal.has(Permission.MANAGE_TENANCY),
        "form": {},
        "error": None,
    }


@router.get("/accounts")
def accounts_page(
    request: Request, session: SessionDep, principal: Viewer, q: str = "", page: str = ""
) -> Response:
    """Accounts in your scope: search by ref or name, a page at a time."""
    ctx = _list_context(session, principal, q, max(1, int_or_none(page) or 1))
    return render(request, "accounts/accounts.html", ctx)


@router.post("/accounts")
def accounts_create(
    request: Request,
    session: SessionDep,
    principal: TenancyManager,
    kind: Annotated[str, Form()] = "",
    external_ref: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    platform: Annotated[str, Form()] = "",
    owner_node_id: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "kind": kind,
        "external_ref": external_ref,
        "name": name,
        "platform": platform,
        "owner_node_id": owner_node_id,
    }
    try:
        try:
            account_kind = AccountKind(kind)
        except ValueError:
            raise Invalid("kind: choose management account, subscription or VoIP peer") from None
        if len(external_ref) > 200 or len(name) > 200 or len(platform) > 64:
            raise Invalid("external_ref and name hold at most 200 characters, platform 64")
        set_session_actor(
            session, Actor(principal.user_id, principal.email), "created in the console"
        )
        account = service.create(
            session,
            principal,
            account_kind,
            external_ref=external_ref,
            owner_node_id=int_or_none(owner_node_id),
            name=name,
            platform=platform,
        )
    except (Invalid, Conflict, NotFound) as exc:
        session.rollback()
        ctx = _list_context(session, principal, "", 1)
        ctx.update(form=form, error=sentence(exc.detail))
        return render(request, "accounts/accounts.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/accounts/{account.id}?created=1", status_code=303)


def _account_context(session: SessionDep, principal: Principal, account_id: int) -> dict[str, Any]:
    account = service.get_account(session, principal, account_id)
    customers = list_nodes(
        session, principal, kind=NodeKind.CUSTOMER, permission=Permission.MANAGE_TENANCY
    )
    view = accounts_out(session, principal, [account])[0]
    return {
        "active": "accounts",
        "account": view,
        "has_owner": any(o.valid_to is None for o in view.ownerships),
        "customers": customers,
        "can_manage": principal.has(Permission.MANAGE_TENANCY),
        "form": {},
        "error": None,
        "change": None,
        "message": None,
    }


@router.get("/accounts/{account_id}")
def account_page(
    account_id: int, request: Request, session: SessionDep, principal: Viewer, created: str = ""
) -> Response:
    """One account: its ownership history, and the forms to link or move it."""
    if not 1 <= account_id <= bounds.MAX_ID:
        raise NotFound("not found")
    ctx = _account_context(session, principal, account_id)
    if created:
        ctx["message"] = f"Account {ctx['account'].external_ref} created."
    return render(request, "accounts/account.html", ctx)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("from: give an instant such as 2026-09-01T00:00:00Z") from None
    try:
        return bounds.check_instant(value, "from")
    except ValueError as exc:
        raise Invalid(str(exc)) from None


@router.post("/accounts/{account_id}/{verb}")
def account_change(
    account_id: int,
    verb: str,
    request: Request,
    session: SessionDep,
    principal: TenancyManager,
    customer_id: Annotated[str, Form()] = "",
    valid_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Link or move; the page then lists the billed periods the change affects."""
    if verb not in ("link", "move") or not 1 <= account_id <= bounds.MAX_ID:
        raise NotFound("not found")
    form = {"customer_id": customer_id, "valid_from": valid_from, "reason": reason, "verb": verb}
    try:
        customer = int_or_none(customer_id)
        if customer is None:
            raise Invalid("choose a customer")
        if not reason.strip() or len(reason) > 400:
            raise Invalid("reason: say why (at most 400 characters); it is kept in the audit log")
        instant = _instant(valid_from)
        set_session_actor(session, Actor(principal.user_id, principal.email), reason.strip())
        do = service.link if verb == "link" else service.move
        change = do(session, principal, account_id, customer_id=customer, valid_from=instant)
        result = change_out(session, principal, change)
    except (Invalid, Conflict) as exc:
        session.rollback()
        ctx = _account_context(session, principal, account_id)
        ctx.update(form=form, error=sentence(exc.detail))
        return render(request, "accounts/account.html", ctx, status_code=exc.status_code)
    ctx = _account_context(session, principal, account_id)
    ctx["change"] = result
    ctx["message"] = (
        f"Account {result.account.external_ref} "
        f"{'linked' if verb == 'link' else 'moved'} from {instant.isoformat()}."
    )
    return render(request, "accounts/account.html", ctx)
