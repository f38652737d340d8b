"""The Consumption profiles pages as a reseller admin uses them: create a
profile with tiers, add a version, assign it to an account and end the
assignment; an overlapping assignment and bad tiers are refused on the page in
plain words with nothing stored."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.kit.db import Database
from rerate.models import AccountProfile, ProfileVersion
from tests.billing.fixtures import build_billing
from tests.world import World

ADMIN = "partner_admin"


def _count(database: Database, model: type) -> int:
    with database.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _create(client: TestClient, world: World, **extra: str) -> int:
    form = {
        "name": "Volume minutes",
        "unit": "minutes",
        "owner_node_id": str(world.nodes["partner_a1"].id),
        "included_quantity": "100",
        "tier_mode": "graduated",
        "tiers": "0:0.05\n1000 : 0.04\n",
        "scope": "",
        "effective_from": "2026-01-01T00:00",
        "reason": "launch",
        **extra,
    }
    made = client.post("/profiles", data=form, headers=world.headers(ADMIN), follow_redirects=False)
    assert made.status_code == 303, made.text
    match = re.fullmatch(r"/profiles/(\d+)", made.headers["location"])
    assert match
    return int(match.group(1))


def test_a_profile_is_created_versioned_and_assigned_from_the_console(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    admin = world.headers(ADMIN)
    assert "No profiles" in client.get("/profiles", headers=admin).text
    profile = _create(client, world)
    listed = client.get("/profiles?q=volume", headers=admin).text
    assert f'href="/profiles/{profile}"' in listed

    page = client.get(f"/profiles/{profile}", headers=admin).text
    assert "from 0 at 0.05" in page
    assert "from 1000 at 0.04" in page
    assert "by partner_admin@test.example" in page
    assert "launch" in page

    added = client.post(
        f"/profiles/{profile}/versions",
        data={
            "included_quantity": "250",
            "tier_mode": "none",
            "tiers": "",
            "effective_from": "2026-09-01T00:00",
            "reason": "more included",
        },
        headers=admin,
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    api = client.get(f"/api/v1/profiles/{profile}", headers=admin).json()
    assert [(v["version"], v["included_quantity"]) for v in api["versions"]] == [
        (1, "100"),
        (2, "250"),
    ]

    account = billing.accounts["acc-x"]
    assigned = client.post(
        f"/profiles/{profile}/assignments",
        data={"account_id": str(account), "valid_from": "2026-01-01T00:00", "reason": "signed"},
        headers=admin,
        follow_redirects=False,
    )
    assert assigned.status_code == 303, assigned.text
    page = client.get(f"/profiles/{profile}", headers=admin).text
    assert 'href="/accounts/' in page
    assert ">open<" in page
    link = int(page.split('action="/profile-assignments/')[1].split("/")[0])

    overlap = client.post(
        f"/profiles/{profile}/assignments",
        data={"account_id": str(account), "valid_from": "2026-06-01T00:00", "reason": "again"},
        headers=admin,
    )
    assert overlap.status_code == 409
    assert f"From: account {account} already uses profile {profile}" in overlap.text
    assert "end that one first" in overlap.text
    assert _count(database, AccountProfile) == 1

    ended = client.post(
        f"/profile-assignments/{link}/end",
        data={"valid_to": "2026-10-01T00:00", "reason": "cancelled"},
        headers=admin,
        follow_redirects=False,
    )
    assert ended.status_code == 303
    page = client.get(f"/profiles/{profile}", headers=admin).text
    assert "2026-10-01 00:00" in page
    later = client.post(
        f"/profile-assignments/{link}/end",
        data={"valid_to": "2026-12-01T00:00", "reason": "longer"},
        headers=admin,
    )
    assert later.status_code == 409
    assert "Until: the assignment already ends at 2026-10-01" in later.text
    # After the end, the account may take the profile again.
    again = client.post(
        f"/profiles/{profile}/assignments",
        data={"account_id": str(account), "valid_from": "2026-10-01T00:00", "reason": "back"},
        headers=admin,
        follow_redirects=False,
    )
    assert again.status_code == 303


def test_bad_terms_are_refused_in_plain_words_and_nothing_is_stored(
    client: TestClient, database: Database, world: World
) -> None:
    admin = world.headers(ADMIN)
    profile = _create(client, world)
    before = _count(database, ProfileVersion)
    bad_tiers = client.post(
        f"/profiles/{profile}/versions",
        data={
            "included_quantity": "0",
            "tier_mode": "volume",
            "tiers": "0:0.05\nten:0.04",
            "effective_from": "2026-09-01T00:00",
            "reason": "x",
        },
        headers=admin,
    )
    assert bad_tiers.status_code == 422
    assert "Tier 2 (from quantity): a decimal number" in bad_tiers.text
    assert "ten:0.04" in bad_tiers.text  # what was typed is kept
    clash = client.post(
        f"/profiles/{profile}/versions",
        data={"included_quantity": "1", "effective_from": "2026-01-01T00:00", "reason": "x"},
        headers=admin,
    )
    assert clash.status_code == 409
    assert "Effective from: version 1 of Volume minutes already takes effect" in clash.text
    units = client.post(
        "/profiles",
        data={
            "name": "Storage",
            "unit": "units",
            "owner_node_id": str(world.nodes["partner_a1"].id),
            "effective_from": "2026-01-01T00:00",
        },
        headers=admin,
    )
    assert units.status_code == 422
    assert "SKU" in units.text
    assert _count(database, ProfileVersion) == before

    viewer = client.get(f"/profiles/{profile}", headers=world.headers("partner_user"))
    assert viewer.status_code == 200
    assert "<form" not in viewer.text.split("<main", 1)[1].split("</main>")[0].replace(
        '<form class="filters" method="get"', ""
    )
    refused = client.post(
        f"/profiles/{profile}/versions",
        data={"included_quantity": "1", "effective_from": "2026-02-01T00:00", "reason": "x"},
        headers=world.headers("partner_user"),
    )
    assert refused.status_code == 403
