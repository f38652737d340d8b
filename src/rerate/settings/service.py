"""Settings: a global value, overridable on nodes; the nearest override wins,
except that a policy is read only from its owning level (settings/rules.py).

Every read can say where its value comes from (`resolve`): the built-in
default, the global value, or the override of a named node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import ROLE_PERMISSIONS, Permission, Principal
from rerate.kit.errors import Conflict, Forbidden, Invalid
from rerate.models import Node, Setting
from rerate.models.enums import SETTING_DEFAULTS, NodeKind, SettingKey
from rerate.settings.rules import LEVELS, RULES, SettingRule

BOOLEAN_KEYS = frozenset(SettingKey)  # every setting so far is a boolean


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value comes from: `default`, `global`, or a node's level (its kind)."""

    level: str
    node_id: int | None = None
    node_name: str | None = None

    @property
    def label(self) -> str:
        if self.level == "default":
            return "Default"
        if self.level == "global":
            return "Global (platform)"
        return f"{self.node_name} ({self.level})"


DEFAULT = Source("default")
GLOBAL = Source("global")


@dataclass(frozen=True, slots=True)
class Effective:
    """The value in force for `key` on a node, and why."""

    key: SettingKey
    value: str
    source: Source
    rule: SettingRule
    # Overrides stored on nodes below a policy's owning level: present, not applied.
    ignored_overrides: tuple[int, ...] = ()


def _normalise(key: SettingKey, value: str) -> str:
    if key in BOOLEAN_KEYS:
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise Invalid(f"{key.value} is true or false, got {value!r}")
        return lowered
    return value


def _path_ids(node: Node) -> list[int]:
    return [int(p) for p in node.path.strip("/").split("/") if p]


def resolve(session: Session, key: SettingKey, node: Node | None = None) -> Effective:
    """The value in force on `node` and its source: the nearest override on the
    node's path that the setting's rule allows, else the global value, else
    the built-in default."""
    rule = RULES[key]
    rows: dict[int | None, str] = {
        node_id: value
        for node_id, value in session.execute(
            select(Setting.node_id, Setting.value).where(Setting.key == key.value)
        )
    }
    ignored: list[int] = []
    if node is not None:
        overriding = [i for i in _path_ids(node) if i in rows]
        holders = (
            {n.id: n for n in session.scalars(select(Node).where(Node.id.in_(overriding)))}
            if overriding
            else {}
        )
        for node_id in reversed(overriding):  # nearest first
            holder = holders.get(node_id)
            if holder is None:
                continue
            if rule.allows_override_on(NodeKind(holder.kind)):
                source = Source(holder.kind, holder.id, holder.name)
                return Effective(key, rows[node_id], source, rule, tuple(sorted(ignored)))
            ignored.append(node_id)
    if None in rows:
        return Effective(key, rows[None], GLOBAL, rule, tuple(sorted(ignored)))
    return Effective(key, SETTING_DEFAULTS[key], DEFAULT, rule, tuple(sorted(ignored)))


def get_setting(session: Session, key: SettingKey, node: Node | None = None) -> str:
    """The value in force on `node` (see `resolve`)."""
    return resolve(session, key, node).value


def setting_values(session: Session, key: SettingKey) -> Callable[[Node | None], str]:
    """`get_setting` for many nodes (a list deciding visibility per customer):
    each node's value is resolved once, with the policy rules of `resolve`."""
    memo: dict[int | None, str] = {}

    def value(node: Node | None) -> str:
        node_id = node.id if node is not None else None
        if node_id not in memo:
            memo[node_id] = resolve(session, key, node).value
        return memo[node_id]

    return value


def get_bool(session: Session, key: SettingKey, node: Node | None = None) -> bool:
    return get_setting(session, key, node) == "true"


def _decides(session: Session, principal: Principal, rule: SettingRule, node: Node | None) -> bool:
    """Does `principal` manage settings at the rule's owning level (or above),
    on a node whose subtree holds `node`?"""
    for grant in principal.grants:
        if Permission.MANAGE_SETTINGS not in ROLE_PERMISSIONS[grant.role]:
            continue
        holder = session.get(Node, grant.node_id)
        if holder is None or LEVELS[NodeKind(holder.kind)] > LEVELS[rule.owner]:
            continue
        if node is None or node.path.startswith(grant.node_path):
            return True
    return False


def _stored(session: Session, key: SettingKey, node_id: int | None) -> Setting | None:
    return session.scalar(
        select(Setting).where(
            Setting.key == key.value,
            Setting.node_id.is_(None) if node_id is None else Setting.node_id == node_id,
        )
    )


def _require_manager(
    session: Session, principal: Principal, key: SettingKey, rule: SettingRule, node: Node | None
) -> None:
    if rule.policy and not _decides(session, principal, rule, node):
        owner = rule.owner.value
        raise Forbidden(
            f"{key.value} is a {owner} policy: only {owner} administrators set it, "
            f"and nodes below the {owner} cannot override it"
        )
    if node is None:
        if not (principal.is_platform() and principal.has(Permission.MANAGE_SETTINGS)):
            raise Forbidden("global settings are changed by platform administrators")
    else:
        principal.require(Permission.MANAGE_SETTINGS, node.path)


def unset_setting(
    session: Session, principal: Principal, key: SettingKey, *, node: Node | None
) -> Effective:
    """Remove the global value (`node` None) or a node's override: the value
    is inherited again (from the nearest node above, the global value or the
    default). The same people may clear it as may set it; 409 when nothing
    is set there."""
    rule = RULES[key]
    _require_manager(session, principal, key, rule, node)
    setting = _stored(session, key, node.id if node else None)
    if setting is None:
        where = f"on {node.name}" if node else "globally"
        raise Conflict(f"{key.value} is not set {where}: there is nothing to clear")
    session.delete(setting)
    session.flush()
    return resolve(session, key, node)


def set_setting(
    session: Session, principal: Principal, key: SettingKey, *, value: str, node: Node | None
) -> Setting:
    """Store a global value (`node` None) or a node's override.

    Global settings need the permission on the platform (root) itself. A
    policy is set only by its owning level (403 otherwise) and only globally
    or on a node at that level or above (409 for a lower node).
    """
    rule = RULES[key]
    _require_manager(session, principal, key, rule, node)
    if rule.policy and node is not None and not rule.allows_override_on(NodeKind(node.kind)):
        owner = rule.owner.value
        raise Conflict(
            f"{key.value} is a {owner} policy: it cannot be overridden on a {node.kind} "
            f"node; set it globally or on a {owner} node"
        )
    value = _normalise(key, value)
    node_id = node.id if node else None
    setting = _stored(session, key, node_id)
    if setting is None:
        setting = Setting(node_id=node_id, key=key.value, value=value)
        session.add(setting)
    else:
        setting.value = value
    session.flush()
    return setting


def effective_settings(session: Session, node: Node | None) -> list[Effective]:
    return [resolve(session, key, node) for key in SettingKey]
