"""Console: contracts (list, contract page with rule versions, edit rules,
activate) and a customer's custom line items."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission
from rerate.catalog import custom_items
from rerate.contracts import rules_file
from rerate.contracts import service as contracts
from rerate.kit.audit import set_reason
from rerate.kit.errors import Invalid, RerateError
from rerate.tenancy.service import get_customer
from rerate.web.console import error_page, page_router, render, sentence

router = page_router()


@router.get("/contracts")
def contracts_page(
    request: Request, session: SessionDep, principal: Viewer, q: str = "", offset: int = 0
) -> Response:
    rows, total = contracts.list_contracts(
        session, principal, q=q[:200], limit=50, offset=max(offset, 0)
    )
    return render(
        request,
        "contracts/list.html",
        {"active": "contracts", "rows": rows, "total": total, "q": q, "offset": offset},
    )


@router.get("/contracts/{contract_id}")
def contract_page(
    contract_id: Id, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    contract = contracts.get_contract(session, principal, contract_id)
    customer = get_customer(session, principal, contract.customer_id, Permission.VIEW)
    return render(
        request,
        "contracts/contract.html",
        {
            "active": "contracts",
            "contract": contracts.view(contract),
            "customer": customer,
            "versions": contracts.rule_versions(session, contract),
            "can_manage": principal.has(Permission.MANAGE_CATALOG, customer.path),
        },
    )


def _done(request: Request, session: SessionDep, exc: RerateError) -> Response:
    session.rollback()
    return error_page(request, exc.status_code, sentence(exc.detail))


@router.post("/contracts/{contract_id}/rules")
def contract_set_rules(
    contract_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    rules: Annotated[str, Form(max_length=rules_file.MAX_BYTES)] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """The rules as CSV or JSON (docs/administration/contracts.md): a new version."""
    try:
        set_reason(session, reason)
        parsed = rules_file.parse(rules, filename="rules") if rules.strip() else ()
        contracts.set_rules(session, principal, contract_id, parsed, reason=reason)
    except RerateError as exc:
        return _done(request, session, exc)
    session.commit()
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


@router.post("/contracts/{contract_id}/activate")
def contract_activate(
    contract_id: Id, request: Request, session: SessionDep, principal: CatalogManager
) -> Response:
    try:
        contracts.activate(session, principal, contract_id)
    except RerateError as exc:
        return _done(request, session, exc)
    session.commit()
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


@router.post("/contracts/{contract_id}/deactivate")
def contract_deactivate(
    contract_id: Id, request: Request, session: SessionDep, principal: CatalogManager
) -> Response:
    contracts.deactivate(session, principal, contract_id)
    session.commit()
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


@router.get("/customers/{customer_id}/custom-items")
def custom_items_page(
    customer_id: Id, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    customer = get_customer(session, principal, customer_id, Permission.VIEW)
    items = custom_items.list_items(session, principal, customer_id)
    return render(
        request,
        "contracts/custom_items.html",
        {
            "active": "contracts",
            "customer": customer,
            "items": items,
            "can_manage": principal.has(Permission.MANAGE_CATALOG, customer.path),
        },
    )


def _day(value: str, name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{name}: a date, YYYY-MM-DD") from None


@router.post("/customers/{customer_id}/custom-items")
def custom_item_add(
    customer_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    description: Annotated[str, Form(max_length=400)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    one_off_date: Annotated[str, Form(max_length=10)] = "",
    recurring_from: Annotated[str, Form(max_length=10)] = "",
    recurring_to: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A one-off (a date) or recurring (from, optional to) charge; negative: a credit."""
    try:
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            raise Invalid('amount: a decimal number, e.g. "250.00" or "-40"') from None
        data = custom_items.ItemIn(
            description=description,
            amount=value,
            one_off_date=_day(one_off_date, "one_off_date"),
            recurring_from=_day(recurring_from, "recurring_from"),
            recurring_to=_day(recurring_to, "recurring_to"),
        )
        custom_items.create_item(session, principal, customer_id, data)
    except RerateError as exc:
        return _done(request, session, exc)
    session.commit()
    return RedirectResponse(f"/customers/{customer_id}/custom-items", status_code=303)


@router.post("/custom-items/{item_id}/delete")
def custom_item_delete(
    item_id: Id, request: Request, session: SessionDep, principal: CatalogManager
) -> Response:
    item = custom_items.delete_item(session, principal, item_id)
    session.commit()
    return RedirectResponse(f"/customers/{item['customer_id']}/custom-items", status_code=303)
