"""The Timetables pages as a reseller admin uses them: create a timetable,
change it from an instant with each form (every change a new version, the
page listing them all with who and why), refusals said in plain words on the
page with nothing stored, and the owner's subtree only."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.kit.db import Database
from rerate.models import TimetableVersion
from tests.world import World

ADMIN = "partner_admin"


def _versions(database: Database) -> int:
    with database.session() as s:
        return int(s.scalar(select(func.count()).select_from(TimetableVersion)) or 0)


def _create(client: TestClient, world: World, **extra: str) -> int:
    form = {
        "name": "Office hours",
        "tz": "Europe/Paris",
        "default_band": "offpeak",
        "owner_node_id": str(world.nodes["partner_a1"].id),
        "effective_from": "2026-01-01T00:00",
        "reason": "new timetable",
        **extra,
    }
    made = client.post(
        "/timetables", data=form, headers=world.headers(ADMIN), follow_redirects=False
    )
    assert made.status_code == 303, made.text
    match = re.fullmatch(r"/timetables/(\d+)", made.headers["location"])
    assert match
    return int(match.group(1))


def test_a_timetable_is_created_and_changed_version_by_version(
    client: TestClient, database: Database, world: World
) -> None:
    admin = world.headers(ADMIN)
    listed = client.get("/timetables", headers=admin)
    assert listed.status_code == 200
    assert "No timetables" in listed.text
    # The owner select offers the nodes the admin manages, nothing outside.
    assert f'value="{world.nodes["cust_a1x"].id}"' in listed.text
    assert f'value="{world.nodes["partner_b1"].id}"' not in listed.text

    tt = _create(client, world)
    page = client.get(f"/timetables/{tt}", headers=admin).text
    assert "Version 1 · from 2026-01-01 00:00 UTC" in page
    assert "by partner_admin@test.example" in page
    assert "new timetable" in page

    def post(path: str, **form: object) -> int:
        r = client.post(
            f"/timetables/{tt}/{path}", data=form, headers=admin, follow_redirects=False
        )
        assert r.status_code == 303, r.text
        return r.status_code

    post(
        "rules",
        band="peak",
        weekday=["0", "1", "2", "3", "4"],
        start="08:00",
        end="20:00",
        priority="5",
        effective_from="2026-03-01T00:00",
        reason="office opens",
    )
    post(
        "holidays",
        day="2026-12-25",
        band="weekend",
        name="Christmas",
        effective_from="2026-06-01T00:00:00+02:00",
        reason="holidays",
    )
    post("default-band", default_band="night", effective_from="2026-07-01T00:00", reason="x")
    post("rules/remove", position="1", effective_from="2026-08-01T00:00", reason="closed")
    post("holidays/remove", day="2026-12-25", effective_from="2026-09-01T00:00", reason="y")
    page = client.get(f"/timetables/{tt}", headers=admin).text
    for n in range(1, 7):
        assert f"Version {n} · from" in page
    assert "Mon Tue Wed Thu Fri" in page
    assert "2026-12-25" in page
    assert "Christmas" in page
    # The holiday's instant was given with an offset: shown in UTC.
    assert "Version 3 · from 2026-05-31 22:00 UTC" in page
    assert "office opens" in page
    # Newest first: version 6 is listed before version 1.
    assert page.index("Version 6 ·") < page.index("Version 1 ·")
    api = client.get(f"/api/v1/timetables/{tt}", headers=admin).json()
    assert [(v["default_band"], len(v["rules"]), len(v["holidays"])) for v in api["versions"]] == [
        ("offpeak", 0, 0),
        ("offpeak", 1, 0),
        ("offpeak", 1, 1),
        ("night", 1, 1),
        ("night", 0, 1),
        ("night", 0, 0),
    ]

    listed = client.get("/timetables?q=office", headers=admin).text
    assert f'href="/timetables/{tt}"' in listed
    assert f'href="/timetables/{tt}"' not in client.get("/timetables?q=zzz", headers=admin).text


def test_refusals_render_the_page_in_plain_words_and_store_nothing(
    client: TestClient, database: Database, world: World
) -> None:
    admin = world.headers(ADMIN)
    tt = _create(client, world)
    before = _versions(database)

    clash = client.post(
        f"/timetables/{tt}/default-band",
        data={"default_band": "peak", "effective_from": "2026-01-01T00:00", "reason": "x"},
        headers=admin,
    )
    assert clash.status_code == 409
    assert "Effective from: version 1 of Office hours already takes effect" in clash.text
    assert 'role="alert"' in clash.text
    assert 'value="peak"' in clash.text  # the refused form keeps what was typed

    bad = client.post(
        f"/timetables/{tt}/rules",
        data={
            "band": "peak hours",
            "weekday": ["0"],
            "start": "08:00",
            "end": "20:00",
            "effective_from": "2026-02-01T00:00",
            "reason": "x",
        },
        headers=admin,
    )
    assert bad.status_code == 422
    assert "Rule 1 (band): 1 to 32 letters" in bad.text
    no_day = client.post(
        f"/timetables/{tt}/rules",
        data={"band": "peak", "start": "08:00", "end": "20:00", "reason": "x",
              "effective_from": "2026-02-01T00:00"},
        headers=admin,
    )  # fmt: skip
    assert no_day.status_code == 422
    assert "Weekdays: tick at least one day" in no_day.text
    no_reason = client.post(
        f"/timetables/{tt}/holidays/remove",
        data={"day": "2026-12-25", "effective_from": "2026-02-01T00:00"},
        headers=admin,
    )
    assert no_reason.status_code == 422
    assert "Reason: say why" in no_reason.text
    not_holiday = client.post(
        f"/timetables/{tt}/holidays/remove",
        data={"day": "2026-12-25", "effective_from": "2026-02-01T00:00", "reason": "x"},
        headers=admin,
    )
    assert not_holiday.status_code == 422
    assert "Day: 2026-12-25 is not a holiday of that version" in not_holiday.text
    bad_instant = client.post(
        f"/timetables/{tt}/default-band",
        data={"default_band": "peak", "effective_from": "next week", "reason": "x"},
        headers=admin,
    )
    assert bad_instant.status_code == 422
    assert "Effective from: an instant such as" in bad_instant.text

    bad_tz = client.post(
        "/timetables",
        data={
            "name": "Mars",
            "tz": "Mars/Olympus",
            "default_band": "offpeak",
            "owner_node_id": str(world.nodes["partner_a1"].id),
            "effective_from": "2026-01-01T00:00",
        },
        headers=admin,
    )
    assert bad_tz.status_code == 422
    assert "Time zone: &#39;Mars/Olympus&#39; is not an IANA time zone" in bad_tz.text
    assert 'value="Mars"' in bad_tz.text
    assert _versions(database) == before


def test_scope_and_permissions(client: TestClient, database: Database, world: World) -> None:
    tt = _create(client, world)
    # A partner user reads it but gets no form, and a change is refused.
    viewer = client.get(f"/timetables/{tt}", headers=world.headers("partner_user"))
    assert viewer.status_code == 200
    assert 'action="/timetables/' not in viewer.text
    refused = client.post(
        f"/timetables/{tt}/default-band",
        data={"default_band": "peak", "effective_from": "2026-02-01T00:00", "reason": "x"},
        headers=world.headers("partner_user"),
    )
    assert refused.status_code == 403
    # Another tenant's timetable is not found, and not listed.
    other = _create(client, world, owner_node_id=str(world.nodes["partner_a1"].id), name="Mine")
    with database.session() as s:
        from rerate.models import Timetable

        s.get(Timetable, other).owner_node_id = world.nodes["partner_b1"].id  # type: ignore[union-attr]
        s.commit()
    assert client.get(f"/timetables/{other}", headers=world.headers(ADMIN)).status_code == 404
    assert "Mine" not in client.get("/timetables", headers=world.headers(ADMIN)).text
    outside = client.post(
        "/timetables",
        data={
            "name": "Theirs",
            "tz": "UTC",
            "default_band": "offpeak",
            "owner_node_id": str(world.nodes["partner_b1"].id),
            "effective_from": "2026-01-01T00:00",
        },
        headers=world.headers(ADMIN),
    )
    assert outside.status_code == 404
