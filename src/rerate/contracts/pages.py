"""Console: contracts (list, contract page with rule versions, edit rules,
activate) and a customer's custom line items."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission, Principal
from rerate.catalog import custom_items, forms
from rerate.catalog.forms import owner_names
from rerate.contracts import rules_file
from rerate.contracts import service as contracts
from rerate.contracts.choices import contract_choices
from rerate.kit.audit import set_reason
from rerate.kit.errors import Conflict, Invalid, RerateError
from rerate.models import Contract, PriceBook, Timetable
from rerate.tenancy.service import get_customer
from rerate.web.console import error_page, page_router, render, sentence

router = page_router()


LABELS = {
    "customer_id": "Customer",
    "seller_id": "Seller",
    "name": "Name",
    "currency": "Currency",
    "billing_tz": "Billing time zone",
    "coverage_start": "Coverage start",
    "coverage_end": "Coverage end",
    "rounding_mode": "Rounding",
    "payment_terms_days": "Payment terms",
    "correction_policy": "Correction of issued invoices",
    "invoice_type": "Invoice type",
    "cloud_price_book_id": "Cloud price book",
    "voip_price_book_id": "VoIP deck",
    "timetable_id": "Timetable",
    "reason": "Reason",
}


def _list_context(session: SessionDep, principal: Principal, q: str, offset: int) -> dict[str, Any]:
    rows, total = contracts.list_contracts(
        session, principal, q=q[:200], limit=50, offset=max(offset, 0)
    )
    can_create = principal.has(Permission.MANAGE_CATALOG)
    return {
        "active": "contracts",
        "rows": rows,
        "total": total,
        "q": q,
        "offset": offset,
        "customer_names": {c.customer_id: owner_names(session, c.customer_id) for c in rows},
        "can_create": can_create,
        "choices": contract_choices(session, principal) if can_create else {},
        "form": {},
        "error": None,
    }


@router.get("/contracts")
def contracts_page(
    request: Request, session: SessionDep, principal: Viewer, q: str = "", offset: int = 0
) -> Response:
    return render(request, "contracts/list.html", _list_context(session, principal, q, offset))


def _month(value: str, field: str) -> date | None:
    """A month input's "YYYY-MM" (or a full date): the 1st of that month."""
    text = value.strip()
    if not text:
        return None
    return forms.day(text + "-01" if len(text) == 7 else text, field)


@router.post("/contracts")
def contract_create(
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    customer_id: Annotated[str, Form()] = "",
    seller_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "",
    billing_tz: Annotated[str, Form()] = "UTC",
    coverage_start: Annotated[str, Form()] = "",
    coverage_end: Annotated[str, Form()] = "",
    rounding_mode: Annotated[str, Form()] = "ROUND_HALF_UP",
    payment_terms_days: Annotated[str, Form()] = "30",
    correction_policy: Annotated[str, Form()] = "replace",
    invoice_type: Annotated[str, Form()] = "monthly",
    cloud_price_book_id: Annotated[str, Form()] = "",
    voip_price_book_id: Annotated[str, Form()] = "",
    timetable_id: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "customer_id": customer_id,
        "seller_id": seller_id,
        "name": name,
        "currency": currency,
        "billing_tz": billing_tz,
        "coverage_start": coverage_start,
        "coverage_end": coverage_end,
        "rounding_mode": rounding_mode,
        "payment_terms_days": payment_terms_days,
        "correction_policy": correction_policy,
        "invoice_type": invoice_type,
        "cloud_price_book_id": cloud_price_book_id,
        "voip_price_book_id": voip_price_book_id,
        "timetable_id": timetable_id,
        "reason": reason,
    }
    try:
        customer = forms.optional_id(customer_id, "customer_id")
        seller = forms.optional_id(seller_id, "seller_id")
        if customer is None or seller is None:
            raise Invalid(f"{'customer_id' if customer is None else 'seller_id'}: choose one")
        start = _month(coverage_start, "coverage_start")
        if start is None:
            raise Invalid("coverage_start: choose the first month the contract covers")
        set_reason(session, forms.text(reason, "reason", size=forms.MAX_FIELD))
        data = contracts.ContractIn(
            customer_id=customer,
            seller_id=seller,
            name=forms.text(name, "name"),
            currency=forms.text(currency, "currency", size=3, required=True),
            billing_tz=forms.text(billing_tz, "billing_tz", size=64, required=True),
            coverage_start=start,
            coverage_end=_month(coverage_end, "coverage_end"),
            rounding_mode=rounding_mode,
            payment_terms_days=forms.integer(payment_terms_days, "payment_terms_days", 0, 365),
            correction_policy=correction_policy.strip(),
            invoice_type=invoice_type.strip(),
            cloud_price_book_id=forms.optional_id(cloud_price_book_id, "cloud_price_book_id"),
            voip_price_book_id=forms.optional_id(voip_price_book_id, "voip_price_book_id"),
            timetable_id=forms.optional_id(timetable_id, "timetable_id"),
        )
        contract = contracts.create_contract(
            session, principal, data, reason=reason.strip() or "created in the console"
        )
    except (Invalid, Conflict) as exc:
        session.rollback()
        ctx = _list_context(session, principal, "", 0)
        ctx.update(form=form, error=forms.plain(exc.detail, LABELS))
        return render(request, "contracts/list.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/contracts/{contract.id}", status_code=303)


