"""Console: the invoices page and issuing."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.api.deps import (
    InvoiceGenerator,
    InvoiceViewer,
    PaymentRecorder,
    SessionDep,
)
from rerate.api.fields import Id
from rerate.auth.permissions import Permission
from rerate.invoicing import credit_notes, payments, quarterly, visibility
from rerate.invoicing import endpoints as invoicing_api
from rerate.invoicing import payment_endpoints as payment_api
from rerate.invoicing import service as invoicing
from rerate.invoicing.generate import generate_for
from rerate.kit.errors import (
    Invalid,
    RerateError,
)
from rerate.models import Invoice
from rerate.models.enums import (
    InvoiceStatus,
    InvoiceType,
    NodeKind,
)
from rerate.tenancy.service import get_customer, list_nodes
from rerate.web.console import (
    PERIOD_RE,
    error_page,
    int_or_none,
    page_router,
    render,
    sentence,
)

router = page_router()
GENERATE = Permission.GENERATE_INVOICES
INVOICE_PAGE_SIZE = 50

# --- invoices --------------------------------------------------------------------------------


_TYPE_LABELS = {InvoiceType.QUARTERLY.value: "Quarterly", InvoiceType.TRUE_UP.value: "True-up"}


def _invoice_rows(items: list[dict[str, Any]], names: Mapping[int, str]) -> list[dict[str, Any]]:
    by_id = {inv["id"]: inv for inv in items}
    rows = []
    for inv in items:

        def ref(other_id: int | None) -> dict[str, Any] | None:
            if other_id is None:
                return None
            other = by_id.get(other_id)
            label = f"#{other_id}" + (f" ({other['number']})" if other and other["number"] else "")
            return {"id": other_id, "label": label, "on_page": other is not None}

        rows.append(
            {
                **inv,
                "customer_name": names.get(inv["customer_id"], f"#{inv['customer_id']}"),
                "status_label": inv["status"].capitalize(),
                "is_credit_note": inv["type"] == InvoiceType.CREDIT_NOTE.value,
                "type_label": _TYPE_LABELS.get(inv["type"]),
                "replaces_ref": ref(inv["replaces"]),
                "replaced_by_ref": ref(inv["replaced_by"]),
                "credits_ref": ref(inv["credits"]),
                "credited_by_ref": ref(inv["credited_by"]),
                "can_issue": inv["status"] == InvoiceStatus.READY.value,
                "overdue": inv.get("overdue", False),
            }
        )
    return rows


@router.get("/invoices")
def invoices_page(
    request: Request,
    session: SessionDep,
    principal: InvoiceViewer,
    customer_id: str = "",
    period: str = "",
    page: str = "",
    issued: str = "",
    generated: str = "",
) -> Response:
    """Invoices per customer and period, with the links between versions.
    Refused (403) to a caller the visibility settings show no invoices."""
    if not visibility.sees_any(session, principal):
        raise visibility.InvoicesHidden()
    cid = int_or_none(customer_id)
    per = period if PERIOD_RE.match(period or "") else None
    pg = max(1, int_or_none(page) or 1)
    customers = list_nodes(
        session, principal, kind=NodeKind.CUSTOMER, permission=Permission.VIEW_INVOICES
    )
    data = invoicing_api.list_invoices(
        session=session,
        principal=principal,
        customer_id=cid,
        period=per,
        limit=INVOICE_PAGE_SIZE,
        offset=(pg - 1) * INVOICE_PAGE_SIZE,
    )
    names = {c.id: c.name for c in customers}
    total = int(data["total"])
    message = None
    generated_id = int_or_none(generated)
    if generated_id is not None:
        message = f"Invoice #{generated_id} is Ready: check it, then issue it."
    issued_id = int_or_none(issued)
    if issued_id is not None:
        issued_inv = next((i for i in data["items"] if i["id"] == issued_id), None)
        if issued_inv is not None and issued_inv["number"]:
            message = f"Invoice #{issued_id} issued as {issued_inv['number']}."
    base = {k: v for k, v in (("customer_id", str(cid or "")), ("period", per or "")) if v}
    return render(
        request,
        "invoicing/invoices.html",
        {
            "active": "invoices",
            "customers": customers,
            "customer_id": cid,
            "period": per or "",
            "invoices": _invoice_rows(data["items"], names),
            "total": total,
            "page": pg,
            "pages": max(1, math.ceil(total / INVOICE_PAGE_SIZE)),
            "base_query": urlencode(base),
            "message": message,
            "error": None,
            "generate_customers": (
                list_nodes(session, principal, kind=NodeKind.CUSTOMER, permission=GENERATE)
                if principal.has(GENERATE)
                else []
            ),
        },
    )


@router.post("/invoices/generate")
def invoice_generate(
    request: Request,
    session: SessionDep,
    principal: InvoiceGenerator,
    customer_id: Annotated[str, Form()] = "",
    period: Annotated[str, Form()] = "",
) -> Response:
    """Generate the monthly invoice from the current billing runs (Ready, not yet issued)."""
    cid = int_or_none(customer_id)
    if cid is None or not PERIOD_RE.match(period or ""):
        return error_page(request, 422, "Choose a customer and a period (YYYY-MM).")
    customer = get_customer(session, principal, cid, GENERATE)
    try:
        outcome = generate_for(session, customer, period, reuse_unchanged=True)
    except RerateError as exc:
        session.rollback()
        return error_page(request, exc.status_code, sentence(exc.detail))
    invoice_id = outcome.invoice.id
    session.commit()
    back = urlencode({"customer_id": cid, "period": period, "generated": invoice_id})
    return RedirectResponse(f"/invoices?{back}#invoice-{invoice_id}", status_code=303)


@router.post("/invoices/quarterly")
def invoice_generate_quarterly(
    request: Request,
    session: SessionDep,
    principal: InvoiceGenerator,
    customer_id: Annotated[str, Form()] = "",
    quarter: Annotated[str, Form()] = "",
    override_amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Generate a quarterly invoice (Ready); shows it, with its projection."""
    cid = int_or_none(customer_id)
    if cid is None:
        return error_page(request, 422, "Choose a customer.")
    customer = get_customer(session, principal, cid, GENERATE)
    try:
        try:
            amount = Decimal(override_amount.strip()) if override_amount.strip() else None
        except InvalidOperation:
            raise Invalid("override_amount: a decimal such as 1800.00") from None
        done = quarterly.generate_quarterly(
            session, customer, quarter, override_amount=amount, reason=reason or None
        )
    except RerateError as exc:
        session.rollback()
        return error_page(request, exc.status_code, sentence(exc.detail))
    invoice_id = done.invoice.id
    session.commit()
    return RedirectResponse(f"/invoices/{invoice_id}", status_code=303)


