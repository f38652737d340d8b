"""Every route declares its permission; the matrix proves no cross-tenant access."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from rerate.api.deps import Authenticated, Public, Require
from rerate.api.routes import iter_api_routes
from rerate.app import create_app
from rerate.auth.permissions import ROLE_PERMISSIONS, Permission
from rerate.auth.service import principal_for
from rerate.kit.settings import Settings
from rerate.models.enums import PriceBookKind
from rerate.pricebooks import csv_io
from rerate.pricebooks import service as pricebooks
from tests.world import USERS, World, build_world


def _declarations(route: APIRoute) -> list[object]:
    found = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require | Authenticated | Public):
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def test_every_route_declares_exactly_one_permission(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db"))
    routes = list(iter_api_routes(app.routes))
    assert len(routes) > 10
    documented = {p for p, r in routes if r.include_in_schema}
    assert documented == set(app.openapi()["paths"])  # the walk sees every API route
    undeclared = [f"{sorted(r.methods)} {p}" for p, r in routes if len(_declarations(r)) != 1]
    assert undeclared == [], f"routes without exactly one permission declaration: {undeclared}"
    public = sorted(p for p, r in routes if any(isinstance(d, Public) for d in _declarations(r)))
    assert (
        {"/api/v1/auth/login", "/health"}
        <= set(public)
        <= {
            "/api/v1/auth/login",
            "/health",
            "/login",  # the web console's login form
            "/api/v1/invitations/{token}/accept",  # the invitee has no credential yet
            "/invitations/{token}",  # the console's acceptance page
        }
    )


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # with {node} for the target node id
    permission: Permission
    body: dict[str, object] | None = None
    customer_only: bool = False  # the target must be a customer node
    ok: int = 200  # the answer when the caller may act on the target
    scoped_list: bool = False  # a list filtered to the subtree: outside it is empty, not 404
    # The target owns a price book ({book}, its published version {version});
    # customers own none, so such cases skip customer targets.
    seller_only: bool = False
    upload: str | None = None  # a CSV file sent as multipart instead of a JSON body


CASES = [
    Case(
        "GET",
        "/api/v1/billing-utilities/customers/{node}/periods",
        Permission.BILLING_UTILITIES,
        customer_only=True,
    ),
    Case(
        "POST",
        "/api/v1/billing-utilities/cache-syncs",
        Permission.BILLING_UTILITIES,
        body={"customer_id": "{node}", "periods": ["1999-01"], "reason": "other"},
        customer_only=True,
        ok=422,  # allowed through, then refused: that customer has no contract here
    ),
    Case(
        "GET",
        "/api/v1/billing-utilities/stale?customer_id={node}",
        Permission.BILLING_UTILITIES,
        customer_only=True,
    ),
    Case(
        "POST",
        "/api/v1/billing-utilities/stale/recalculations",
        Permission.RECALCULATE,
        body={"customer_id": "{node}", "dry_run": True},
        customer_only=True,
        ok=202,  # nothing is out of date there: no jobs
    ),
    Case(
        "GET", "/api/v1/invoices?customer_id={node}", Permission.VIEW_INVOICES, customer_only=True
    ),
    Case(
        "GET",
        "/api/v1/billing/range?start=2026-08-01&end=2026-09-01&customer_id={node}",
        Permission.VIEW,
        customer_only=True,
    ),
    Case(
        "GET",
        "/api/v1/billing/yearmonth/2026-08?customer_id={node}",
        Permission.VIEW,
        customer_only=True,
    ),
    Case(
        "GET",
        "/api/v1/jobs?customer_id={node}",
        Permission.BILLING_UTILITIES,
        customer_only=True,
        scoped_list=True,
    ),
    Case("GET", "/api/v1/nodes/{node}", Permission.VIEW),
    # An empty change: allowed through, changes nothing in the shared world.
    Case("PATCH", "/api/v1/nodes/{node}", Permission.MANAGE_TENANCY, body={"reason": "matrix"}),
    Case("GET", "/api/v1/users?node_id={node}", Permission.MANAGE_USERS),
    Case("GET", "/api/v1/invitations?node_id={node}", Permission.MANAGE_USERS),
    Case(
        "POST",
        "/api/v1/nodes",
        Permission.MANAGE_TENANCY,
        body={"kind": "customer", "parent_id": "{node}", "name": "Matrix"},
        customer_only=True,
        ok=422,  # allowed through, then refused: a customer sits under no customer
    ),
    Case("GET", "/api/v1/accounts?customer_id={node}", Permission.VIEW, customer_only=True),
    Case("GET", "/api/v1/settings?node_id={node}", Permission.VIEW),
    Case(
        "PUT",
        "/api/v1/settings/UseOverlapUsageSelection",
        Permission.MANAGE_SETTINGS,
        body={"value": "true", "node_id": "{node}"},
    ),
    Case("GET", "/api/v1/nodes/{node}/settings", Permission.VIEW),
    Case(
        "PUT",
        "/api/v1/nodes/{node}/settings/DefaultBillingAggregationMonthly",
        Permission.MANAGE_SETTINGS,
        body={"value": "true", "reason": "matrix"},
    ),
    Case(
        "POST",
        "/api/v1/accounts",
        Permission.MANAGE_TENANCY,
        body={"kind": "voip_peer", "external_ref": "matrix", "owner_node_id": "{node}"},
        customer_only=True,
        ok=422,  # allowed through, then refused: accounts are created under a seller
    ),
    Case("GET", "/api/v1/contracts?customer_id={node}", Permission.VIEW, customer_only=True),
    Case(
        "POST",
        "/api/v1/contracts",
        Permission.MANAGE_CATALOG,
        body={
            "customer_id": "{node}",
            "seller_id": "{node}",
            "currency": "EUR",
            "coverage_start": "2026-01-01",
        },
        customer_only=True,
        ok=422,  # allowed through, then refused: a customer does not sell to itself
    ),
    Case(
        "POST",
        "/api/v1/timetables",
        Permission.MANAGE_CATALOG,
        body={
            "owner_node_id": "{node}",
            "name": "Business hours",
            "tz": "Europe/Paris",
            "default_band": "offpeak",
            "effective_from": "2026-01-01T00:00:00Z",
        },
        ok=201,
    ),
    Case(
        "POST",
        "/api/v1/profiles",
        Permission.MANAGE_CATALOG,
        body={
            "owner_node_id": "{node}",
            "name": "100 minutes",
            "unit": "minutes",
            "included_quantity": "100",
            "effective_from": "2026-01-01T00:00:00Z",
        },
        ok=201,
    ),
    Case(
        "GET", "/api/v1/price-books?q={name}", Permission.VIEW, seller_only=True, scoped_list=True
    ),
    Case(
        "POST",
        "/api/v1/price-books",
        Permission.MANAGE_CATALOG,
        body={"name": "matrix", "kind": "voip", "currency": "EUR", "owner_node_id": "{node}"},
        customer_only=True,
        ok=422,  # allowed through, then refused: a customer owns no price book
    ),
    Case("GET", "/api/v1/price-books/{book}", Permission.VIEW, seller_only=True),
    Case(
        "GET",
        "/api/v1/price-books/{book}/compare?old={version}&new={version}",
        Permission.VIEW,
        seller_only=True,
    ),
    Case(
        "POST",
        "/api/v1/price-books/{book}/imports",
        Permission.MANAGE_CATALOG,
        seller_only=True,
        upload="version,effective_from,prefix,destination_group,rate_per_minute\n"
        "1,2030-01-01T00:00:00Z,33x,France,0.01\n",
        ok=422,  # allowed through, then refused: the file's prefix is not digits
    ),
    Case(
        "POST",
        "/api/v1/price-books/{book}/versions/{version}/publish",
        Permission.MANAGE_CATALOG,
        body={"reason": "matrix"},
        seller_only=True,
        ok=409,  # allowed through, then refused: that version is published already
    ),
]

# For each user: the node names for each relation to the user's own node.
RELATIONS: dict[str, dict[str, str]] = {
    "platform_admin": {"own": "platform", "descendant": "cust_b1x"},
    "platform_service": {"own": "platform", "descendant": "cust_a2x"},
    "distributor": {
        "own": "dist_a",
        "descendant": "cust_a2x",
        "sibling": "dist_b",
        "other_distributor_customer": "cust_b1x",
    },
    "partner_admin": {
        "own": "partner_a1",
        "descendant": "cust_a1y",
        "sibling": "partner_a2",
        "other_distributor_customer": "cust_b1x",
    },
    "partner_user": {
        "own": "partner_a1",
        "descendant": "cust_a1x",
        "sibling": "partner_a2",
        "other_distributor_customer": "cust_b1x",
    },
    "customer_user": {
        "own": "cust_a1x",
        "sibling": "cust_a1y",
        "other_distributor_customer": "cust_b1x",
    },
}

MATRIX = [
    (user, relation, case)
    for user, relations in RELATIONS.items()
    for relation, target in relations.items()
    for case in CASES
    if (target.startswith("cust_") or not case.customer_only)
    and not (target.startswith("cust_") and case.seller_only)
]


@pytest.fixture(scope="module")
def matrix_world(module_database) -> World:
    with module_database.session() as session:
        return build_world(session)


@pytest.fixture(scope="module")
def matrix_books(module_database, matrix_world, tmp_path_factory) -> dict[str, tuple[int, int]]:
    """For each seller node: a price book it owns and its published version."""
    deck = tmp_path_factory.mktemp("decks") / "deck.csv"
    deck.write_text(
        "version,effective_from,prefix,destination_group,rate_per_minute\n"
        "1,2026-01-01T00:00:00Z,33,France,0.02\n"
    )
    books = {}
    with module_database.session() as session:
        admin = principal_for(session, matrix_world.users["platform_admin"], via="cli")
        for key, node in matrix_world.nodes.items():
            if key.startswith("cust_"):
                continue
            book = pricebooks.create_book(
                session,
                admin,
                name=f"Matrix deck {key}",
                kind=PriceBookKind.VOIP,
                currency="EUR",
                owner_node_id=node.id,
            )
            version = csv_io.import_version(
                session, admin, book.id, deck, name="deck.csv", publish=True, reason="matrix"
            )
            books[key] = (book.id, version.id)
    return books


@pytest.fixture(scope="module")
def matrix_client(module_database, tmp_path_factory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=module_database.url)
    with TestClient(create_app(settings, module_database)) as c:
        yield c


def _expected(world: World, user: str, target: str, case: Case) -> int:
    role, own = USERS[user]
    perms = ROLE_PERMISSIONS[role]
    if case.permission not in perms:
        return 403
    if not world.nodes[target].path.startswith(world.nodes[own].path):
        return 200 if case.scoped_list else 404
    return case.ok


@pytest.mark.parametrize(
    ("user", "relation", "case"), MATRIX, ids=[f"{u}-{r}-{c.method}{c.path}" for u, r, c in MATRIX]
)
def test_permission_matrix(
    matrix_client: TestClient,
    matrix_world: World,
    matrix_books: dict[str, tuple[int, int]],
    user,
    relation,
    case,
):
    client, world = matrix_client, matrix_world
    target = RELATIONS[user][relation]
    node = world.nodes[target]
    book, version = matrix_books.get(target, (0, 0))
    path = case.path.format(node=node.id, book=book, version=version, name=quote(node.name))
    body = None
    if case.body is not None:
        body = {k: (node.id if v == "{node}" else v) for k, v in case.body.items()}
    if case.upload is not None:
        files = {"file": ("matrix.csv", case.upload.encode(), "text/csv")}
        response = client.request(case.method, path, files=files, headers=world.headers(user))
    else:
        response = client.request(case.method, path, json=body, headers=world.headers(user))
    assert response.status_code == _expected(world, user, target, case), response.text
    if response.status_code >= 400:
        assert set(response.json()) >= {"error", "detail"}
    elif case.scoped_list and not node.path.startswith(world.nodes[USERS[user][1]].path):
        assert response.json()["items"] == []  # nothing from outside the subtree


def test_unauthenticated_is_401(client: TestClient, world: World):
    response = client.get("/api/v1/nodes")
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthenticated"


def test_list_nodes_shows_only_own_subtree(client: TestClient, world: World):
    names = {
        n["name"]
        for n in client.get("/api/v1/nodes", headers=world.headers("partner_admin")).json()["items"]
    }
    assert names == {"Partner A1", "Cust A1x", "Cust A1y"}
    names = {
        n["name"]
        for n in client.get("/api/v1/nodes", headers=world.headers("customer_user")).json()["items"]
    }
    assert names == {"Cust A1x"}
