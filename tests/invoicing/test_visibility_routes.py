"""Invoice visibility, enforced on every invoice route for every role.

The routes are enumerated from the application itself: every /api/v1 route
that needs an invoice permission (view_invoices, generate_invoices,
record_payments) or names invoices, payments, a balance or the billing status
in its path. Each must have a request here (or a stated exemption), so a new
invoice route without one fails this test until it is added.

For each route, role and state (visible, hidden): platform roles are never refused by
the settings; other roles get 403 `InvoicesHidden` when the setting of their
role is false, and the route's normal answer when it is true. A role without
the route's permission gets 403 `Forbidden` either way (the permission is
checked first). One application and one database per dialect, shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import delete

from rerate.api.deps import Require
from rerate.api.routes import iter_api_routes
from rerate.app import create_app
from rerate.auth.permissions import PLATFORM_ROLES, ROLE_PERMISSIONS, Permission
from rerate.invoicing.visibility import VISIBILITY_SETTING
from rerate.kit.settings import Settings
from rerate.models import Setting
from rerate.models.enums import SettingKey
from tests.billing_status.status_world import StatusWorld, build_status_world
from tests.world import USERS, build_world

INVOICE_PERMISSIONS = {
    Permission.VIEW_INVOICES,
    Permission.GENERATE_INVOICES,
    Permission.RECORD_PAYMENTS,
}
PATH_WORDS = ("invoice", "payment", "balance", "billing/status")

# Routes whose path names invoices but that are not invoice reads: the
# billing-utilities operations (their own permissions; a refresh job's result
# lists invoice ids, and the console links them only when invoices are visible).
EXEMPT = {
    ("POST", "/api/v1/billing-utilities/invoice-refreshes"),
    # A backfill (generate_invoices: platform roles only, who always see
    # invoices) recomputes billing runs and reads no invoice.
    ("POST", "/api/v1/billing/backfill"),
    ("GET", "/api/v1/billing/backfill/{job_id}"),
    ("GET", "/api/v1/billing/backfill/{job_id}/reconciliation.csv"),
    ("POST", "/api/v1/billing/backfill/{job_id}/publish"),
}


@dataclass(frozen=True)
class Request:
    url: str  # {issued}, {note}, {customer}, {money_payment}, {note_payment}
    ok: int  # the answer when visibility lets the caller through
    body: dict[str, object] | None = None


REQUESTS: dict[tuple[str, str], Request] = {
    ("GET", "/api/v1/invoices"): Request("/api/v1/invoices?customer_id={customer}", 200),
    ("GET", "/api/v1/invoices/{invoice_id}"): Request("/api/v1/invoices/{issued}", 200),
    ("GET", "/api/v1/invoices/{invoice_id}/pdf"): Request("/api/v1/invoices/{issued}/pdf", 200),
    ("GET", "/api/v1/invoices/{invoice_id}/csv"): Request("/api/v1/invoices/{issued}/csv", 200),
    # The hand-built seller has no legal details: refused by the export,
    # after visibility let the caller through (422 names the missing field).
    ("GET", "/api/v1/invoices/{invoice_id}/einvoice"): Request(
        "/api/v1/invoices/{issued}/einvoice?format=ubl", 422
    ),
    ("GET", "/api/v1/invoices/{invoice_id}/payments"): Request(
        "/api/v1/invoices/{issued}/payments", 200
    ),
    # More than is owed: refused after the checks, nothing recorded.
    ("POST", "/api/v1/invoices/{invoice_id}/payments"): Request(
        "/api/v1/invoices/{issued}/payments",
        422,
        {"amount": "100000.00", "date": "2026-05-01", "reference": "matrix"},
    ),
    # A credit note's application is not money: refused after the checks.
    ("POST", "/api/v1/payments/{payment_id}/reversal"): Request(
        "/api/v1/payments/{note_payment}/reversal", 409, {"reason": "matrix"}
    ),
    # Issuing an Issued invoice answers it unchanged.
    ("POST", "/api/v1/invoices/{invoice_id}/issue"): Request(
        "/api/v1/invoices/{issued}/issue", 200
    ),
    # A credit note is not credited: refused after the checks.
    ("POST", "/api/v1/invoices/{invoice_id}/credit-note"): Request(
        "/api/v1/invoices/{note}/credit-note", 409, {"reason": "matrix"}
    ),
    # A customer without a contract is not invoiced: refused after the checks.
    ("POST", "/api/v1/invoices/generate"): Request(
        "/api/v1/invoices/generate", 422, {"customer_id": "{customer}", "period": "2099-01"}
    ),
    # A customer without a quarterly contract: refused after the checks.
    ("POST", "/api/v1/invoices/quarterly"): Request(
        "/api/v1/invoices/quarterly", 422, {"customer_id": "{customer}", "quarter": "2099-Q1"}
    ),
    # A monthly invoice is not trued up: refused after the checks.
    ("POST", "/api/v1/invoices/{invoice_id}/true-up"): Request(
        "/api/v1/invoices/{issued}/true-up", 409
    ),
    ("GET", "/api/v1/customers/{customer_id}/balance"): Request(
        "/api/v1/customers/{customer}/balance", 200
    ),
    ("GET", "/api/v1/billing/status"): Request(
        "/api/v1/billing/status?month=2026-05&customer_id={customer}", 200
    ),
}


def _permission(route: APIRoute) -> Permission | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require):
            return dep.call.permission
        stack.extend(dep.dependencies)
    return None


def invoice_routes(app) -> dict[tuple[str, str], Permission | None]:
    found = {}
    for path, route in iter_api_routes(app.routes):
        if not path.startswith("/api/v1/"):
            continue
        permission = _permission(route)
        if permission in INVOICE_PERMISSIONS or any(w in path for w in PATH_WORDS):
            for method in route.methods:
                found[(method, path)] = permission
    return found


def _app(tmp) -> object:
    return create_app(Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/x.db"))


def test_every_invoice_route_has_a_request(tmp_path):
    routes = invoice_routes(_app(tmp_path))
    assert len(routes) >= len(REQUESTS)  # the walk finds them
    missing = sorted(set(routes) - set(REQUESTS) - EXEMPT)
    assert missing == [], f"invoice routes without a visibility case here: {missing}"
    gone = sorted(set(REQUESTS) - set(routes))
    assert gone == [], f"cases for routes that no longer exist: {gone}"


ROUTES = sorted(REQUESTS)
STATES = ("visible", "hidden")
CASES = [(state, user, route) for state in STATES for user in USERS for route in ROUTES]


@dataclass
class Env:
    client: TestClient
    world: StatusWorld
    permissions: dict[tuple[str, str], Permission | None]


@pytest.fixture(scope="module")
def env(module_database, tmp_path_factory) -> Iterator[Env]:
    with module_database.session() as session:
        world = build_world(session)
        status_world = build_status_world(session, world)
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=module_database.url)
    app = create_app(settings, module_database)
    with TestClient(app) as client:
        yield Env(client, status_world, invoice_routes(app))


def _set_visibility(database, visible: bool) -> None:
    keys = [k.value for k in SettingKey if k.value.startswith("InvoicesVisibleTo")]
    with database.session() as session:
        session.execute(delete(Setting).where(Setting.key.in_(keys)))
        if not visible:
            session.add_all(Setting(node_id=None, key=k, value="false") for k in keys)


@pytest.mark.parametrize(
    ("state", "user", "route"), CASES, ids=[f"{s}-{u}-{m}{p}" for s, u, (m, p) in CASES]
)
def test_invoice_route_visibility(env: Env, module_database, state, user, route):
    _set_visibility(module_database, state == "visible")
    request = REQUESTS[route]
    sw, nodes = env.world, env.world.world.nodes
    values = {
        "issued": sw.invoices["issued"],
        "note": sw.invoices["credit_note"],
        "customer": nodes["cust_a1x"].id,  # in every non-platform user's subtree
        "note_payment": sw.payments["credit_note"],
    }
    url = request.url.format(**values)
    body = None
    if request.body is not None:
        body = {
            k: (int(v.format(**values)) if isinstance(v, str) and v.startswith("{") else v)
            for k, v in request.body.items()
        }
    response = env.client.request(route[0], url, json=body, headers=sw.world.headers(user))

    role = USERS[user][0]
    needed = env.permissions[route]
    if needed is not None and needed not in ROLE_PERMISSIONS[role]:
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "Forbidden", response.text
    elif state == "hidden" and role not in PLATFORM_ROLES:
        assert role in VISIBILITY_SETTING  # every non-platform reader has a setting
        assert response.status_code == 403, response.text
        assert response.json() == {
            "error": "InvoicesHidden",
            "detail": "invoices are not visible to your role (invoice visibility settings)",
        }
    else:
        assert response.status_code == request.ok, response.text
        if response.status_code >= 400:
            assert response.json()["error"] != "InvoicesHidden"


@pytest.mark.parametrize("user", sorted(USERS))
def test_the_unfiltered_list_is_cut_to_visible_customers(env: Env, module_database, user):
    _set_visibility(module_database, False)
    headers = env.world.world.headers(user)
    listed = env.client.get("/api/v1/invoices", headers=headers)
    assert listed.status_code == 200
    if USERS[user][0] in PLATFORM_ROLES:
        assert listed.json()["total"] > 0
    else:
        assert listed.json() == {"items": [], "total": 0}
    _set_visibility(module_database, True)
    assert env.client.get("/api/v1/invoices", headers=headers).json()["total"] > 0