def _contract_context(
    session: SessionDep, principal: Principal, contract_id: int
) -> dict[str, Any]:
    contract = contracts.get_contract(session, principal, contract_id)
    customer = get_customer(session, principal, contract.customer_id, Permission.VIEW)
    can_manage = principal.has(Permission.MANAGE_CATALOG, customer.path)
    view = contracts.view(contract)
    return {
        "active": "contracts",
        "contract": view,
        "customer": customer,
        "seller": owner_names(session, contract.seller_id),
        "names": _reference_names(session, contract),
        "versions": contracts.rule_versions(session, contract),
        "can_manage": can_manage,
        "choices": contract_choices(session, principal) if can_manage else {},
        "form": {},
        "error": None,
    }


def _reference_names(session: SessionDep, contract: Contract) -> dict[str, str]:
    """The names of the books and timetable the contract uses (ids when gone)."""
    out = {}
    for field in ("cloud_price_book_id", "voip_price_book_id", "timetable_id"):
        ref = getattr(contract, field)
        if ref is None:
            out[field] = ""
            continue
        row: PriceBook | Timetable | None = (
            session.get(Timetable, ref) if field == "timetable_id" else session.get(PriceBook, ref)
        )
        out[field] = row.name if row is not None else str(ref)
    return out


@router.get("/contracts/{contract_id}")
def contract_page(
    contract_id: Id, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    ctx = _contract_context(session, principal, contract_id)
    return render(request, "contracts/contract.html", ctx)


@router.post("/contracts/{contract_id}/terms")
def contract_edit_terms(
    contract_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    name: Annotated[str, Form()] = "",
    coverage_end: Annotated[str, Form()] = "",
    payment_terms_days: Annotated[str, Form()] = "",
    correction_policy: Annotated[str, Form()] = "",
    invoice_type: Annotated[str, Form()] = "",
    cloud_price_book_id: Annotated[str, Form()] = "",
    voip_price_book_id: Annotated[str, Form()] = "",
    timetable_id: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Every term of the form is sent; the service changes those that differ."""
    form = {
        "form": "terms",
        "name": name,
        "coverage_end": coverage_end,
        "payment_terms_days": payment_terms_days,
        "correction_policy": correction_policy,
        "invoice_type": invoice_type,
        "cloud_price_book_id": cloud_price_book_id,
        "voip_price_book_id": voip_price_book_id,
        "timetable_id": timetable_id,
        "reason": reason,
    }
    contracts.get_contract(session, principal, contract_id)
    try:
        why = forms.reason(reason)
        set_reason(session, why)
        changes = {
            "name": forms.text(name, "name"),
            "coverage_end": _month(coverage_end, "coverage_end"),
            "payment_terms_days": forms.integer(payment_terms_days, "payment_terms_days", 0, 365),
            "cloud_price_book_id": forms.optional_id(cloud_price_book_id, "cloud_price_book_id"),
            "voip_price_book_id": forms.optional_id(voip_price_book_id, "voip_price_book_id"),
            "timetable_id": forms.optional_id(timetable_id, "timetable_id"),
        }
        if correction_policy.strip():  # a form without the field leaves it as it is
            changes["correction_policy"] = correction_policy.strip()
        if invoice_type.strip():
            changes["invoice_type"] = invoice_type.strip()
        contracts.edit_terms(session, principal, contract_id, changes, reason=why)
    except (Invalid, Conflict) as exc:
        session.rollback()
        ctx = _contract_context(session, principal, contract_id)
        ctx.update(form=form, error=forms.plain(exc.detail, LABELS))
        return render(request, "contracts/contract.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


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
