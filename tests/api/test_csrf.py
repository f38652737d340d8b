"""Cookie-authenticated writes to /api/v1 from another origin are refused.

A sibling origin (another port or subdomain of the same site) is "same-site"
to the browser, so the SameSite=Lax cookie goes along: only the origin check
stops it. A Bearer key is never sent by a browser on its own, so requests
carrying one are not cross-site forgeries.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.world import World

PASSWORD = "correct-horse"
SIBLING = {"Origin": "http://evil.testserver", "Sec-Fetch-Site": "same-site"}


def _log_in(client: TestClient) -> None:
    r = client.post(
        "/api/v1/auth/login",
        json={"email": "partner_admin@test.example", "password": PASSWORD},
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "headers",
    [
        SIBLING,
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.testserver"},  # an older browser: Origin alone
        {"Origin": "null"},
    ],
)
def test_cookie_job_cancel_from_another_origin_is_refused(
    client: TestClient, world: World, headers: dict[str, str]
):
    _log_in(client)
    r = client.post("/api/v1/jobs/1/cancel", headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "Forbidden"
    assert "cross-site" in r.json()["detail"]


def test_cookie_usage_upload_from_a_sibling_origin_is_refused(client: TestClient, world: World):
    _log_in(client)
    r = client.post(
        "/api/v1/usage/imports",
        files={"file": ("u.csv", b"x\n", "text/csv")},
        data={"format": "focus"},
        headers=SIBLING,
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "Forbidden"


def test_cookie_write_from_the_same_origin_goes_through(client: TestClient, world: World):
    _log_in(client)
    for headers in (
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://testserver"},
        {},  # no browser headers at all: a script with a copied cookie, not a forgery
    ):
        r = client.post("/api/v1/jobs/999999/cancel", headers=headers)
        assert r.status_code == 404, r.text  # reached the endpoint, which found no such job


def test_bearer_write_from_any_origin_goes_through(client: TestClient, world: World):
    r = client.post(
        "/api/v1/jobs/999999/cancel", headers={**SIBLING, **world.headers("partner_admin")}
    )
    assert r.status_code == 404, r.text


def test_login_from_another_origin_is_refused(client: TestClient, world: World):
    """Login CSRF: a page must not log the victim's browser into the attacker's account."""
    r = client.post(
        "/api/v1/auth/login",
        json={"email": "partner_admin@test.example", "password": PASSWORD},
        headers=SIBLING,
    )
    assert r.status_code == 403, r.text
    assert "rerate_session" not in r.cookies


def test_reads_from_another_origin_are_not_refused(client: TestClient, world: World):
    _log_in(client)
    assert client.get("/api/v1/me", headers=SIBLING).status_code == 200
