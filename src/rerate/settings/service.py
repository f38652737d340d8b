"""Settings: a global value, overridable on any node; the nearest override wins."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit.errors import Forbidden, Invalid
from rerate.models import Node, Setting
from rerate.models.enums import SETTING_DEFAULTS, SettingKey

BOOLEAN_KEYS = frozenset(SettingKey)  # every setting so far is a boolean


def _normalise(key: SettingKey, value: str) -> str:
    if key in BOOLEAN_KEYS:
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise Invalid(f"{key.value} is true or false, got {value!r}")
        return lowered
    return value


def setting_values(session: Session, key: SettingKey) -> Callable[[Node | None], str]:
    """`get_setting` for many nodes: the key's overrides are read once."""
    rows = {
        s.node_id: s.value for s in session.scalars(select(Setting).where(Setting.key == key.value))
    }

    def value(node: Node | None) -> str:
        if node is not None:
            for node_id in reversed([int(p) for p in node.path.strip("/").split("/") if p]):
                if node_id in rows:
                    return rows[node_id]
        return rows.get(None, SETTING_DEFAULTS[key])

    return value


def get_setting(session: Session, key: SettingKey, node: Node | None = None) -> str:
    """The value in force on `node`: its own override, else its nearest
    ancestor's, else the global value, else the built-in default."""
    return setting_values(session, key)(node)


def get_bool(session: Session, key: SettingKey, node: Node | None = None) -> bool:
    return get_setting(session, key, node) == "true"


def set_setting(
    session: Session, principal: Principal, key: SettingKey, *, value: str, node: Node | None
) -> Setting:
    """Global settings need the permission on the platform (root) itself."""
    if node is None:
        if not (principal.is_platform() and principal.has(Permission.MANAGE_SETTINGS)):
            raise Forbidden("global settings are changed by platform administrators")
    else:
        principal.require(Permission.MANAGE_SETTINGS, node.path)
    value = _normalise(key, value)
    node_id = node.id if node else None
    setting = session.scalar(
        select(Setting).where(
            Setting.key == key.value,
            Setting.node_id.is_(None) if node_id is None else Setting.node_id == node_id,
        )
    )
    if setting is None:
        setting = Setting(node_id=node_id, key=key.value, value=value)
        session.add(setting)
    else:
        setting.value = value
    session.flush()
    return setting


def effective_settings(session: Session, node: Node | None) -> dict[str, str]:
    return {key.value: get_setting(session, key, node) for key in SettingKey}
