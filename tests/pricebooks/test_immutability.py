"""A published version cannot change, even by raw SQL: the triggers refuse it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from rerate.billing.plan_builder import _price_book
from rerate.kit.db import Database
from rerate.models import PriceBook, PriceBookVersion, PriceEntry, PriceTier, TariffEntry
from rerate.pricebooks.service import mark_published
from tests.world import World

START = datetime(2026, 1, 1, tzinfo=UTC)


def _deck(database: Database, world: World) -> dict[str, int]:
    with database.session() as s:
        owner = world.nodes["partner_a1"].id
        deck = PriceBook(name="Deck", kind="voip", currency="EUR", owner_node_id=owner)
        cloud = PriceBook(name="Cloud", kind="cloud", currency="EUR", owner_node_id=owner)
        s.add_all([deck, cloud])
        s.flush()
        v = PriceBookVersion(price_book_id=deck.id, version=1, effective_from=START)
        c = PriceBookVersion(price_book_id=cloud.id, version=1, effective_from=START)
        s.add_all([v, c])
        s.flush()
        t = TariffEntry(
            version_id=v.id, prefix="33", destination_group="France", rate_per_minute=Decimal(1)
        )
        e = PriceEntry(
            version_id=c.id, sku="vm", unit_price=Decimal(0), tier_mode="graduated", service=""
        )
        e2 = PriceEntry(version_id=c.id, sku="disk", unit_price=Decimal(1), service="")
        s.add_all([t, e, e2])
        s.flush()
        tier = PriceTier(entry_id=e.id, from_quantity=Decimal(0), unit_price=Decimal("0.1"))
        s.add(tier)
        s.flush()
        mark_published(s, v, by=None)
        mark_published(s, c, by=None)
        return {
            "v": v.id,
            "c": c.id,
            "t": t.id,
            "e": e.id,
            "tier": tier.id,
            "deck": deck.id,
            "e2": e2.id,
        }


STATEMENTS = [
    "UPDATE tariff_entries SET rate_per_minute = 2 WHERE id = :t",
    "DELETE FROM tariff_entries WHERE id = :t",
    "INSERT INTO tariff_entries (version_id, prefix, destination_group, band, rate_per_minute, "
    "connect_fee, min_seconds, initial_increment, subsequent_increment, charge_unanswered) "
    "VALUES (:v, '44', 'UK', NULL, 1, 0, 0, 1, 1, false)",
    "UPDATE price_entries SET unit_price = 3 WHERE id = :e",
    "DELETE FROM price_entries WHERE id = :e2",
    "INSERT INTO price_entries (version_id, sku, service, region, unit, unit_price, tier_mode) "
    "VALUES (:c, 'net', '', NULL, '', 1, 'none')",
    "UPDATE price_tiers SET unit_price = 9 WHERE id = :tier",
    "DELETE FROM price_tiers WHERE id = :tier",
    "INSERT INTO price_tiers (entry_id, from_quantity, unit_price) VALUES (:e, 100, 1)",
    "UPDATE price_book_versions SET note = 'changed' WHERE id = :v",
    "UPDATE price_book_versions SET status = 'draft', published_at = NULL WHERE id = :v",
    "DELETE FROM price_book_versions WHERE id = :v",
]


@pytest.mark.parametrize("sql", STATEMENTS, ids=[s.split(" WHERE")[0][:40] for s in STATEMENTS])
def test_raw_sql_cannot_change_a_published_version(database: Database, world: World, sql: str):
    ids = _deck(database, world)
    with database.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="published price-book version"):
            conn.execute(text(sql), ids)
        conn.rollback()


def test_a_draft_prices_nothing(database: Database, world: World):
    ids = _deck(database, world)
    with database.session() as s:
        draft = PriceBookVersion(
            price_book_id=ids["deck"], version=2, effective_from=datetime(2026, 6, 1, tzinfo=UTC)
        )
        s.add(draft)
        s.flush()
        s.add(
            TariffEntry(version_id=draft.id, prefix="44", destination_group="UK", rate_per_minute=1)
        )
        s.flush()
        # Editing a draft by raw SQL is fine: only published versions are frozen.
        s.execute(text("UPDATE tariff_entries SET rate_per_minute = 3 WHERE prefix = '44'"))
        book = _price_book(s, ids["deck"])
        assert [v.id for v in book.versions] == [ids["v"]]
        mark_published(s, draft, by=None)
        book = _price_book(s, ids["deck"])
        assert [v.id for v in book.versions] == [ids["v"], draft.id]
        assert book.versions[1].tariffs[0].rate_per_minute == 3
