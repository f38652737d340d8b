"""Commissions over HTTP: rules, summaries, chart data and statements.

Every route that names a partner or distributor (path, query or body) checks
first that the caller may see that node's commissions (`service.commission_node`):
outside the caller's subtree, or not a partner/distributor, answers 404 before
anything is read. Reading needs `view_commissions`; rules are created and
ended with `manage_commissions` (platform roles only).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema
from sqlalchemy.orm import Session

from rerate.api.deps import Require, SessionDep
from rerate.api.errors import JSON_ERROR_RESPONSES
from rerate.api.fields import BillingDate, Id, Period, decimal_text
from rerate.api.media import CSVResponse, PDFResponse
from rerate.auth.permissions import Permission, Principal
from rerate.commissions import service as svc
from rerate.commissions import statements
from rerate.invoicing.pdf import Paper
from rerate.kit.present import money_plain
from rerate.models import CommissionRule

router = APIRouter(prefix="/commissions", tags=["commissions"])

CommissionViewer = Annotated[Principal, Depends(Require(Permission.VIEW_COMMISSIONS))]
CommissionManager = Annotated[Principal, Depends(Require(Permission.MANAGE_COMMISSIONS))]

Rate = Annotated[
    Decimal,
    BeforeValidator(decimal_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^0?\.[0-9]{1,6}$",
            "examples": ["0.05"],
            "description": "A share of the invoiced net: above 0, below 1, at most 6 decimal "
            "places (0.05 = 5 %).",
        }
    ),
]


def rule_view(rule: CommissionRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "node_id": rule.node_id,
        "service": rule.service or None,
        "rate": format(rule.rate.normalize(), "f"),
        "valid_from": rule.valid_from,
        "valid_to": rule.valid_to,
        "reason": rule.reason,
        "created_by": rule.created_by,
        "created_at": rule.created_at,
    }


@router.get("/nodes")
def list_nodes(session: SessionDep, principal: CommissionViewer) -> dict[str, Any]:
    """Partners and distributors whose commissions the caller sees."""
    nodes = svc.visible_nodes(session, principal)
    items = [{"id": n.id, "name": n.name, "kind": n.kind, "parent_id": n.parent_id} for n in nodes]
    return {"items": items, "total": len(items)}


@router.get("/rules")
def list_rules(
    session: SessionDep,
    principal: CommissionViewer,
    node_id: Annotated[Id | None, Query(description="Only this partner or distributor.")] = None,
) -> dict[str, Any]:
    """Commission rules of the nodes the caller sees (or of `node_id`)."""
    rules = svc.list_rules(session, principal, node_id=node_id)
    return {"items": [rule_view(r) for r in rules], "total": len(rules)}


class RuleIn(BaseModel):
    node_id: Id = Field(description="The partner or distributor that earns the commission.")
    rate: Rate
    service: str = Field(
        "",
        max_length=svc.MAX_SERVICE,
        description='The invoice heading it applies to ("Compute", "Calls", "Support"); '
        "empty = every service without a rule of its own.",
    )
    valid_from: BillingDate = Field(description="First day the rule applies.")
    valid_to: BillingDate | None = Field(
        None, description="First day it no longer applies (half-open); none = open-ended."
    )
    reason: str = Field("", max_length=svc.MAX_REASON)


@router.post("/rules", status_code=201)
def create_rule(body: RuleIn, session: SessionDep, principal: CommissionManager) -> dict[str, Any]:
    """A new rule (accepts `Idempotency-Key`). Overlapping an existing rule of
    the same node and service answers 409."""
    rule = svc.create_rule(
        session,
        principal,
        node_id=body.node_id,
        rate=body.rate,
        service=body.service,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        reason=body.reason,
    )
    return rule_view(rule)


@router.get("/rules/{rule_id}")
def get_rule(rule_id: Id, session: SessionDep, principal: CommissionViewer) -> dict[str, Any]:
    return rule_view(svc.get_rule(session, principal, rule_id))


class EndIn(BaseModel):
    valid_to: BillingDate = Field(description="First day the rule no longer applies.")
    reason: str = Field("", max_length=svc.MAX_REASON)


@router.post("/rules/{rule_id}/end")
def end_rule(
    rule_id: Id, body: EndIn, session: SessionDep, principal: CommissionManager
) -> dict[str, Any]:
    """End a rule: set the first day it no longer applies."""
    rule = svc.end_rule(session, principal, rule_id, valid_to=body.valid_to, reason=body.reason)
    return rule_view(rule)


def _point(p: svc.Point, currency: str) -> dict[str, Any]:
    return {
        "key": p.key,
        "label": p.label,
        "basis": money_plain(p.basis, currency),
        "commission": money_plain(p.commission, currency),
    }


def summary_view(s: svc.Summary) -> dict[str, Any]:
    return {
        "node": {"id": s.node.id, "name": s.node.name, "kind": s.node.kind},
        "from": s.start,
        "to": s.end,
        "rounding": svc.ROUNDING.value,
        "currencies": [
            {
                "currency": c.currency,
                "basis": money_plain(c.basis, c.currency),
                "commission": money_plain(c.commission, c.currency),
                "by_month": [_point(p, c.currency) for p in c.by_month],
                "by_customer": [_point(p, c.currency) for p in c.by_customer],
                "by_service": [_point(p, c.currency) for p in c.by_service],
            }
            for c in s.currencies
        ],
    }


FromQ = Annotated[Period, Query(alias="from", description="First month, YYYY-MM.")]
ToQ = Annotated[Period, Query(alias="to", description="Last month included, YYYY-MM.")]
NodeQ = Annotated[Id, Query(description="The partner or distributor.")]


@router.get("/summary")
def get_summary(
    node_id: NodeQ, start: FromQ, end: ToQ, session: SessionDep, principal: CommissionViewer
) -> dict[str, Any]:
    """Invoiced net and commission per currency, per month, customer and service."""
    return summary_view(svc.summary(session, principal, node_id, start, end))


class Dimension(StrEnum):
    MONTH = "month"
    CUSTOMER = "customer"
    SERVICE = "service"


@router.get("/charts/{dimension}")
def get_chart(
    dimension: Dimension,
    node_id: NodeQ,
    start: FromQ,
    end: ToQ,
    session: SessionDep,
    principal: CommissionViewer,
) -> dict[str, Any]:
    """Chart series (spend = invoiced net, and commission) by month, customer or service."""
    s = svc.summary(session, principal, node_id, start, end)
    key = f"by_{dimension.value}"
    view = summary_view(s)
    return {
        "node": view["node"],
        "dimension": dimension.value,
        "from": s.start,
        "to": s.end,
        "series": [{"currency": c["currency"], "points": c[key]} for c in view["currencies"]],
    }


def statement_view(st: svc.Statement) -> dict[str, Any]:
    return {
        "node": {"id": st.node.id, "name": st.node.name, "kind": st.node.kind},
        "period": st.period,
        "start": st.start,
        "end": st.end,
        "documents": st.documents,
        "rounding": svc.ROUNDING.value,
        "lines": [
            {
                "customer_id": ln.customer_id,
                "customer": ln.customer,
                "service": ln.service,
                "currency": ln.currency,
                "basis": money_plain(ln.basis, ln.currency),
                "rule_id": ln.rule_id,
                "rate": statements.rate_plain(ln.rate) or None,
                "commission": money_plain(ln.commission, ln.currency),
            }
            for ln in st.lines
        ],
        "totals": [
            {
                "currency": t.currency,
                "basis": money_plain(t.basis, t.currency),
                "commission": money_plain(t.commission, t.currency),
            }
            for t in st.totals()
        ],
    }


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _statement(session: Session, principal: Principal, node_id: int, period: str) -> svc.Statement:
    return svc.statement(session, principal, node_id, period)


@router.get("/statements/{node_id}/{period}")
def get_statement(
    node_id: Id, period: Period, session: SessionDep, principal: CommissionViewer
) -> dict[str, Any]:
    """The statement of one partner or distributor for one month."""
    return statement_view(_statement(session, principal, node_id, period))


@router.get(
    "/statements/{node_id}/{period}/csv",
    response_class=CSVResponse,
    responses=JSON_ERROR_RESPONSES,
)
def statement_csv(
    node_id: Id, period: Period, session: SessionDep, principal: CommissionViewer
) -> Response:
    st = _statement(session, principal, node_id, period)
    return Response(
        statements.to_csv(st),
        media_type="text/csv",
        headers=_attachment(statements.file_name(st, "csv")),
    )


@router.get(
    "/statements/{node_id}/{period}/pdf",
    response_class=PDFResponse,
    responses=JSON_ERROR_RESPONSES,
)
def statement_pdf(
    node_id: Id,
    period: Period,
    session: SessionDep,
    principal: CommissionViewer,
    paper: Annotated[Paper, Query(description="a4 (the default) or letter.")] = Paper.A4,
) -> Response:
    st = _statement(session, principal, node_id, period)
    return Response(
        statements.to_pdf(st, paper=paper),
        media_type="application/pdf",
        headers=_attachment(statements.file_name(st, "pdf")),
    )
