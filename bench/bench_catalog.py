"""Price books: a 200,000-prefix tariff deck imported from CSV and published,
then loaded by the plan builder, on SQLite and PostgreSQL.

The import is the one the API, the CLI and the console run
(pricebooks.csv_io.import_version: parse, check, bulk write, publish, in one
transaction). The baseline, measured in the same run on the same database, is
what the code did before (and what a script against the models would do):
one ORM object per entry, `session.add_all`, flush; it is measured on a tenth
of the deck and reported as rows per second, next to ours.

    python bench/bench_catalog.py          # prints one JSON object on its last line
    RERATE_BENCH_SCALE=0.1 python bench/bench_catalog.py

PostgreSQL: admin URL from RERATE_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres); unreachable, it is skipped
with the reason in the summary.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rerate.auth.permissions import Principal
from rerate.auth.service import assign_role, create_user, principal_for
from rerate.billing.plan_builder import _price_book
from rerate.kit import migrate
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.db import Database
from rerate.models import PriceBookVersion, TariffEntry
from rerate.models.enums import NodeKind, PriceBookKind, Role
from rerate.pricebooks import csv_io, service
from rerate.rating import formats
from rerate.tenancy.service import create_node

SCALE = float(os.environ.get("RERATE_BENCH_SCALE", "1.0"))
PREFIXES = max(1000, int(200_000 * SCALE))
BASELINE_ROWS = max(500, PREFIXES // 10)
PG_ADMIN_URL = os.environ.get(
    "RERATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HEADER = (
    "version,effective_from,prefix,destination_group,rate_per_minute,connect_fee,"
    "min_seconds,initial_increment,subsequent_increment,band,charge_unanswered,currency\n"
)


def write_deck(path: Path, n: int) -> None:
    """n distinct prefixes (3 to 9 digits), a tenth of them banded 'peak'."""
    with path.open("w") as fh:
        fh.write(HEADER)
        for i in range(n):
            prefix = str(100 + i) if i < 900 else str(1000 + i * 7)
            rate = f"0.{(i * 37) % 9000 + 1000:04d}"
            fh.write(
                f"1,2026-10-15T00:00:00Z,{prefix},Group {i % 500},{rate},0,0,60,60,,false,EUR\n"
            )


def _setup(db: Database) -> tuple[Principal, int]:
    with db.session() as s:
        platform = create_node(s, NodeKind.PLATFORM, name="Platform", parent=None)
        partner = create_node(s, NodeKind.PARTNER, name="Carrier reseller", parent=platform)
        user = create_user(s, "catalog@bench.example", name="Catalog", password=None)
        assign_role(s, user, role=Role.PARTNER_ADMIN, node=partner)
        principal = principal_for(s, user, via="cli")
        set_session_actor(s, Actor(user.id, user.email))
        book = service.create_book(
            s,
            principal,
            name="Wholesale deck",
            kind=PriceBookKind.VOIP,
            currency="EUR",
            owner_node_id=partner.id,
        )
        return principal, book.id


def measure(url: str, deck: Path) -> dict[str, Any]:
    db = Database(url)
    try:
        principal, book_id = _setup(db)
        t0 = time.perf_counter()
        with db.write_session() as s:
            set_session_actor(s, Actor(principal.user_id, principal.email))
            csv_io.import_version(
                s, principal, book_id, deck, name=deck.name, publish=True, reason="bench"
            )
        import_publish = time.perf_counter() - t0
        t1 = time.perf_counter()
        with db.session() as s:
            loaded = _price_book(s, book_id)
        plan_load = time.perf_counter() - t1
        assert len(loaded.versions[0].tariffs) == PREFIXES
        # Baseline: one ORM object per entry, into a draft of the same book.
        with db.session() as s:
            draft = PriceBookVersion(
                price_book_id=book_id,
                version=2,
                effective_from=datetime(2026, 11, 1, tzinfo=UTC),
                note="baseline",
            )
            s.add(draft)
            s.flush()
            t2 = time.perf_counter()
            s.add_all(
                TariffEntry(
                    version_id=draft.id,
                    prefix=str(10_000_000 + i),
                    destination_group=f"Group {i % 500}",
                    band=None,
                    rate_per_minute=Decimal("0.0123"),
                    connect_fee=Decimal(0),
                    min_seconds=0,
                    initial_increment=60,
                    subsequent_increment=60,
                    charge_unanswered=False,
                )
                for i in range(BASELINE_ROWS)
            )
            s.flush()
            baseline = time.perf_counter() - t2
            s.rollback()
        return {
            "prefixes": PREFIXES,
            "seconds_import_and_publish": round(import_publish, 2),
            "rows_per_s": round(PREFIXES / import_publish),
            "seconds_plan_load": round(plan_load, 2),
            "baseline_orm_rows": BASELINE_ROWS,
            "baseline_orm_rows_per_s": round(BASELINE_ROWS / baseline),
            "speedup_vs_baseline": round(
                (PREFIXES / import_publish) / (BASELINE_ROWS / baseline), 1
            ),
        }
    finally:
        db.dispose()


def parse_figures(deck: Path) -> dict[str, Any]:
    """The tariffs CSV read both ways, same run: line by line (the reader
    before the columnar one, still the fallback that names a bad line) and
    columnar (what read_tariffs does for a plain file)."""
    t0 = time.perf_counter()
    by_lines = formats._read(
        deck,
        deck.name,
        formats._TARIFF_REQUIRED,
        formats._tariff_entry,
        lambda t: (t.prefix, t.band),
        "prefix/band",
    )
    t1 = time.perf_counter()
    columnar = formats._tariffs_columnar(deck, deck.name)
    t2 = time.perf_counter()
    assert columnar == by_lines
    return {
        "seconds_parse_by_lines": round(t1 - t0, 2),
        "seconds_parse_columnar": round(t2 - t1, 2),
    }


def _sqlite(deck: Path, folder: Path) -> dict[str, Any]:
    url = f"sqlite:///{folder / 'catalog.db'}"
    migrate.upgrade(url)
    return measure(url, deck)


def _postgres(deck: Path) -> dict[str, Any]:
    try:
        import psycopg

        name = f"rerate_bench_catalog_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # unreachable or not allowed: say why, measure the rest
        return {"skipped": f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"}
    base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.upgrade(url)
        return measure(url, deck)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="rerate-bench-catalog-") as tmp:
        folder = Path(tmp)
        deck = folder / "tariffs.csv"
        write_deck(deck, PREFIXES)
        result = {
            "parse": parse_figures(deck),
            "sqlite": _sqlite(deck, folder),
            "postgres": _postgres(deck),
        }
        sys.stderr.write(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
