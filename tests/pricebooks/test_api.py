"""The price-book journey over the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import AuditEntry
from tests.pricebooks.helpers import DECK_V1, PRICES_V1, create_book, semantic, upload
from tests.world import World


def test_reseller_imports_publishes_and_cannot_edit_a_published_deck(
    client: TestClient, world: World, database: Database
):
    book = create_book(client, world)
    h = world.headers("partner_admin")
    r = upload(client, world, book["id"], DECK_V1, effective_from="2026-01-01T00:00:00Z")
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["status"] == "draft"
    assert draft["entries"] == 3
    assert draft["version"] == 1
    base = f"/api/v1/price-books/{book['id']}/versions/{draft['id']}"
    # Edit the draft entry by entry.
    r = client.post(
        f"{base}/tariffs",
        json={"prefix": "44", "destination_group": "UK", "rate_per_minute": "0.03"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    uk = r.json()["id"]
    r = client.put(
        f"{base}/tariffs/{uk}",
        json={"prefix": "44", "destination_group": "UK", "rate_per_minute": "0.04"},
        headers=h,
    )
    assert r.status_code == 200
    assert r.json()["rate_per_minute"] == "0.04"
    dup = client.post(
        f"{base}/tariffs",
        json={"prefix": "33", "destination_group": "France", "rate_per_minute": "1"},
        headers=h,
    )
    assert dup.status_code == 409
    assert "prefix" in dup.json()["detail"]
    # Publish needs a reason, and is audited with it.
    assert client.post(f"{base}/publish", json={"reason": ""}, headers=h).status_code == 422
    r = client.post(f"{base}/publish", json={"reason": "carrier deck of January"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"
    assert r.json()["published_by"] is not None
    with database.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "publish", AuditEntry.object_id == str(draft["id"])
            )
        ).one()
        assert entry.reason == "carrier deck of January"
        assert entry.actor == "partner_admin@test.example"
    # Published: every edit answers 409.
    for method, url, body in (
        (
            "POST",
            f"{base}/tariffs",
            {"prefix": "1", "destination_group": "US", "rate_per_minute": "1"},
        ),
        (
            "PUT",
            f"{base}/tariffs/{uk}",
            {"prefix": "44", "destination_group": "UK", "rate_per_minute": "9"},
        ),
        ("DELETE", f"{base}/tariffs/{uk}", None),
        ("PATCH", base, {"note": "x"}),
        ("DELETE", base, None),
        ("POST", f"{base}/publish", {"reason": "again"}),
    ):
        r = client.request(method, url, json=body, headers=h)
        assert r.status_code == 409, (method, url, r.text)
    r = client.put(
        f"{base}/csv", files={"file": ("t.csv", DECK_V1.encode(), "text/csv")}, headers=h
    )
    assert r.status_code == 409
    shown = client.get(base, headers=h, params={"q": "336"}).json()
    assert shown["total"] == 2
    assert {e["band"] for e in shown["items"]} == {None, "peak"}


def test_copy_of_latest_and_compare(client: TestClient, world: World):
    book = create_book(client, world)
    h = world.headers("partner_admin")
    v1 = upload(client, world, book["id"], DECK_V1, publish="true", reason="first").json()
    assert v1["status"] == "published"
    r = client.post(
        f"/api/v1/price-books/{book['id']}/versions",
        json={"effective_from": "2026-10-15T00:00:00Z", "copy_latest": True, "note": "Oct"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["entries"] == 3
    assert v2["version"] == 2
    # A second draft is refused while one exists.
    again = client.post(
        f"/api/v1/price-books/{book['id']}/versions",
        json={"effective_from": "2026-11-15T00:00:00Z"},
        headers=h,
    )
    assert again.status_code == 409
    base = f"/api/v1/price-books/{book['id']}/versions/{v2['id']}"
    items = client.get(base, headers=h).json()["items"]
    by_key = {(e["prefix"], e["band"]): e for e in items}
    france = by_key[("33", None)]
    client.put(
        f"{base}/tariffs/{france['id']}",
        json={"prefix": "33", "destination_group": "France", "rate_per_minute": "0.025"},
        headers=h,
    ).raise_for_status()
    client.delete(f"{base}/tariffs/{by_key[('336', 'peak')]['id']}", headers=h).raise_for_status()
    client.post(
        f"{base}/tariffs",
        json={"prefix": "49", "destination_group": "Germany", "rate_per_minute": "0.02"},
        headers=h,
    ).raise_for_status()
    diff = client.get(
        f"/api/v1/price-books/{book['id']}/compare",
        params={"old": v1["id"], "new": v2["id"]},
        headers=h,
    ).json()
    assert diff["counts"] == {"added": 1, "removed": 1, "changed": 1, "unchanged": 1}
    assert diff["added"][0]["prefix"] == "49"
    assert (diff["removed"][0]["prefix"], diff["removed"][0]["band"]) == ("336", "peak")
    change = diff["changed"][0]
    assert change["fields"] == ["rate_per_minute"]
    assert (change["old"]["rate_per_minute"], change["new"]["rate_per_minute"]) == ("0.02", "0.025")
    # The same instant as a published version is refused.
    clash = client.patch(base, json={"effective_from": "2026-01-01T00:00:00Z"}, headers=h)
    assert clash.status_code == 409
    assert "effective_from" in clash.json()["detail"]


def test_import_errors_name_file_line_and_field_and_store_nothing(client: TestClient, world: World):
    book = create_book(client, world)
    h = world.headers("partner_admin")
    bad = DECK_V1 + '1,2026-01-01T00:00:00Z,49,Germany,"0,12",0,0,1,1,,false,EUR\n'
    r = upload(client, world, book["id"], bad)
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "tariffs.csv line 5, field rate_per_minute: not a decimal number: '0,12'"
    )
    dup = DECK_V1 + "1,2026-01-01T00:00:00Z,33,France,0.05,0,0,1,1,,false,EUR\n"
    r = upload(client, world, book["id"], dup, name="deck.csv")
    assert r.status_code == 422
    assert "deck.csv line 5" in r.json()["detail"]
    assert "repeats line 2" in r.json()["detail"]
    r = upload(client, world, book["id"], DECK_V1, effective_from="2026-02-01T00:00:00Z")
    assert r.status_code == 422
    assert "field effective_from" in r.json()["detail"]
    usd = DECK_V1.replace("EUR", "USD")
    assert "field currency" in upload(client, world, book["id"], usd).json()["detail"]
    shown = client.get(f"/api/v1/price-books/{book['id']}", headers=h).json()
    assert shown["versions"] == []  # nothing stored


def test_cloud_prices_round_trip_through_export(client: TestClient, world: World, tmp_path):
    book = create_book(client, world, kind="cloud")
    h = world.headers("partner_admin")
    r = upload(client, world, book["id"], PRICES_V1, name="prices.csv", publish="true")
    assert r.status_code == 201, r.text
    version = r.json()
    url = f"/api/v1/price-books/{book['id']}/versions/{version['id']}"
    exported = client.get(f"{url}/csv", headers=h)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert semantic(exported.text, "cloud", tmp_path) == semantic(PRICES_V1, "cloud", tmp_path)
    assert exported.text.splitlines()[0] == PRICES_V1.splitlines()[0]
    entries = client.get(url, headers=h).json()["items"]
    storage = next(e for e in entries if e["sku"] == "storage.gb")
    assert storage["tiers"] == [["0", "0.1"], ["1000", "0.08"]]
    # A tariff on a cloud book is refused.
    r = client.post(
        "/api/v1/price-books",
        json={
            "name": "cloud book",
            "kind": "cloud",
            "currency": "EUR",
            "owner_node_id": world.nodes["partner_a1"].id,
        },
        headers=h,
    )
    assert r.status_code == 409  # the name is taken at this owner


def test_visibility_and_permissions(client: TestClient, world: World):
    book = create_book(client, world)
    url = f"/api/v1/price-books/{book['id']}"
    assert client.get(url, headers=world.headers("distributor")).status_code == 200
    assert client.get(url, headers=world.headers("partner_user")).status_code == 200
    assert client.get(url, headers=world.headers("customer_user")).status_code == 404
    listed = client.get("/api/v1/price-books", headers=world.headers("customer_user")).json()
    assert listed == {"items": [], "total": 0, "limit": 50, "offset": 0}
    other = create_book(client, world, who="platform_admin", owner="partner_b1", name="B deck")
    assert (
        client.get(f"/api/v1/price-books/{other['id']}", headers=world.headers("partner_admin"))
    ).status_code == 404
    assert (
        client.post(
            f"{url}/versions",
            json={"effective_from": "2026-01-01T00:00:00Z"},
            headers=world.headers("partner_user"),
        )
    ).status_code == 403
    customer_owned = client.post(
        "/api/v1/price-books",
        json={
            "name": "x",
            "kind": "voip",
            "currency": "EUR",
            "owner_node_id": world.nodes["cust_a1x"].id,
        },
        headers=world.headers("partner_admin"),
    )
    assert customer_owned.status_code == 422
    page = client.get(
        "/api/v1/price-books",
        params={"q": "deck", "limit": 1},
        headers=world.headers("platform_admin"),
    ).json()
    assert page["total"] == 1
    assert page["items"][0]["name"] == "B deck"
    page = client.get("/api/v1/price-books", headers=world.headers("platform_admin")).json()
    assert page["total"] == 2
    audit = client.get(url, headers=world.headers("partner_admin")).json()
    assert json.dumps(audit)  # a plain JSON answer
