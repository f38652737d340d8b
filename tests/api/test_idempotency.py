"""`Idempotency-Key` on creates: the same key and body replay the first answer,
another body is a 409, concurrent retries make one effect; keys are per user."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import ApiKey, Contract, CustomLineItem
from tests.api.live import LiveServer
from tests.world import World

ITEM = {"description": "Onboarding", "amount": "250.00", "one_off_date": "2026-08-20"}


def _contract(database: Database, world: World) -> int:
    customer = world.nodes["cust_a1x"].id
    with database.session() as s:
        s.add(
            Contract(
                customer_id=customer,
                seller_id=world.nodes["partner_a1"].id,
                currency="EUR",
                billing_tz="UTC",
                coverage_start=date(2026, 1, 1),
                active=True,
            )
        )
    return customer


def _items(database: Database) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(CustomLineItem)) or 0


def test_same_key_and_body_replay_the_first_answer(
    client: TestClient, database: Database, world: World
):
    customer = _contract(database, world)
    url = f"/api/v1/customers/{customer}/custom-line-items"
    headers = {**world.headers("partner_admin"), "Idempotency-Key": "item-1"}
    first = client.post(url, json=ITEM, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post(url, json=ITEM, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert _items(database) == 1
    other = client.post(url, json={**ITEM, "amount": "999.00"}, headers=headers)
    assert other.status_code == 409
    assert "different request" in other.json()["detail"]
    assert _items(database) == 1
    # Without a key, every POST is a new request.
    assert client.post(url, json=ITEM, headers=world.headers("partner_admin")).status_code == 201
    assert _items(database) == 2


def test_keys_are_scoped_to_their_user(client: TestClient, database: Database, world: World):
    customer = _contract(database, world)
    url = f"/api/v1/customers/{customer}/custom-line-items"
    mine = client.post(
        url, json=ITEM, headers={**world.headers("partner_admin"), "Idempotency-Key": "k"}
    )
    theirs = client.post(
        url, json=ITEM, headers={**world.headers("platform_admin"), "Idempotency-Key": "k"}
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]  # the other user's key replays nothing


def test_a_refused_request_frees_its_key(client: TestClient, database: Database, world: World):
    customer = _contract(database, world)
    url = f"/api/v1/customers/{customer}/custom-line-items"
    headers = {**world.headers("partner_admin"), "Idempotency-Key": "fix-and-retry"}
    bad = client.post(url, json={**ITEM, "one_off_date": None}, headers=headers)
    assert bad.status_code == 422
    good = client.post(url, json={**ITEM, "one_off_date": None}, headers=headers)
    assert good.status_code == 422  # same request, same refusal: nothing was kept
    assert _items(database) == 0


def test_a_secret_is_never_replayed(client: TestClient, database: Database, world: World):
    headers = {**world.headers("partner_admin"), "Idempotency-Key": "key-1"}
    first = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=headers)
    assert first.status_code == 201
    again = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=headers)
    assert again.status_code == 409
    assert first.json()["key"] not in again.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.name == "ci")) == 1


def test_concurrent_retries_make_one_effect(database: Database, data_dir: Path, world: World):
    customer = _contract(database, world)
    app = create_app(Settings(data_dir=data_dir, database_url=database.url, env="test"), database)
    headers = {**world.headers("partner_admin"), "Idempotency-Key": "burst"}
    with (
        LiveServer(app) as live,
        httpx.Client(base_url=live.url, timeout=60) as http,
        ThreadPoolExecutor(10) as pool,
    ):
        answers = list(
            pool.map(
                lambda _i: http.post(
                    f"/api/v1/customers/{customer}/custom-line-items",
                    json=ITEM,
                    headers=headers,
                ),
                range(10),
            )
        )
    assert {r.status_code for r in answers} <= {201, 409}, [r.text for r in answers]
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    assert len(created) == 1
    assert _items(database) == 1
