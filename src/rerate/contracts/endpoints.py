"""Contracts and their rule versions over HTTP (view to read, manage_catalog to change)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.api.fields import Amount, BillingDate, Id, Offset
from rerate.contracts import service as contracts
from rerate.kit.audit import set_reason
from rerate.kit.money import RoundingMode
from rerate.models.enums import CorrectionPolicy, InvoiceCadence

router = APIRouter(tags=["contracts"])

Reason = Annotated[str, Field(max_length=400, description="why: recorded in the audit log")]
Scope = Annotated[str | None, Field(None, max_length=200)]


class RuleIn(BaseModel):
    kind: str = Field(
        max_length=32,
        description="one of " + ", ".join(contracts.RULE_KINDS),
        examples=["discount"],
    )
    service: Scope = None
    sku: Scope = None
    region: Annotated[str | None, Field(None, max_length=64)] = None
    percent: Amount | None = Field(None, description="discount, markup, support_fee, credit")
    amount: Amount | None = Field(None, description="minimum_commitment, credit")
    unit_price: Amount | None = Field(None, description="unit_price_override (needs a sku)")
    description: str = Field("", max_length=400)

    def to_service(self) -> contracts.RuleIn:
        return contracts.RuleIn(**self.model_dump())


class ContractIn(BaseModel):
    customer_id: Id
    seller_id: Id = Field(description="the customer's reseller, distributor or the platform")
    name: str = Field("", max_length=200)
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    billing_tz: str = Field("UTC", min_length=1, max_length=64, examples=["Europe/Paris"])
    coverage_start: BillingDate = Field(description="the 1st of a month")
    coverage_end: BillingDate | None = Field(None, description="the 1st of a month, exclusive")
    rounding_mode: RoundingMode = RoundingMode.HALF_UP
    payment_terms_days: int = Field(30, ge=0, le=365)
    correction_policy: CorrectionPolicy = Field(
        CorrectionPolicy.REPLACE,
        description="How an issued invoice is corrected: replace (cancelled, a new version "
        "follows) or credit_note. A Paid or part-paid invoice is always credited.",
    )
    invoice_type: InvoiceCadence = Field(
        InvoiceCadence.MONTHLY,
        description="The customer's invoices: monthly (each closed month) or quarterly (a "
        "quarter in advance from the three months before it, then a true-up).",
    )
    cloud_price_book_id: Id | None = None
    voip_price_book_id: Id | None = None
    timetable_id: Id | None = None
    passthrough_unpriced: bool = False
    rules: list[RuleIn] = Field(default_factory=list, max_length=contracts.MAX_RULES)
    activate: bool = False
    reason: Reason = ""


class RulesIn(BaseModel):
    rules: list[RuleIn] = Field(max_length=contracts.MAX_RULES)
    reason: Reason = Field(min_length=1)


@router.get("/contracts")
def list_contracts(
    session: SessionDep,
    principal: Viewer,
    customer_id: Id | None = None,
    active: bool | None = None,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    rows, total = contracts.list_contracts(
        session,
        principal,
        customer_id=customer_id,
        active=active,
        q=q,
        limit=limit,
        offset=offset,
    )
    return {"items": [contracts.view(c) for c in rows], "total": total}


@router.post("/contracts", status_code=201)
def create_contract(body: ContractIn, session: SessionDep, principal: CatalogManager) -> Any:
    """422 naming the field for a book, deck or timetable you cannot see, of
    the wrong kind or currency; 409 when `activate` meets an active contract."""
    set_reason(session, body.reason)
    data = contracts.ContractIn(
        **body.model_dump(
            exclude={
                "rules",
                "activate",
                "reason",
                "rounding_mode",
                "correction_policy",
                "invoice_type",
            }
        ),
        rounding_mode=body.rounding_mode.value,
        correction_policy=body.correction_policy.value,
        invoice_type=body.invoice_type.value,
    )
    contract = contracts.create_contract(
        session,
        principal,
        data,
        rules=tuple(r.to_service() for r in body.rules),
        activate=body.activate,
        reason=body.reason,
    )
    return contracts.view(contract)


@router.get("/contracts/{contract_id}")
def get_contract(contract_id: Id, session: SessionDep, principal: Viewer) -> Any:
    return contracts.view(contracts.get_contract(session, principal, contract_id))


class TermsIn(BaseModel):
    """Only the terms given change; `null` clears coverage_end, a book or the timetable."""

    name: str | None = Field(None, min_length=1, max_length=200)
    coverage_end: BillingDate | None = Field(None, description="the 1st of a month, exclusive")
    payment_terms_days: int | None = Field(None, ge=0, le=365)
    correction_policy: CorrectionPolicy | None = None
    invoice_type: InvoiceCadence | None = None
    cloud_price_book_id: Id | None = None
    voip_price_book_id: Id | None = None
    timetable_id: Id | None = None
    reason: Reason = Field(min_length=1)


@router.patch("/contracts/{contract_id}")
def edit_terms(
    contract_id: Id, body: TermsIn, session: SessionDep, principal: CatalogManager
) -> Any:
    """422 naming the field for a book or timetable you cannot see, of the wrong
    kind or currency, or a coverage end that is not the 1st of a month after
    the start; a billed period whose terms change is then stale. `changed`
    names the terms that changed."""
    set_reason(session, body.reason)
    changes = {f: getattr(body, f) for f in body.model_fields_set if f != "reason"}
    if changes.get("correction_policy") is not None:
        changes["correction_policy"] = CorrectionPolicy(changes["correction_policy"]).value
    if changes.get("invoice_type") is not None:
        changes["invoice_type"] = InvoiceCadence(changes["invoice_type"]).value
    changed = contracts.edit_terms(session, principal, contract_id, changes, reason=body.reason)
    contract = contracts.get_contract(session, principal, contract_id)
    return {**contracts.view(contract), "changed": changed}


@router.get("/contracts/{contract_id}/rules")
def rule_versions(contract_id: Id, session: SessionDep, principal: Viewer) -> dict[str, Any]:
    """Every rules version, newest first, with who wrote it and why."""
    contract = contracts.get_contract(session, principal, contract_id)
    versions = contracts.rule_versions(session, contract)
    return {"items": versions, "total": len(versions)}


@router.put("/contracts/{contract_id}/rules")
def set_rules(
    contract_id: Id, body: RulesIn, session: SessionDep, principal: CatalogManager
) -> Any:
    """Write the rules as a new version (rules_version bumps; the previous stays readable)."""
    set_reason(session, body.reason)
    contract = contracts.set_rules(
        session,
        principal,
        contract_id,
        tuple(r.to_service() for r in body.rules),
        reason=body.reason,
    )
    return contracts.view(contract)


class ActivationIn(BaseModel):
    reason: Reason = ""


@router.post("/contracts/{contract_id}/activate")
def activate(
    contract_id: Id,
    session: SessionDep,
    principal: CatalogManager,
    body: ActivationIn | None = None,
) -> Any:
    """409 naming the customer's active contract, if another one is."""
    set_reason(session, body.reason if body else "")
    return contracts.view(contracts.activate(session, principal, contract_id))


@router.post("/contracts/{contract_id}/deactivate")
def deactivate(
    contract_id: Id,
    session: SessionDep,
    principal: CatalogManager,
    body: ActivationIn | None = None,
) -> Any:
    set_reason(session, body.reason if body else "")
    return contracts.view(contracts.deactivate(session, principal, contract_id))
