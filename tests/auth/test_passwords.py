"""The password policy, wherever a password is set: the service, the API, the CLI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rerate.auth.passwords import common_passwords, problem
from rerate.demo.catalog import DEMO_PASSWORD
from rerate.kit.db import Database
from tests.world import World


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("password", "at least 10 characters"),
        ("password12", "common"),
        ("Password2024!", "common"),
        ("P@ssw0rd!!", "common"),
        ("@dmin12345", "common"),
        ("iloveyou123", "common"),
        ("Summer2026!", "common"),
        ("qwertyuiop", "run of keys"),
        ("1234567890", "run of keys"),
        ("0987654321", "run of keys"),
        ("aaaaaaaaaaaa", "repetition"),
        ("abcabcabcabc", "repetition"),
        ("ab1234567890", "run of keys"),
        ("jane.doe2026", "email"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str):
    reason = problem(password, email="jane.doe@example.com")
    assert reason is not None
    assert why in reason


@pytest.mark.parametrize(
    "password",
    [DEMO_PASSWORD, "correct-horse", "blue-sky-river", "Tr0ub4dor&3x", "839201847561"],
)
def test_reasonable_passwords_are_accepted(password: str):
    assert problem(password, email="jane.doe@example.com") is None


def test_the_demo_password_is_accepted_for_every_demo_login():
    for email in ("admin@example.com", "reseller-user@example.com", "customer@example.com"):
        assert problem(DEMO_PASSWORD, email=email) is None


def test_the_shipped_list_is_a_real_list():
    common = common_passwords()
    assert len(common) > 1000
    assert {"password", "123456", "qwerty", "iloveyou", "letmein", "admin"} <= common
    assert DEMO_PASSWORD not in common


def test_the_api_refuses_a_common_password(client: TestClient, world: World):
    body = {
        "email": "new.user@test.example",
        "name": "New",
        "role": "customer_user",
        "node_id": world.nodes["cust_a1x"].id,
    }
    headers = world.headers("platform_admin")
    weak = client.post("/api/v1/users", json={**body, "password": "password123"}, headers=headers)
    assert weak.status_code == 422, weak.text
    assert weak.json()["error"] == "Invalid"
    assert "common" in weak.json()["detail"]
    short = client.post("/api/v1/users", json={**body, "password": "short-1"}, headers=headers)
    assert short.status_code == 422
    assert "at least 10 characters" in short.json()["detail"]
    ok = client.post("/api/v1/users", json={**body, "password": "blue-sky-river"}, headers=headers)
    assert ok.status_code == 201, ok.text


def test_the_cli_refuses_a_common_password(
    world: World, database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path
):
    from rerate.cli import context
    from rerate.cli.main import app
    from rerate.kit.settings import get_settings

    monkeypatch.setenv("RERATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RERATE_DATABASE_URL", database.url)
    context.database.cache_clear()
    get_settings.cache_clear()
    args = [
        "users",
        "create",
        "cli.user@test.example",
        "--role",
        "customer_user",
        "--node-id",
        str(world.nodes["cust_a1x"].id),
    ]
    try:
        runner = CliRunner()
        weak = runner.invoke(app, [*args, "--password", "Password2024!"])
        assert weak.exit_code == 1, weak.output
        assert "common" in weak.output
        ok = runner.invoke(app, [*args, "--password", "blue-sky-river"])
        assert ok.exit_code == 0, ok.output
    finally:
        context.database().dispose()
        context.database.cache_clear()
        get_settings.cache_clear()
