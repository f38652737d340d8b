"""Security headers on every response, and /docs served from this origin only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.world import World

HEADERS = ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/me", 401),
        ("GET", "/api/v1/no-such-thing", 404),
        ("POST", "/api/v1/auth/login", 422),
        ("GET", "/openapi.json", 200),
        ("GET", "/health", 200),
        ("GET", "/docs", 200),
        ("GET", "/login", 200),
        ("GET", "/static/rerate.css", 200),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str, status: int
):
    r = client.request(method, path)
    assert r.status_code == status, r.text
    for name in HEADERS:
        assert name in r.headers, f"{path} has no {name}"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_api_answers_are_not_cached_and_render_nothing(client: TestClient, world: World):
    r = client.get("/api/v1/me", headers=world.headers("distributor"))
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_refused_cross_site_request_carries_the_headers_too(client: TestClient):
    r = client.post("/api/v1/auth/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert r.headers["X-Frame-Options"] == "DENY"


def test_docs_load_nothing_from_outside(client: TestClient):
    r = client.get("/docs")
    assert r.status_code == 200
    page = r.text
    assert "<script>" not in page  # no inline script: the CSP forbids it
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs, page
    for ref in refs:
        assert ref.startswith("/"), ref
        assert not ref.startswith("//"), ref
        assert client.get(ref).status_code == 200, ref
    assert not re.search(r"https?://", page)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp
    for loose in ("http", "*", "unsafe"):
        assert loose not in csp
    assert "swagger-ui/swagger-ui-bundle.js" in page
    assert client.get("/redoc").status_code == 404  # it would load from a CDN


def test_openapi_declares_the_bearer_scheme(client: TestClient):
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert {"bearer": []} in schema["security"]
    assert schema["paths"]["/api/v1/auth/login"]["post"]["security"] == []
    assert "security" not in schema["paths"]["/api/v1/me"]["get"]  # the global one applies
