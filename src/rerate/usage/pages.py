"""Console: import a usage file (CDRs, FOCUS, Azure, CloudStack ...) and see the report.

The upload streams to disk and runs through the same code as
`POST /api/v1/usage/imports` (usage.endpoints.import_upload): all or nothing,
errors naming the file, line and field.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.orm import Session

from rerate.api.deps import SessionDep, UsageImporter
from rerate.auth.permissions import Permission, Principal
from rerate.kit.errors import Invalid
from rerate.models.enums import NodeKind
from rerate.tenancy.service import list_nodes
from rerate.usage.endpoints import import_upload, recent_imports
from rerate.usage.importers import IMPORTERS
from rerate.web.console import page_router, render

router = page_router()

FORMAT_LABELS = {
    "asterisk": "Asterisk CDR (Master.csv)",
    "azure": "Azure usage details",
    "cloudstack": "CloudStack usage records",
    "focus": "FinOps FOCUS 1.x (CSV or Parquet)",
    "freeswitch": "FreeSWITCH CDR CSV",
    "generic_cdr": "rerate generic CDR CSV",
}


def _context(session: Session, principal: Principal, **extra: Any) -> dict[str, Any]:
    imports, total = recent_imports(session, principal, limit=20)
    return {
        "active": "usage",
        "formats": [(f, FORMAT_LABELS.get(f, f)) for f in sorted(IMPORTERS)],
        "customers": list_nodes(
            session, principal, kind=NodeKind.CUSTOMER, permission=Permission.IMPORT_USAGE
        ),
        "imports": imports,
        "imports_total": total,
        "report": None,
        "error": None,
        "errors": [],
        "form": {},
        **extra,
    }


@router.get("/usage/imports")
def imports_page(request: Request, session: SessionDep, principal: UsageImporter) -> Response:
    return render(request, "usage/imports.html", _context(session, principal))


@router.post("/usage/imports")
async def import_submit(
    request: Request, session: SessionDep, principal: UsageImporter
) -> Response:
    try:
        report = await import_upload(request, session, principal, blank_is_unset=True)
    except Invalid as exc:
        # The detail names the file, line and field already ("cdrs.csv:12: start: ...").
        return render(
            request,
            "usage/imports.html",
            _context(session, principal, error=exc.detail),
            status_code=422,
        )
    except RequestValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return render(
            request,
            "usage/imports.html",
            _context(session, principal, error="The form is incomplete.", errors=errors),
            status_code=422,
        )
    return render(
        request,
        "usage/imports.html",
        _context(session, principal, report=report.model_dump()),
        status_code=201,
    )
