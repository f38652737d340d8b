"""Console: settings per node."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.api.deps import (
    SessionDep,
    SettingsManager,
    Viewer,
)
from rerate.auth.permissions import Permission, Principal
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Conflict, Forbidden, Invalid, NotFound
from rerate.models import Node
from rerate.models.enums import NodeKind, SettingKey
from rerate.settings import service as settings_service
from rerate.tenancy.service import get_node, list_nodes
from rerate.web.console import (
    int_or_none,
    page_router,
    render,
    sentence,
)

router = page_router()


@router.get("/settings")
def settings_page(
    request: Request, session: SessionDep, principal: Viewer, node_id: str = ""
) -> Response:
    """The settings in force on a node: each value, where it comes from (default,
    global, or the node whose override applies) and whether it is a policy."""
    chosen = int_or_none(node_id)
    if chosen is None and not principal.is_platform() and principal.grants:
        chosen = principal.grants[0].node_id  # one's own node, not the global values
    node = get_node(session, principal, chosen, Permission.VIEW) if chosen else None
    return render(request, "settings/settings.html", _context(session, principal, node))


def _context(
    session: SessionDep,
    principal: Principal,
    node: Node | None,
    *,
    error: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    rows = [
        {
            "key": e.key.value,
            "value": e.value,
            "source": e.source.label,
            "source_level": e.source.level,
            "set_here": (
                e.source.node_id == node.id if node is not None else e.source.level == "global"
            ),
            "overridable": node is None or e.rule.allows_override_on(NodeKind(node.kind)),
            "rule": (
                f"{e.rule.owner.value.title()} policy"
                if e.rule.policy
                else f"Set by the {e.rule.owner.value}; any node may override"
            ),
            "ignored": e.ignored_overrides,
        }
        for e in settings_service.effective_settings(session, node)
    ]
    # The global values (policies such as invoice visibility among them) are
    # the platform's to change; a node's overrides, its managers'.
    can_manage = (
        principal.has(Permission.MANAGE_SETTINGS, node.path)
        if node is not None
        else principal.is_platform() and principal.has(Permission.MANAGE_SETTINGS)
    )
    return {
        "active": "settings",
        "nodes": list_nodes(session, principal),
        "node": node,
        "rows": rows,
        "can_manage": can_manage,
        "error": error,
        "message": message,
    }


@router.post("/settings/global/{key}")
def settings_change_global(
    key: str,
    request: Request,
    session: SessionDep,
    principal: SettingsManager,
    action: Annotated[str, Form()] = "set",
    value: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Set or clear a global value (platform roles): how the console turns the
    invoice visibility policies on and off for everyone."""
    return _change(request, session, principal, None, key, action, value, reason)


@router.post("/settings/{node_id}/{key}")
def settings_change(
    node_id: int,
    key: str,
    request: Request,
    session: SessionDep,
    principal: SettingsManager,
    action: Annotated[str, Form()] = "set",
    value: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Set or clear a node's override (with a reason for the audit log)."""
    return _change(request, session, principal, node_id, key, action, value, reason)


def _change(
    request: Request,
    session: SessionDep,
    principal: Principal,
    node_id: int | None,
    key: str,
    action: str,
    value: str,
    reason: str,
) -> Response:
    try:
        setting = SettingKey(key)
    except ValueError:
        raise NotFound("not found") from None
    node = get_node(session, principal, node_id, Permission.VIEW) if node_id is not None else None
    try:
        if not reason.strip() or len(reason) > 400:
            raise Invalid("reason: say why (at most 400 characters); it is kept in the audit log")
        set_session_actor(session, Actor(principal.user_id, principal.email), reason.strip())
        if action == "clear":
            settings_service.unset_setting(session, principal, setting, node=node)
        else:
            settings_service.set_setting(session, principal, setting, value=value, node=node)
    except (Invalid, Conflict, Forbidden) as exc:
        session.rollback()
        if node_id is not None:
            node = get_node(session, principal, node_id, Permission.VIEW)
        ctx = _context(session, principal, node, error=sentence(exc.detail))
        return render(request, "settings/settings.html", ctx, status_code=exc.status_code)
    return RedirectResponse(
        f"/settings?node_id={node.id}" if node is not None else "/settings", status_code=303
    )
