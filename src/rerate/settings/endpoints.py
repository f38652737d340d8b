"""Settings: read the values in force (and where each comes from), change them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from rerate.api.deps import SessionDep, SettingsManager, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission
from rerate.kit.audit import Actor, set_session_actor
from rerate.models import Node
from rerate.models.enums import NodeKind, SettingKey
from rerate.settings import service
from rerate.tenancy.service import get_node

router = APIRouter(tags=["settings"])


class SettingIn(BaseModel):
    value: str = Field(max_length=400)
    node_id: Id | None = None
    reason: str = Field("", max_length=400, description="Why (kept in the audit log).")


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
    set_session_actor(session, Actor(principal.user_id, principal.email), body.reason)
    node = (
        get_node(session, principal, body.node_id, Permission.MANAGE_SETTINGS)
        if body.node_id
        else None
    )
    setting = service.set_setting(session, principal, key, value=body.value, node=node)
    effective = service.resolve(session, key, node)
    return {"key": setting.key, "node_id": setting.node_id, **effective_view(effective)}


class NodeSettingOut(BaseModel):
    key: str
    value: str
    policy: bool = Field(description="Decided by the owning level alone")
    owner: str = Field(description="The level that decides the setting")
    set_here: bool = Field(description="An override stored on this node applies")
    can_override_here: bool = Field(description="The rule allows an override on this node")
    source: dict[str, Any] = Field(
        description="Where the value comes from: level (default, global or a node kind), "
        "node_id and node_name (of the node whose override applies; null otherwise), label"
    )
    ignored_overrides: list[int]


def node_setting_view(node: Node, effective: service.Effective) -> NodeSettingOut:
    source = effective.source
    return NodeSettingOut(
        key=effective.key.value,
        value=effective.value,
        policy=effective.rule.policy,
        owner=effective.rule.owner.value,
        set_here=source.node_id == node.id,
        can_override_here=effective.rule.allows_override_on(NodeKind(node.kind)),
        source={
            "level": source.level,
            "node_id": source.node_id,
            "node_name": source.node_name,
            "label": source.label,
        },
        ignored_overrides=list(effective.ignored_overrides),
    )


class NodeSettings(BaseModel):
    node_id: int
    node: str
    items: list[NodeSettingOut]


@router.get("/nodes/{node_id}/settings")
def node_settings(node_id: Id, session: SessionDep, principal: Viewer) -> NodeSettings:
    """Every setting in force on the node: its value, and whether it is set
    here or inherited, and from which node (or the global value, or the default)."""
    node = get_node(session, principal, node_id, Permission.VIEW)
    items = [node_setting_view(node, e) for e in service.effective_settings(session, node)]
    return NodeSettings(node_id=node.id, node=node.name, items=items)


class NodeSettingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(max_length=400)
    reason: str = Field(min_length=1, max_length=400, description="Why (kept in the audit log).")


@router.put("/nodes/{node_id}/settings/{key}")
def set_node_setting(
    node_id: Id,
    key: SettingKey,
    body: NodeSettingIn,
    session: SessionDep,
    principal: SettingsManager,
) -> NodeSettingOut:
    """Override a setting on the node (a policy only by its owning level)."""
    set_session_actor(session, Actor(principal.user_id, principal.email), body.reason)
    node = get_node(session, principal, node_id, Permission.MANAGE_SETTINGS)
    service.set_setting(session, principal, key, value=body.value, node=node)
    return node_setting_view(node, service.resolve(session, key, node))


@router.delete("/nodes/{node_id}/settings/{key}")
def clear_node_setting(
    node_id: Id,
    key: SettingKey,
    session: SessionDep,
    principal: SettingsManager,
    reason: Annotated[str, Query(min_length=1, max_length=400, description="Why.")],
) -> NodeSettingOut:
    """Remove the node's override: the value is inherited again."""
    set_session_actor(session, Actor(principal.user_id, principal.email), reason)
    node = get_node(session, principal, node_id, Permission.MANAGE_SETTINGS)
    effective = service.unset_setting(session, principal, key, node=node)
    return node_setting_view(node, effective)
