"""Formula injection through the price-book export (issue 14, section 7).

A destination group or a SKU is text whoever uploads a price book controls;
the exported CSV must hand it to a spreadsheet as text, while rates and
prices stay numbers.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from fastapi.testclient import TestClient

from tests.pricebooks.helpers import DECK_HEADER, create_book, upload
from tests.world import World

EVIL = ['=HYPERLINK("http://evil.example","x")', "@SUM(A1:A9)", "-1+1", "+cmd|' /C calc'!A0"]


def _export(client: TestClient, world: World, book_id: int, version_id: int) -> list[list[str]]:
    r = client.get(
        f"/api/v1/price-books/{book_id}/versions/{version_id}/csv",
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 200, r.text
    return list(csv.reader(io.StringIO(r.text)))


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def test_a_tariff_export_shows_destination_groups_as_text(client: TestClient, world: World):
    book = create_book(client, world, kind="voip")
    deck = DECK_HEADER + "".join(
        f"1,2026-01-01T00:00:00Z,3{i},{_quoted(group)},0.02,0,0,1,1,,false,EUR\n"
        for i, group in enumerate(EVIL)
    )
    r = upload(client, world, book["id"], deck, publish="true")
    assert r.status_code == 201, r.text
    rows = _export(client, world, book["id"], r.json()["id"])
    header = rows[0]
    groups = {row[header.index("destination_group")] for row in rows[1:]}
    assert groups == {"'" + g for g in EVIL}
    rates = {row[header.index("rate_per_minute")] for row in rows[1:]}
    assert {Decimal(rate) for rate in rates} == {Decimal("0.02")}  # a number, not escaped


def test_a_price_export_shows_skus_as_text(client: TestClient, world: World):
    book = create_book(client, world, kind="cloud")
    prices = (
        "version,effective_from,sku,region,unit,unit_price,tier_mode,tiers,currency\n"
        + "".join(f"1,2026-01-01T00:00:00Z,{_quoted(sku)},,h,0.05,none,,EUR\n" for sku in EVIL)
    )
    r = upload(client, world, book["id"], prices, name="prices.csv", publish="true")
    assert r.status_code == 201, r.text
    rows = _export(client, world, book["id"], r.json()["id"])
    header = rows[0]
    assert {row[header.index("sku")] for row in rows[1:]} == {"'" + s for s in EVIL}
    for row in rows[1:]:
        Decimal(row[header.index("unit_price")])  # plain numbers stay numbers
