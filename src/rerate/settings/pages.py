"""Console: settings per node."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from rerate.api.deps import (
    SessionDep,
    Viewer,
)
from rerate.auth.permissions import Permission
from rerate.settings import service as settings_service
from rerate.tenancy.service import get_node, list_nodes
from rerate.web.console import (
    int_or_none,
    page_router,
    render,
)

router = page_router()


@router.get("/settings")
def settings_page(
    request: Request, session: SessionDep, principal: Viewer, node_id: str = ""
) -> Response:
    """The settings in force on a node: each value, where it comes from (default,
    global, or the node whose override applies) and whether it is a policy."""
    nodes = list_nodes(session, principal)
    chosen = int_or_none(node_id)
    if chosen is None and not principal.is_platform() and principal.grants:
        chosen = principal.grants[0].node_id  # one's own node, not the global values
    node = get_node(session, principal, chosen, Permission.VIEW) if chosen else None
    rows = [
        {
            "key": e.key.value,
            "value": e.value,
            "source": e.source.label,
            "source_level": e.source.level,
            "rule": (
                f"{e.rule.owner.value.title()} policy"
                if e.rule.policy
                else f"Set by the {e.rule.owner.value}; any node may override"
            ),
            "ignored": e.ignored_overrides,
        }
        for e in settings_service.effective_settings(session, node)
    ]
    return render(
        request,
        "settings/settings.html",
        {"active": "settings", "nodes": nodes, "node": node, "rows": rows},
    )
