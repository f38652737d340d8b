"""Shared bits of the price-book tests: CSV texts and API calls."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.world import World

DECK_HEADER = (
    "version,effective_from,prefix,destination_group,rate_per_minute,connect_fee,"
    "min_seconds,initial_increment,subsequent_increment,band,charge_unanswered,currency\n"
)
DECK_V1 = (
    DECK_HEADER
    + """1,2026-01-01T00:00:00Z,33,France,0.02,0,0,1,1,,false,EUR
1,2026-01-01T00:00:00Z,336,France Mobile,0.10,0,0,30,6,,false,EUR
1,2026-01-01T00:00:00Z,336,France Mobile,0.30,0,0,30,6,peak,false,EUR
"""
)

PRICES_V1 = """version,effective_from,sku,region,unit,unit_price,tier_mode,tiers,currency
1,2026-01-01T00:00:00Z,vm.small,,h,0.05,none,,EUR
1,2026-01-01T00:00:00Z,vm.small,eu-west,h,0.055,none,,EUR
1,2026-01-01T00:00:00Z,storage.gb,,GB,0,graduated,0:0.10;1000:0.08,EUR
"""


def create_book(
    client: TestClient,
    world: World,
    *,
    kind: str = "voip",
    who: str = "partner_admin",
    owner: str = "partner_a1",
    name: str | None = None,
) -> dict[str, Any]:
    r = client.post(
        "/api/v1/price-books",
        json={
            "name": name or f"{kind} book",
            "kind": kind,
            "currency": "EUR",
            "owner_node_id": world.nodes[owner].id,
        },
        headers=world.headers(who),
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def upload(
    client: TestClient,
    world: World,
    book_id: int,
    text: str,
    *,
    name: str = "tariffs.csv",
    who: str = "partner_admin",
    **form: str,
) -> Any:
    return client.post(
        f"/api/v1/price-books/{book_id}/imports",
        files={"file": (name, text.encode(), "text/csv")},
        data=form,
        headers=world.headers(who),
    )


def semantic(text: str, kind: str, tmp: Any) -> Any:
    """What a CSV says, ids and spelling aside (0.10 == 0.1)."""
    from rerate.rating import formats

    path = tmp / f"semantic-{kind}.csv"
    path.write_text(text)
    parsed = formats.read_tariffs(path) if kind == "voip" else formats.read_prices(path)
    return (
        parsed.currency,
        [
            (v.effective_from, sorted((_no_id(e) for _, e in v.entries), key=_key))
            for v in parsed.versions
        ],
    )


def _key(entry: Any) -> tuple[str, str]:
    if hasattr(entry, "prefix"):
        return entry.prefix, entry.band or ""
    return entry.sku, entry.region or ""


def _no_id(entry: Any) -> Any:
    import dataclasses

    return dataclasses.replace(entry, id=0)
