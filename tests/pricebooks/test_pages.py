"""The console's price-book pages: list and create, a book (versions, upload,
compare, export links), a version (entries a page at a time, draft editing,
publishing), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.kit.db import Database
from rerate.models import AuditEntry, PriceBookVersion, TariffEntry
from tests.pricebooks.helpers import DECK_HEADER, DECK_V1, PRICES_V1, create_book
from tests.world import World

ADMIN = "partner_admin"


def _upload(
    client: TestClient, world: World, url: str, text: str, name: str = "deck.csv", **form: str
):
    return client.post(
        url,
        files={"file": (name, text.encode(), "text/csv")},
        data=form,
        headers=world.headers(ADMIN),
        follow_redirects=False,
    )


def test_list_creates_searches_and_pages(client: TestClient, world: World, database: Database):
    admin = world.headers(ADMIN)
    page = client.get("/price-books", headers=admin)
    assert page.status_code == 200
    assert 'href="/price-books" aria-current="page"' in page.text
    assert "Create a price book" in page.text
    # The owner choices are the nodes the caller may manage, never a customer.
    assert f'value="{world.nodes["partner_a1"].id}"' in page.text
    assert f'value="{world.nodes["cust_a1x"].id}"' not in page.text
    assert f'value="{world.nodes["partner_b1"].id}"' not in page.text
    for i in range(23):
        r = client.post(
            "/price-books",
            data={
                "name": f"Deck {i:02d}",
                "kind": "voip",
                "currency": "eur",
                "owner_node_id": str(world.nodes["partner_a1"].id),
            },
            headers=admin,
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    opened = client.get(r.headers["location"], headers=admin)
    assert "Price book Deck 22 created." in opened.text
    assert "No versions yet" in opened.text
    first = client.get("/price-books", headers=admin)
    assert "23 price books" in first.text
    assert "Page 1 of 2" in first.text
    second = client.get("/price-books?page=2", headers=admin)
    assert len(re.findall(r"data-book-id=", second.text)) == 3
    found = client.get("/price-books?q=Deck 07", headers=admin)
    assert re.findall(r'<a href="/price-books/\d+">([^<]+)<', found.text) == ["Deck 07"]
    twice = client.post(
        "/price-books",
        data={
            "name": "Deck 07",
            "kind": "voip",
            "currency": "EUR",
            "owner_node_id": str(world.nodes["partner_a1"].id),
        },
        headers=admin,
    )
    assert twice.status_code == 409
    assert "already has a price book named" in twice.text
    bad = client.post(
        "/price-books",
        data={
            "name": "Bad",
            "kind": "cloud",
            "currency": "EURO",
            "owner_node_id": str(world.nodes["partner_a1"].id),
        },
        headers=admin,
    )
    assert bad.status_code == 422
    assert "currency" in bad.text.lower()


def test_roles_without_manage_catalog_see_no_forms_and_get_403(
    client: TestClient, world: World, database: Database
):
    book = create_book(client, world)
    for who in ("partner_user", "distributor"):
        h = world.headers(who)
        listed = client.get("/price-books", headers=h)
        assert listed.status_code == 200
        assert "Create a price book" not in listed.text
        shown = client.get(f"/price-books/{book['id']}", headers=h)
        assert shown.status_code == 200
        assert "Upload a new version" not in shown.text
        refused = client.post(
            "/price-books",
            data={"name": "x", "kind": "voip", "currency": "EUR", "owner_node_id": "1"},
            headers=h,
        )
        assert refused.status_code == 403
        assert "Manage Catalog" in refused.text
        upload = client.post(
            f"/price-books/{book['id']}/imports",
            files={"file": ("deck.csv", DECK_V1.encode(), "text/csv")},
            headers=h,
        )
        assert upload.status_code == 403
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(PriceBookVersion)) == 0


def test_another_tenants_book_is_not_found(client: TestClient, world: World, database: Database):
    theirs = create_book(client, world, who="platform_admin", owner="partner_b1")
    r = _upload(client, world, f"/api/v1/price-books/{theirs['id']}/imports", DECK_V1)
    assert r.status_code == 404
    admin = world.headers(ADMIN)
    assert client.get(f"/price-books/{theirs['id']}", headers=admin).status_code == 404
    r = _upload(client, world, f"/price-books/{theirs['id']}/imports", DECK_V1)
    assert r.status_code == 404
    # Their version, reached through our URL space, is not found either.
    up = client.post(
        f"/api/v1/price-books/{theirs['id']}/imports",
        files={"file": ("deck.csv", DECK_V1.encode(), "text/csv")},
        headers=world.headers("platform_admin"),
    )
    assert up.status_code == 201, up.text
    vid = up.json()["id"]
    assert (
        client.get(f"/price-books/{theirs['id']}/versions/{vid}", headers=admin).status_code == 404
    )
    r = client.post(
        f"/price-books/{theirs['id']}/versions/{vid}/publish", data={"reason": "x"}, headers=admin
    )
    assert r.status_code == 404
    listed = client.get("/price-books", headers=admin)
    assert theirs["name"] not in listed.text or f'/price-books/{theirs["id"]}"' not in listed.text
    assert client.get("/price-books/99999999999", headers=admin).status_code == 404


def test_a_deck_is_uploaded_edited_published_and_then_frozen(
    client: TestClient, world: World, database: Database
):
    book = create_book(client, world)
    admin = world.headers(ADMIN)
    base = f"/price-books/{book['id']}"
    page = client.get(base, headers=admin)
    assert 'enctype="multipart/form-data"' in page.text
    r = _upload(client, world, f"{base}/imports", DECK_V1, note="first deck")
    assert r.status_code == 303, r.text
    vurl = r.headers["location"].split("?")[0]
    version = client.get(r.headers["location"], headers=admin)
    assert "Version imported." in version.text
    assert "3 entries" in version.text
    assert "draft" in version.text
    assert "Add an entry" in version.text
    # Add, change, remove an entry.
    added = client.post(
        f"{vurl}/entries",
        data={"prefix": "44", "destination_group": "UK", "rate_per_minute": "0.03"},
        headers=admin,
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    page = client.get(f"{vurl}?q=44", headers=admin)
    (uk,) = re.findall(r'data-entry-id="(\d+)"', page.text)
    edit = client.get(f"{vurl}?edit={uk}", headers=admin)
    assert "Change entry 44" in edit.text
    changed = client.post(
        f"{vurl}/entries/{uk}",
        data={
            "prefix": "44",
            "destination_group": "United Kingdom",
            "rate_per_minute": "0.04",
            "initial_increment": "60",
            "subsequent_increment": "60",
        },
        headers=admin,
        follow_redirects=False,
    )
    assert changed.status_code == 303, changed.text
    assert "United Kingdom" in client.get(f"{vurl}?q=44", headers=admin).text
    clash = client.post(
        f"{vurl}/entries",
        data={"prefix": "44", "destination_group": "UK again", "rate_per_minute": "0.05"},
        headers=admin,
    )
    assert clash.status_code == 409
    assert "is already entry" in clash.text
    wrong = client.post(
        f"{vurl}/entries",
        data={"prefix": "4a", "destination_group": "UK", "rate_per_minute": "0.05"},
        headers=admin,
    )
    assert wrong.status_code == 422
    assert "prefix" in wrong.text
    removed = client.post(f"{vurl}/entries/{uk}/remove", headers=admin, follow_redirects=False)
    assert removed.status_code == 303
    assert "3 entries" in client.get(vurl, headers=admin).text
    # Publishing needs a reason.
    no_reason = client.post(f"{vurl}/publish", data={"reason": " "}, headers=admin)
    assert no_reason.status_code == 422
    assert "reason" in no_reason.text.lower()
    published = client.post(f"{vurl}/publish", data={"reason": "new carrier prices"}, headers=admin)
    assert published.status_code == 200, published.text  # the redirect, followed
    assert "Version published" in published.text
    assert "Add an entry" not in published.text
    assert "Remove</button>" not in published.text
    assert "partner_admin" in published.text  # published by
    with database.session() as s:
        reasons = s.scalars(select(AuditEntry.reason).where(AuditEntry.action == "publish")).all()
        assert "new carrier prices" in reasons
        entries = s.scalar(select(func.count()).select_from(TariffEntry))
    # A published version's edit routes answer 409 as a page, nothing changes.
    attempts = [
        client.post(
            f"{vurl}/entries",
            data={"prefix": "49", "destination_group": "DE", "rate_per_minute": "0.02"},
            headers=admin,
        ),
        client.post(f"{vurl}/entries/{uk}/remove", headers=admin),
        client.post(f"{vurl}/publish", data={"reason": "again"}, headers=admin),
        _upload(client, world, f"{vurl}/csv", DECK_V1),
    ]
    for r in attempts:
        assert r.status_code == 409, r.text
        assert "never changes" in r.text
        assert "<html" in r.text.lower()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(TariffEntry)) == entries
    # The book page lists the version with its export link.
    book_page = client.get(base, headers=admin)
    assert 'data-status="published"' in book_page.text
    assert f"/api/v1/price-books/{book['id']}/versions/" in book_page.text
    assert "first deck" in book_page.text


def test_upload_errors_name_file_line_and_field_and_store_nothing(
    client: TestClient, world: World, database: Database
):
    book = create_book(client, world)
    base = f"/price-books/{book['id']}"
    bad = DECK_HEADER + "1,2026-01-01T00:00:00Z,33,France,0.02,0,0,1,1,,false,EUR\n"
    bad += "1,2026-01-01T00:00:00Z,33x,France,0.02,0,0,1,1,,false,EUR\n"
    r = _upload(client, world, f"{base}/imports", bad, name="carrier.csv")
    assert r.status_code == 422
    assert "carrier.csv line 3" in r.text
    assert "prefix" in r.text
    assert "Nothing was stored." in r.text
    r = _upload(
        client,
        world,
        f"{base}/imports",
        DECK_V1,
        effective_from="2026-02-01T00:00:00Z",
        name="carrier.csv",
    )
    assert r.status_code == 422
    assert "effective_from" in r.text
    r = _upload(client, world, f"{base}/imports", DECK_V1, effective_from="soon")
    assert r.status_code == 422
    assert "effective_from" in r.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(PriceBookVersion)) == 0
        assert s.scalar(select(func.count()).select_from(TariffEntry)) == 0
    # A draft's entries are replaced by a file, or kept whole when it is bad.
    ok = _upload(client, world, f"{base}/imports", DECK_V1)
    vurl = ok.headers["location"].split("?")[0]
    replaced = _upload(
        client, world, f"{vurl}/csv", DECK_HEADER + bad.split("\n", 1)[1], name="new.csv"
    )
    assert replaced.status_code == 422
    assert "new.csv line 3" in replaced.text
    assert "3 entries" in replaced.text
    good = DECK_HEADER + "1,2026-01-01T00:00:00Z,49,Germany,0.01,0,0,1,1,,false,EUR\n"
    replaced = _upload(client, world, f"{vurl}/csv", good)
    assert replaced.status_code == 303
    page = client.get(replaced.headers["location"], headers=world.headers(ADMIN))
    assert "Entries replaced from the file." in page.text
    assert "1 entry" in page.text
    assert "Germany" in page.text


def test_upload_and_publish_now_then_compare(client: TestClient, world: World, database: Database):
    book = create_book(client, world)
    admin = world.headers(ADMIN)
    base = f"/price-books/{book['id']}"
    first = _upload(
        client, world, f"{base}/imports", DECK_V1, publish="true", reason="launch prices"
    )
    assert first.status_code == 303, first.text
    v1 = int(first.headers["location"].split("/versions/")[1].split("?")[0])
    v2_text = (
        DECK_HEADER
        + """1,2026-02-01T00:00:00Z,33,France,0.025,0,0,1,1,,false,EUR
