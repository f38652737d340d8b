"""`POST /price-books/{id}/imports?format=cgrates`: a CGRateS plan's files
(several `files` parts, or a zip) as a new deck version; errors 422."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from rerate.kit.db import Database
from rerate.models import AuditEntry, PriceBookVersion
from tests.pricebooks.helpers import create_book
from tests.world import World

FIXTURES = Path(__file__).parent / "fixtures" / "cgrates"


def _parts(fixture: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("files", (p.name, p.read_bytes(), "text/csv"))
        for p in sorted((FIXTURES / fixture).glob("*.csv"))
    ]


def test_import_files_as_a_draft(client: TestClient, world: World, database: Database):
    book = create_book(client, world)
    r = client.post(
        f"/api/v1/price-books/{book['id']}/imports?format=cgrates",
        files=_parts("capped"),
        data={"effective_from": "2026-01-01T00:00:00Z", "plan": "RP_GOLD"},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["entries"]) == ("draft", 3)
    assert body["cgrates"]["plans"] == ["RP_GOLD"]
    assert "*disconnect" in body["cgrates"]["notes"][0]
    shown = client.get(
        f"/api/v1/price-books/{book['id']}/versions/{body['id']}",
        headers=world.headers("partner_admin"),
    ).json()
    free = next(e for e in shown["items"] if e["prefix"] == "3303")
    assert free["max_cost"] == "0.25"
    assert (free["call_decimals"], free["call_rounding"]) == (4, "ROUND_CEILING")
    with database.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "import", AuditEntry.object_id == str(body["id"])
            )
        ).one()
        assert "cgrates" in entry.changes


def test_import_a_zip_and_publish(client: TestClient, world: World):
    book = create_book(client, world)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for p in (FIXTURES / "any_dest").glob("*.csv"):
            archive.writestr(f"plan/{p.name}", p.read_bytes())
    r = client.post(
        f"/api/v1/price-books/{book['id']}/imports?format=cgrates",
        files={"files": ("plan.zip", buffer.getvalue(), "application/zip")},
        data={"effective_from": "2026-01-01T00:00:00Z", "publish": "true", "reason": "go"},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["entries"]) == ("published", 2)


def test_refused_plan_is_422_and_stores_nothing(
    client: TestClient, world: World, database: Database
):
    book = create_book(client, world)
    r = client.post(
        f"/api/v1/price-books/{book['id']}/imports?format=cgrates",
        files=_parts("standard"),
        data={"effective_from": "2026-01-01T00:00:00Z", "plan": "RP_BYTES"},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 422, r.text
    assert "Rates.csv line 22, RateUnit: '2048' is 2048 ns" in r.json()["detail"]
    with database.session() as s:
        assert (
            s.scalars(
                select(PriceBookVersion).where(PriceBookVersion.price_book_id == book["id"])
            ).all()
            == []
        )
    r = client.post(
        f"/api/v1/price-books/{book['id']}/imports?format=cgrates",
        files=_parts("standard"),
        data={"plan": "RP_RETAIL"},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 422  # effective_from is required


def test_console_imports_a_plan_and_shows_errors(client: TestClient, world: World):
    book = create_book(client, world)
    admin = world.headers("partner_admin")
    base = f"/price-books/{book['id']}"
    page = client.get(base, headers=admin)
    assert "Import a CGRateS tariff plan" in page.text
    assert 'name="files"' in page.text
    refused = client.post(
        f"{base}/imports?format=cgrates",
        files=_parts("standard"),
        data={"effective_from": "2026-01-01T00:00:00Z", "subject": "*any", "category": "sms"},
        headers=admin,
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "Rates.csv line 25, RateUnit: &#39;1&#39; is 1 ns" in refused.text
    done = client.post(
        f"{base}/imports?format=cgrates",
        files=_parts("standard"),
        data={"effective_from": "2026-01-01T00:00:00Z", "plan": "RP_RETAIL", "subject": ""},
        headers=admin,
        follow_redirects=False,
    )
    # The plan has a non-numeric prefix the importer skips: the version page
    # is shown at once with what was left out (no redirect to lose it).
    assert done.status_code == 201, done.text
    assert "7 entries" in done.text
    assert "data-import-notes" in done.text


def test_console_shows_what_the_import_left_out(client: TestClient, world: World):
    # The capped plan's *disconnect MaxCost is not a cap for a completed call:
    # the importer says so, and the console shows it instead of redirecting.
    book = create_book(client, world)
    admin = world.headers("partner_admin")
    r = client.post(
        f"/price-books/{book['id']}/imports?format=cgrates",
        files=_parts("capped"),
        data={"effective_from": "2026-01-01T00:00:00Z", "plan": "RP_GOLD"},
        headers=admin,
        follow_redirects=False,
    )
    assert r.status_code == 201, r.text
    assert "Version imported from CGRateS plan RP_GOLD." in r.text
    assert "data-import-notes" in r.text
    assert "*disconnect" in r.text


def test_entries_with_terms_one_per_prefix_band_and_timing(
    client: TestClient, world: World, database: Database
):
    book = create_book(client, world)
    h = world.headers("partner_admin")
    r = client.post(
        f"/api/v1/price-books/{book['id']}/versions",
        json={"effective_from": "2026-01-01T00:00:00Z"},
        headers=h,
    )
    base = f"/api/v1/price-books/{book['id']}/versions/{r.json()['id']}/tariffs"
    peak = {
        "prefix": "44",
        "destination_group": "UK",
        "rate_per_minute": "1.8",
        "rate_groups": "60:1.8:1",
        "increment_decimals": 5,
        "call_decimals": 4,
        "call_rounding": "ROUND_CEILING",
        "max_cost": "9.5",
        "timing": "PEAK=*any|*any|*any|1;2;3;4;5|08:00:00",
        "weight": 10,
    }
    r = client.post(base, json=peak, headers=h)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in peak} == peak
    # Another timing of the same prefix is another entry; *any is every number.
    r = client.post(base, json={**peak, "timing": ""}, headers=h)
    assert r.status_code == 201, r.text
    r = client.post(base, json={**peak, "prefix": "*any", "timing": ""}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["prefix"] == "*any"
    # The same condition under another name clashes.
    r = client.post(
        base, json={**peak, "timing": "DAY=*any|*any|*any|1;2;3;4;5|08:00:00"}, headers=h
    )
    assert r.status_code == 409, r.text
    r = client.post(base, json={**peak, "rate_groups": "60:1.8"}, headers=h)
    assert r.status_code == 422
    assert "field rate_groups" in r.json()["detail"]
    # The database says so too: NULL band and timing are one value in the key.

    with database.session() as s:
        vid = s.scalar(text("SELECT version_id FROM tariff_entries WHERE prefix = ''"))
    with pytest.raises(IntegrityError), database.session() as s:
        s.execute(
            text(
                "INSERT INTO tariff_entries (version_id, prefix, destination_group, "
                "rate_per_minute, connect_fee, min_seconds, initial_increment, "
                "subsequent_increment, charge_unanswered, weight) "
                "VALUES (:v, '', 'x', 1, 0, 0, 1, 1, false, 0)"
            ),
            {"v": vid},
        )