@router.post("/invoices/{invoice_id}/true-up")
def invoice_true_up(
    invoice_id: Id,
    request: Request,
    session: SessionDep,
    principal: InvoiceGenerator,
) -> Response:
    """True up a quarterly invoice; shows the quarterly invoice with its true-up."""
    inv, customer = invoicing_api._get(session, principal, invoice_id)
    get_customer(session, principal, customer.id, GENERATE)
    return _done(
        request,
        session,
        principal,
        invoice_id,
        lambda: quarterly.true_up(session, inv.id),
        then=invoice_id,
    )


@router.post("/invoices/{invoice_id}/issue")
def invoice_issue(
    invoice_id: Id,
    request: Request,
    session: SessionDep,
    principal: InvoiceGenerator,
) -> Response:
    inv, _customer = invoicing_api._get(session, principal, invoice_id)
    back = urlencode({"customer_id": inv.customer_id, "period": inv.period})
    try:
        invoicing.issue(session, inv)
    except RerateError as exc:
        session.rollback()
        return error_page(request, exc.status_code, exc.detail)
    session.commit()
    return RedirectResponse(
        f"/invoices?{back}&issued={invoice_id}#invoice-{invoice_id}", status_code=303
    )


# --- one invoice: lines and payments --------------------------------------------------------