1,2026-02-01T00:00:00Z,336,France Mobile,0.10,0,0,30,6,,false,EUR
1,2026-02-01T00:00:00Z,49,Germany,0.01,0,0,1,1,,false,EUR
"""
    )
    second = _upload(client, world, f"{base}/imports", v2_text, publish="true", reason="feb")
    assert second.status_code == 303, second.text
    v2 = int(second.headers["location"].split("/versions/")[1].split("?")[0])
    page = client.get(base, headers=admin)
    assert page.text.count('data-status="published"') == 2
    assert "Compare two versions" in page.text
    cmp = client.get(f"{base}?old={v1}&new={v2}", headers=admin)
    assert cmp.status_code == 200
    assert "1 added, 1 removed, 1 changed, 1 unchanged" in cmp.text
    added = cmp.text.split('class="table compare-added"')[1].split("</table>")[0]
    assert "Germany" in added
    removed = cmp.text.split('class="table compare-removed"')[1].split("</table>")[0]
    assert "peak" in removed
    changed = cmp.text.split('class="table compare-changed"')[1].split("</table>")[0]
    assert "0.025" in changed
    assert "rate per minute" in changed
    with database.session() as s:
        reasons = s.scalars(select(AuditEntry.reason).where(AuditEntry.action == "publish")).all()
        assert {"launch prices", "feb"} <= set(reasons)


def test_a_big_version_shows_one_page_of_entries(
    client: TestClient, world: World, database: Database
):
    book = create_book(client, world)
    lines = "".join(
        f"1,2026-01-01T00:00:00Z,{1000 + i},Group {i % 7},0.01,0,0,1,1,,false,EUR\n"
        for i in range(450)
    )
    r = _upload(client, world, f"/price-books/{book['id']}/imports", DECK_HEADER + lines)
    assert r.status_code == 303, r.text
    vurl = r.headers["location"].split("?")[0]
    admin = world.headers(ADMIN)
    page = client.get(vurl, headers=admin)
    assert len(re.findall(r"data-entry-id=", page.text)) == 20
    assert "450 entries" in page.text
    assert "Page 1 of 23" in page.text
    last = client.get(f"{vurl}?page=23", headers=admin)
    assert len(re.findall(r"data-entry-id=", last.text)) == 10
    found = client.get(f"{vurl}?q=1449", headers=admin)
    assert len(re.findall(r"data-entry-id=", found.text)) == 1


def test_a_cloud_book_edits_prices_with_tiers(client: TestClient, world: World, database: Database):
    book = create_book(client, world, kind="cloud")
    admin = world.headers(ADMIN)
    r = _upload(client, world, f"/price-books/{book['id']}/imports", PRICES_V1, name="p.csv")
    assert r.status_code == 303, r.text
    vurl = r.headers["location"].split("?")[0]
    page = client.get(vurl, headers=admin)
    assert "storage.gb" in page.text
    assert "graduated: 0:0.1;1000:0.08" in page.text
    added = client.post(
        f"{vurl}/entries",
        data={
            "sku": "egress.gb",
            "unit": "GB",
            "unit_price": "0",
            "tier_mode": "volume",
            "tiers": "0:0.09;10240:0.07",
        },
        headers=admin,
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    page = client.get(f"{vurl}?q=egress", headers=admin)
    assert "volume: 0:0.09;10240:0.07" in page.text
    bad = client.post(
        f"{vurl}/entries",
        data={"sku": "x", "unit_price": "0", "tier_mode": "volume", "tiers": "5:0.1"},
        headers=admin,
    )
    assert bad.status_code == 422
    assert "tiers" in bad.text
