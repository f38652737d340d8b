"""A small tenancy world for tests: two distributors, their partners and customers,
and one user (with an API key) for each role."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from rerate.auth import service as auth
from rerate.models import Node, User
from rerate.models.enums import NodeKind, Role
from rerate.tenancy.service import create_node


@dataclass
class World:
    nodes: dict[str, Node] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


# user name -> (role, node name)
USERS: dict[str, tuple[Role, str]] = {
    "platform_admin": (Role.PLATFORM_ADMIN, "platform"),
    "platform_service": (Role.PLATFORM_SERVICE, "platform"),
    "distributor": (Role.DISTRIBUTOR, "dist_a"),
    "partner_admin": (Role.PARTNER_ADMIN, "partner_a1"),
    "partner_user": (Role.PARTNER_USER, "partner_a1"),
    "customer_user": (Role.CUSTOMER_USER, "cust_a1x"),
}


PASSWORD_USERS = frozenset({"partner_admin"})


def build_world(session: Session) -> World:
    w = World()
    n = w.nodes
    n["platform"] = create_node(session, NodeKind.PLATFORM, name="Platform", parent=None)
    n["dist_a"] = create_node(session, NodeKind.DISTRIBUTOR, name="Dist A", parent=n["platform"])
    n["dist_b"] = create_node(session, NodeKind.DISTRIBUTOR, name="Dist B", parent=n["platform"])
    n["partner_a1"] = create_node(session, NodeKind.PARTNER, name="Partner A1", parent=n["dist_a"])
    n["partner_a2"] = create_node(session, NodeKind.PARTNER, name="Partner A2", parent=n["dist_a"])
    n["partner_b1"] = create_node(session, NodeKind.PARTNER, name="Partner B1", parent=n["dist_b"])
    n["cust_a1x"] = create_node(session, NodeKind.CUSTOMER, name="Cust A1x", parent=n["partner_a1"])
    n["cust_a1y"] = create_node(session, NodeKind.CUSTOMER, name="Cust A1y", parent=n["partner_a1"])
    n["cust_a2x"] = create_node(session, NodeKind.CUSTOMER, name="Cust A2x", parent=n["partner_a2"])
    n["cust_b1x"] = create_node(session, NodeKind.CUSTOMER, name="Cust B1x", parent=n["partner_b1"])
    for name, (role, node) in USERS.items():
        # Only one user logs in with a password in the tests: argon2 is slow
        # on purpose, and everyone else authenticates with an API key.
        password = "correct-horse" if name in PASSWORD_USERS else None
        user = auth.create_user(session, f"{name}@test.example", name=name, password=password)
        auth.assign_role(session, user, role=role, node=n[node])
        w.users[name] = user
        _key, secret = auth.create_api_key(session, user)
        w.keys[name] = secret
    return w
