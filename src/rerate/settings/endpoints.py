"""Settings: read the values in force (and where each comes from), change them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from rerate.api.deps import SessionDep, SettingsManager, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission
from rerate.models.enums import SettingKey
from rerate.settings import service
from rerate.tenancy.service import get_node

router = APIRouter(tags=["settings"])


class SettingIn(BaseModel):
    value: str = Field(max_length=400)
    node_id: Id | None = None


def effective_view(effective: service.Effective) -> dict[str, Any]:
    """A value, whether it is a policy and of which level, and where it comes from."""
    return {
        "value": effective.value,
        "policy": effective.rule.policy,
        "owner": effective.rule.owner.value,
        "source": {
            "level": effective.source.level,
            "node_id": effective.source.node_id,
            "node_name": effective.source.node_name,
        },
        "ignored_overrides": list(effective.ignored_overrides),
    }


@router.get("/settings")
def read_settings(
    session: SessionDep, principal: Viewer, node_id: Id | None = None
) -> dict[str, dict[str, Any]]:
    """Each setting in force on `node_id` (or globally): its value, whether it is a
    policy and of which level, its source (`default`, `global`, or the node whose
    override applies: id, name, level) and the overrides a policy ignores."""
    node = get_node(session, principal, node_id, Permission.VIEW) if node_id else None
    return {e.key.value: effective_view(e) for e in service.effective_settings(session, node)}


@router.put("/settings/{key}")
def write_setting(
    key: SettingKey,
    body: SettingIn,
    session: SessionDep,
    principal: SettingsManager,
) -> dict[str, Any]:
    """Set the global value (no `node_id`) or a node's override. A policy is set
    only by its owning level (403) and not on a node below it (409)."""
    node = (
        get_node(session, principal, body.node_id, Permission.MANAGE_SETTINGS)
        if body.node_id
        else None
    )
    setting = service.set_setting(session, principal, key, value=body.value, node=node)
    effective = service.resolve(session, key, node)
    return {"key": setting.key, "node_id": setting.node_id, **effective_view(effective)}
