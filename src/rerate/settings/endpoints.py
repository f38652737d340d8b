"""Settings: read the values in force, change them (global or per node)."""

from __future__ import annotations

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


@router.get("/settings")
def read_settings(
    session: SessionDep, principal: Viewer, node_id: Id | None = None
) -> dict[str, str]:
    node = get_node(session, principal, node_id, Permission.VIEW) if node_id else None
    return service.effective_settings(session, node)


@router.put("/settings/{key}")
def write_setting(
    key: SettingKey,
    body: SettingIn,
    session: SessionDep,
    principal: SettingsManager,
) -> dict[str, str | int | None]:
    node = (
        get_node(session, principal, body.node_id, Permission.MANAGE_SETTINGS)
        if body.node_id
        else None
    )
    setting = service.set_setting(session, principal, key, value=body.value, node=node)
    return {"key": setting.key, "value": setting.value, "node_id": setting.node_id}
