"""Entries added in bulk to a draft (pricebooks.batch): the demo loader's path
for its decks, with the checks and the audit entry of a CSV import."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from rerate.auth import service as auth
from rerate.auth.permissions import Principal
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.db import Database
from rerate.kit.errors import Conflict, Forbidden, Invalid, NotFound
from rerate.models import AuditEntry, PriceEntry
from rerate.models.enums import PriceBookKind, Role
from rerate.pricebooks import batch, entries, service
from rerate.rating import plan as p
from tests.world import World, build_world

START = datetime(2026, 1, 1, tzinfo=UTC)

TARIFFS = [
    p.TariffEntry(1, "33", "France", Decimal("0.012")),
    p.TariffEntry(2, "336", "France Mobile", Decimal("0.1"), Decimal("0.01"), 10, 30, 6),
    p.TariffEntry(3, "336", "France Mobile", Decimal("0.15"), band="peak"),
]
PRICES = [
    p.PriceEntry(1, "vm.small", Decimal("0.05"), unit="h"),
    p.PriceEntry(2, "vm.small", Decimal("0.055"), region="eu-west", unit="h"),
    p.PriceEntry(
        3,
        "egress",
        Decimal("0.09"),
        unit="GB",
        tier_mode=p.TierMode.GRADUATED,
        tiers=(p.Tier(Decimal(0), Decimal("0.09")), p.Tier(Decimal(1000), Decimal("0.07"))),
    ),
]


@pytest.fixture
def setup(database: Database) -> tuple[Database, World]:
    with database.session() as session:
        return database, build_world(session)


def _pg(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"


def _as(session: Session, world: World, who: str) -> Principal:
    return auth.principal_for(session, world.users[who], via="session")


def _draft(
    session: Session, principal: Principal, world: World, kind: PriceBookKind
) -> tuple[int, int]:
    book = service.create_book(
        session,
        principal,
        name=f"{kind.value} deck",
        kind=kind,
        currency="EUR",
        owner_node_id=world.nodes["partner_a1"].id,
    )
    version = service.create_draft(session, principal, book.id, effective_from=START)
    return book.id, version.id


def _ids_aside(items: list[p.TariffEntry] | list[p.PriceEntry]) -> list[object]:
    return [dataclasses.replace(e, id=0) for e in items]


def test_a_deck_added_in_bulk_reads_back_as_given_and_publishes(
    setup: tuple[Database, World],
) -> None:
    db, world = setup
    with db.session() as session:
        set_session_actor(session, Actor(None, "demo"), "bulk test")
        principal = _as(session, world, "partner_admin")
        book_id, version_id = _draft(session, principal, world, PriceBookKind.VOIP)
        batch.add_tariffs(session, principal, book_id, version_id, TARIFFS, source="test")
        service.publish(session, principal, book_id, version_id, reason="signed")
    with db.session() as session:
        stored = entries.tariffs_of(session, [version_id])[version_id]
        assert _ids_aside(stored) == _ids_aside(TARIFFS)
        logged = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "add_entries", AuditEntry.object_id == str(version_id)
            )
        ).one()
        assert logged.actor == "demo"
        assert logged.reason == "bulk test"
        assert json.loads(logged.changes)["entries"] == 3
        # Stored as an ORM insert stores it: padded to the column's scale (as
        # text on SQLite), so bulk and entry-by-entry rows never differ.
        raw = session.execute(
            text("SELECT rate_per_minute, connect_fee FROM tariff_entries WHERE prefix = '33'")
        ).one()
        assert [str(v) for v in raw] == ["0.0120000000", "0E-10" if _pg(db) else "0.0000000000"]


def test_prices_keep_their_tiers_and_the_service_names(setup: tuple[Database, World]) -> None:
    db, world = setup
    with db.session() as session:
        principal = _as(session, world, "partner_admin")
        book_id, version_id = _draft(session, principal, world, PriceBookKind.CLOUD)
        batch.add_prices(
            session, principal, book_id, version_id, PRICES, services={"vm.small": "Compute"}
        )
    with db.session() as session:
        stored = entries.prices_of(session, [version_id])[version_id]
        assert _ids_aside(stored) == _ids_aside(PRICES)
        services = dict(
            session.execute(
                select(PriceEntry.region, PriceEntry.service).where(
                    PriceEntry.version_id == version_id, PriceEntry.sku == "vm.small"
                )
            ).all()
        )
        assert services == {None: "Compute", "eu-west": "Compute"}
        egress = session.scalars(select(PriceEntry).where(PriceEntry.sku == "egress")).one()
        assert egress.service == ""


def test_repeats_are_refused_and_nothing_is_written(setup: tuple[Database, World]) -> None:
    db, world = setup
    with db.session() as session:
        principal = _as(session, world, "partner_admin")
        book_id, version_id = _draft(session, principal, world, PriceBookKind.VOIP)
        twice = [*TARIFFS, dataclasses.replace(TARIFFS[2], id=4, rate_per_minute=Decimal(1))]
        with pytest.raises(Conflict, match="prefix: 336 band peak \\(entry 4\\)"):
            batch.add_tariffs(session, principal, book_id, version_id, twice)
        assert entries.tariffs_of(session, [version_id]).get(version_id, []) == []
        batch.add_tariffs(session, principal, book_id, version_id, TARIFFS[:1])
        with pytest.raises(Conflict, match="prefix: 33 \\(entry 1\\) is already"):
            batch.add_tariffs(session, principal, book_id, version_id, TARIFFS)
        assert len(entries.tariffs_of(session, [version_id])[version_id]) == 1
        cloud_id, cloud_version = _draft(session, principal, world, PriceBookKind.CLOUD)
        with pytest.raises(Conflict, match=r"sku: vm\.small in eu-west"):
            batch.add_prices(session, principal, cloud_id, cloud_version, [*PRICES, PRICES[1]])


def test_only_drafts_of_the_right_kind_within_the_callers_subtree(
    setup: tuple[Database, World],
) -> None:
    db, world = setup
    with db.session() as session:
        admin = _as(session, world, "partner_admin")
        book_id, version_id = _draft(session, admin, world, PriceBookKind.VOIP)
        with pytest.raises(Invalid, match="holds no SKU prices"):
            batch.add_prices(session, admin, book_id, version_id, PRICES)
        with pytest.raises(Forbidden):
            batch.add_tariffs(
                session, _as(session, world, "partner_user"), book_id, version_id, TARIFFS
            )
        other_partner = auth.create_user(session, "b1@test.example", name="b1", password=None)
        auth.assign_role(
            session, other_partner, role=Role.PARTNER_ADMIN, node=world.nodes["partner_b1"]
        )
        with pytest.raises(NotFound):
            batch.add_tariffs(
                session, _as(session, world, "platform_admin"), book_id, version_id + 99, TARIFFS
            )
        outsider = auth.principal_for(session, other_partner, via="session")
        with pytest.raises(NotFound):
            batch.add_tariffs(session, outsider, book_id, version_id, TARIFFS)
        batch.add_tariffs(session, admin, book_id, version_id, TARIFFS)
        service.publish(session, admin, book_id, version_id, reason="signed")
        with pytest.raises(Conflict, match="is published and never changes"):
            batch.add_tariffs(
                session, admin, book_id, version_id, [p.TariffEntry(1, "44", "UK", Decimal(1))]
            )
