"""`GET /api/v1/operations/check`: `rerate check` for platform operators (read only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from rerate.api.deps import Require, get_db, get_settings_dep
from rerate.auth.permissions import Permission, Principal
from rerate.operations.check import Context, run_checks

router = APIRouter(tags=["operations"])
Operator = Annotated[Principal, Depends(Require(Permission.OPERATIONS))]


@router.get("/operations/check")
def operations_check(
    request: Request,
    _principal: Operator,
    deep: bool = Query(
        False,
        description="Re-hash every published run's files (slow on a large data directory); "
        "by default their presence and sizes are checked.",
    ),
) -> dict[str, Any]:
    """The invariants `rerate check` verifies, as JSON. Repairs stay on the
    command line (`rerate check --repair`), next to the operator who decides."""
    ctx = Context(get_db(request), get_settings_dep(request).data_dir, deep=deep)
    return run_checks(ctx).as_dict()