def _invoice_page(
    request: Request,
    session: Any,
    principal: Any,
    invoice_id: int,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    inv, customer = invoicing_api._get(session, principal, invoice_id)
    settled = payments.settlements(session, [inv.id])[inv.id]
    view = invoicing_api.invoice_view(
        inv,
        settled=settled,
        today=payments.billing_today(session, inv.customer_id),
    )
    summary = payment_api._summary(session, inv)
    # The documents this one is linked to, by number (a credit note and the
    # invoice it reverses; the version it replaces or that replaced it).
    linked = {
        key: session.get(Invoice, other_id)
        for key, other_id in (
            ("credits", inv.credits_id),
            ("credited_by", inv.credited_by_id),
            ("replaces", inv.replaces_id),
            ("replaced_by", inv.replaced_by_id),
            ("trued_up_by", inv.trued_up_by_id),
            ("true_up_of", inv.true_up_of_id),
        )
        if other_id is not None
    }
    notes = {
        p["credit_note"]: session.get(Invoice, p["credit_note"])
        for p in summary["items"]
        if p["credit_note"] is not None
    }
    response = render(
        request,
        "invoicing/invoice.html",
        {
            "active": "invoices",
            "inv": view,
            "customer_name": customer.name,
            "payments": summary["items"],
            "is_credit_note": inv.type == InvoiceType.CREDIT_NOTE.value,
            "credited_any": settled.credited != 0,
            "linked": {
                k: {"id": v.id, "label": v.number or f"#{v.id}"} for k, v in linked.items() if v
            },
            "note_numbers": {k: (v.number if v else f"#{k}") for k, v in notes.items()},
            "can_record": principal.has(Permission.RECORD_PAYMENTS, customer.path),
            "can_credit": principal.has(GENERATE, customer.path)
            and inv.type != InvoiceType.CREDIT_NOTE.value
            and inv.status in credit_notes.CREDITABLE,
            "can_true_up": principal.has(GENERATE, customer.path)
            and inv.type == InvoiceType.QUARTERLY.value
            and inv.trued_up_at is None
            and inv.status in (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value),
            "today": payments.billing_today(session, inv.customer_id).isoformat(),
            "message": message,
            "error": error,
        },
    )
    response.status_code = status_code
    return response


@router.get("/invoices/{invoice_id}")
def invoice_page(
    invoice_id: Id, request: Request, session: SessionDep, principal: InvoiceViewer
) -> Response:
    """An invoice's lines, payments and (with record_payments) the payment form."""
    return _invoice_page(request, session, principal, invoice_id)


def _done(
    request: Request,
    session: Any,
    principal: Any,
    invoice_id: int,
    action: Callable[[], object],
    *,
    then: int | None = None,
) -> Response:
    """Run a console action on an invoice: on a refusal, the invoice page again
    with the reason (nothing kept); otherwise commit and show the invoice
    (`then`: another one, e.g. the credit note just made)."""
    try:
        result = action()
    except RerateError as exc:
        session.rollback()
        return _invoice_page(
            request,
            session,
            principal,
            invoice_id,
            error=sentence(exc.detail),
            status_code=exc.status_code,
        )
    target = then if then is not None else getattr(result, "id", None)
    session.commit()
    return RedirectResponse(f"/invoices/{target or invoice_id}", status_code=303)


@router.post("/invoices/{invoice_id}/payments")
def invoice_record_payment(
    invoice_id: Id,
    request: Request,
    session: SessionDep,
    principal: PaymentRecorder,
    amount: Annotated[str, Form()] = "",
    date_: Annotated[str, Form(alias="date")] = "",
    reference: Annotated[str, Form()] = "",
) -> Response:
    inv = payment_api._recordable(session, principal, invoice_id)

    def record() -> None:
        try:
            value = Decimal(amount.strip())
            day = date.fromisoformat(date_)
        except (InvalidOperation, ValueError):
            raise Invalid("Give the amount as a decimal and the date as YYYY-MM-DD.") from None
        payments.record_payment(
            session,
            inv.id,
            amount=value,
            paid_on=day,
            reference=reference,
            user_id=principal.user_id,
        )

    return _done(request, session, principal, invoice_id, record)


@router.post("/invoices/{invoice_id}/payments/{payment_id}/reversal")
def invoice_reverse_payment(
    invoice_id: Id,
    payment_id: Id,
    request: Request,
    session: SessionDep,
    principal: PaymentRecorder,
    reason: Annotated[str, Form()] = "",
) -> Response:
    def reverse() -> None:
        payment_api.reverse_payment(
            payment_id,
            payment_api.ReversalIn.model_construct(reason=reason),
            session=session,
            principal=principal,
        )

    return _done(request, session, principal, invoice_id, reverse)


@router.post("/invoices/{invoice_id}/credit-note")
def invoice_credit(
    invoice_id: Id,
    request: Request,
    session: SessionDep,
    principal: InvoiceGenerator,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Reverse the invoice in full with a credit note; shows the credit note."""
    inv, customer = invoicing_api._get(session, principal, invoice_id)
    get_customer(session, principal, customer.id, GENERATE)
    return _done(
        request,
        session,
        principal,
        invoice_id,
        lambda: credit_notes.credit_in_full(session, inv, reason=reason),
    )
