"""Console: commissions (summary cards, charts, statements, rules).

Charts are drawn on the server: each bar is an inline SVG whose rectangle
width is a percentage of the row, labels and figures are HTML text next to
it, so they stay readable at 390 px and nothing is fetched from a CDN
(docs/commissions.md, "Console").
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.api.deps import Require, SessionDep
from rerate.auth.permissions import Permission, Principal
from rerate.commissions import service, statements
from rerate.kit.errors import Invalid, RerateError
from rerate.kit.money import parse_decimal
from rerate.kit.periods import Month
from rerate.web.console import (
    PERIOD_RE,
    error_page,
    int_or_none,
    page_router,
    render,
    sentence,
)

router = page_router()
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW_COMMISSIONS))]
Manager = Annotated[Principal, Depends(Require(Permission.MANAGE_COMMISSIONS))]
DEFAULT_MONTHS = 6


def _this_month() -> Month:
    return Month.of(datetime.now(UTC).date())


def _bars(points: list[service.Point]) -> list[dict[str, Any]]:
    """Each point with its bars as percentages of the largest value (spend and
    commission each on their own scale: a commission is a few % of the spend)."""
    top_b = max((abs(p.basis) for p in points), default=Decimal(0)) or Decimal(1)
    top_c = max((abs(p.commission) for p in points), default=Decimal(0)) or Decimal(1)

    def pct(value: Decimal, top: Decimal) -> str:
        return format((abs(value) * 100 / top).quantize(Decimal("0.1")), "f")

    return [
        {
            "label": p.label,
            "key": p.key,
            "basis": p.basis,
            "commission": p.commission,
            "basis_pct": pct(p.basis, top_b),
            "commission_pct": pct(p.commission, top_c),
            "negative": p.basis < 0 or p.commission < 0,
        }
        for p in points
    ]


def _month(text: str) -> Month | None:
    """A month from the query string; anything else (also a year rerate does
    not hold, such as 0000-01) is none, and the page falls back to its default."""
    if not PERIOD_RE.match(text or ""):
        return None
    try:
        return service.parse_period(text)
    except Invalid:
        return None


@router.get("/commissions")
def commissions_page(
    request: Request,
    session: SessionDep,
    principal: Viewer,
    node_id: str = "",
    period: str = "",
    created: str = "",
    ended: str = "",
) -> Response:
    """Summary, charts, the statement of one month and the rules of one node."""
    # "from" is a Python keyword: the range is read from the query string.
    start = request.query_params.get("from", "")
    end = request.query_params.get("to", "")
    nodes = service.visible_nodes(session, principal)
    if not nodes:
        return error_page(request, 404, "There is no partner or distributor in your scope.")
    nid = int_or_none(node_id)
    # The node is checked like the API checks it: outside the caller's scope
    # is "not found", never someone else's figures.
    node = service.commission_node(session, principal, nid) if nid is not None else nodes[0]
    last = _month(end) or _this_month()
    chosen = _month(start)
    first = chosen or last
    if chosen is None:
        for _ in range(DEFAULT_MONTHS - 1):
            first = first.previous()
    error = None
    try:
        months = service.months_between(first, last)
    except Invalid as exc:
        error = sentence(exc.detail)
        last = _this_month()
        first = last
        months = [last]
    summary = service.summarise(session, node, months)
    stmt_month = _month(period) or last
    st = service.compute(session, node, stmt_month)
    rules = service.list_rules(session, principal, node_id=node.id)
    names = {n.id: n.name for n in nodes}
    message = None
    if int_or_none(created) is not None:
        message = f"Commission rule #{created} created."
    elif int_or_none(ended) is not None:
        message = f"Commission rule #{ended} ended."
    query = {"node_id": node.id, "from": str(first), "to": str(last)}
    return render(
        request,
        "commissions/index.html",
        {
            "active": "commissions",
            "nodes": nodes,
            "node": node,
            "names": names,
            "start": str(first),
            "end": str(last),
            "months": [str(m) for m in months],
            "currencies": [
                {
                    "currency": c.currency,
                    "basis": c.basis,
                    "commission": c.commission,
                    "by_month": _bars(c.by_month),
                    "by_customer": _bars(c.by_customer),
                    "by_service": _bars(c.by_service),
                }
                for c in summary.currencies
            ],
            "statement": st,
            "statement_totals": st.totals(),
            "rate_text": statements.rate_text,
            "rules": rules,
            "can_manage": principal.has(Permission.MANAGE_COMMISSIONS, node.path),
            "today": datetime.now(UTC).date().isoformat(),
            "base_query": urlencode(query),
            "message": message,
            "error": error,
            "rounding": service.ROUNDING.value,
        },
    )


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"{what}: a date YYYY-MM-DD, got {text[:20]!r}") from None


@router.post("/commissions/rules")
def rule_create(
    request: Request,
    session: SessionDep,
    principal: Manager,
    node_id: Annotated[str, Form()] = "",
    rate_percent: Annotated[str, Form()] = "",
    service_name: Annotated[str, Form(alias="service")] = "",
    valid_from: Annotated[str, Form()] = "",
    valid_to: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Create a rule from the console form (the rate is entered in percent)."""
    nid = int_or_none(node_id)
    if nid is None:
        return error_page(request, 422, "Choose a partner or distributor.")
    try:
        try:
            percent = parse_decimal(rate_percent)
        except ArithmeticError:
            raise Invalid(
                f"rate: a percentage such as 5 or 2.5, got {rate_percent[:20]!r}"
            ) from None
        rule = service.create_rule(
            session,
            principal,
            node_id=nid,
            rate=percent / 100,
            service=service_name,
            valid_from=_date(valid_from, "valid_from"),
            valid_to=_date(valid_to, "valid_to") if valid_to.strip() else None,
            reason=reason,
        )
    except RerateError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        return error_page(request, exc.status_code, sentence(exc.detail))
    session.commit()
    back = urlencode({"node_id": nid, "created": rule.id})
    return RedirectResponse(f"/commissions?{back}#rules", status_code=303)


@router.post("/commissions/rules/{rule_id}/end")
def rule_end(
    rule_id: str,
    request: Request,
    session: SessionDep,
    principal: Manager,
    valid_to: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    rid = int_or_none(rule_id)
    if rid is None:  # not an id (or past the id column's range): nothing there
        return error_page(request, 404, "There is nothing at this address.")
    try:
        rule = service.end_rule(
            session, principal, rid, valid_to=_date(valid_to, "valid_to"), reason=reason
        )
    except RerateError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        return error_page(request, exc.status_code, sentence(exc.detail))
    node_id = rule.node_id
    session.commit()
    back = urlencode({"node_id": node_id, "ended": rid})
    return RedirectResponse(f"/commissions?{back}#rules", status_code=303)
