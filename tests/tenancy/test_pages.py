"""The console's Customers & partners pages, API keys page and invitation page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import ApiKey, AuditEntry, Node, User
from tests.world import World


def test_list_searches_and_creates_a_customer(client: TestClient, world: World, database: Database):
    admin = world.headers("partner_admin")
    page = client.get("/tenancy", headers=admin)
    assert page.status_code == 200
    assert "Cust A1x" in page.text
    assert "Cust B1x" not in page.text
    assert "data-create-node" in page.text
    found = client.get("/tenancy?q=a1y", headers=admin).text
    assert "Cust A1y" in found
    assert "Cust A1x" not in found
    made = client.post(
        "/tenancy",
        data={
            "kind": "customer",
            "parent_id": str(world.nodes["partner_a1"].id),
            "name": "Initech",
            "currency": "usd",
            "time_zone": "America/New_York",
            "tax_rate": "0.0875",
            "payment_terms_days": "45",
            "address": "1 Main St\nAustin TX",
            "reason": "console",
        },
        headers=admin,
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    with database.session() as s:
        node = s.scalars(select(Node).where(Node.name == "Initech")).one()
        assert (node.currency, node.payment_terms_days) == ("USD", 45)
        reasons = set(s.scalars(select(AuditEntry.reason).where(AuditEntry.object_type == "nodes")))
    assert "console" in reasons
    shown = client.get(made.headers["location"], headers=admin).text
    assert "0.0875" in shown
    assert "America/New_York" in shown
    assert "1 Main St\nAustin TX" in shown


def test_refusals_render_the_form_with_the_reason(client: TestClient, world: World):
    admin = world.headers("partner_admin")
    bad = client.post(
        "/tenancy",
        data={
            "kind": "customer",
            "parent_id": str(world.nodes["partner_a1"].id),
            "name": "X",
            "currency": "ZZZ",
        },
        headers=admin,
    )
    assert bad.status_code == 422
    assert "data-form-error" in bad.text
    assert "currency" in bad.text
    dup = client.post(
        "/tenancy",
        data={
            "kind": "customer",
            "parent_id": str(world.nodes["partner_a1"].id),
            "name": "cust a1x",
        },
        headers=admin,
    )
    assert dup.status_code == 409
    outside = client.post(
        "/tenancy",
        data={"kind": "customer", "parent_id": str(world.nodes["partner_b1"].id), "name": "Y"},
        headers=admin,
    )
    assert outside.status_code == 404
    assert client.get(f"/tenancy/{world.nodes['cust_b1x'].id}", headers=admin).status_code == 404
    denied = client.post(
        f"/tenancy/{world.nodes['cust_a1x'].id}",
        data={"name": "Z"},
        headers=world.headers("partner_user"),
    )
    assert denied.status_code == 403


def test_node_page_edits_invites_and_deactivates(
    client: TestClient, world: World, database: Database
):
    admin = world.headers("partner_admin")
    cust = world.nodes["cust_a1x"].id
    page = client.get(f"/tenancy/{cust}", headers=admin)
    assert "customer_user@test.example" in page.text  # the role held here
    edited = client.post(
        f"/tenancy/{cust}",
        data={
            "name": "Cust A1x",
            "legal_name": "Cust A1x Ltd",
            "tax_rate": "0.2",
            "currency": "",
            "address": "",
            "tax_id": "",
            "time_zone": "",
            "payment_terms_days": "",
            "reason": "legal",
        },
        headers=admin,
        follow_redirects=False,
    )
    assert edited.status_code == 303
    invited = client.post(
        f"/tenancy/{cust}/invitations",
        data={"email": "dora@cust.example", "name": "Dora", "role": "customer_user"},
        headers=admin,
    )
    assert invited.status_code == 201, invited.text
    link = re.search(r"http://testserver/invitations/(rri_[A-Za-z0-9_\-]+)", invited.text)
    assert link is not None
    token = link.group(1)
    accept = client.get(f"/invitations/{token}")
    assert accept.status_code == 200
    assert "dora@cust.example" in accept.text
    mismatch = client.post(
        f"/invitations/{token}", data={"password": "staple-battery-9", "confirm": "other"}
    )
    assert mismatch.status_code == 422
    done = client.post(
        f"/invitations/{token}",
        data={"password": "staple-battery-9", "confirm": "staple-battery-9", "name": "Dora D"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert client.get(f"/invitations/{token}").status_code == 404  # single use
    with database.session() as s:
        dora = s.scalars(select(User).where(User.email == "dora@cust.example")).one()
    assert dora.name == "Dora D"
    off = client.post(
        f"/tenancy/{cust}/users/{dora.id}/deactivate",
        data={},
        headers=admin,
        follow_redirects=False,
    )
    assert off.status_code == 303
    gone = client.post(
        f"/tenancy/{cust}/deactivate",
        data={"reason": "left"},
        headers=admin,
        follow_redirects=False,
    )
    assert gone.status_code == 303
    assert "Cust A1x" not in client.get("/tenancy", headers=admin).text.split("<tbody>")[1]
    back = client.post(f"/tenancy/{cust}/activate", data={}, headers=admin, follow_redirects=False)
    assert back.status_code == 303
    own = client.post(f"/tenancy/{world.nodes['partner_a1'].id}/deactivate", data={}, headers=admin)
    assert own.status_code == 409
    assert "your own role" in own.text


def test_api_keys_page_shows_the_secret_once_and_revokes(
    client: TestClient, world: World, database: Database
):
    who = world.headers("partner_user")
    made = client.post("/api-keys", data={"name": "laptop"}, headers=who)
    assert made.status_code == 201
    secret = re.search(r"data-secret>([^<]+)<", made.text)
    assert secret is not None
    listed = client.get("/api-keys", headers=who).text
    assert "laptop" in listed
    assert secret.group(1) not in listed
    with database.session() as s:
        key_id = s.scalars(select(ApiKey.id).where(ApiKey.name == "laptop")).one()
        other = s.scalars(
            select(ApiKey.id).where(ApiKey.user_id == world.users["customer_user"].id)
        ).one()
    revoked = client.post(f"/api-keys/{key_id}/revoke", headers=who, follow_redirects=False)
    assert revoked.status_code == 303
    fresh = {"Authorization": f"Bearer {secret.group(1)}"}
    assert client.get("/api/v1/me", headers=fresh).status_code == 401
    assert client.post(f"/api-keys/{other}/revoke", headers=who).status_code == 404
