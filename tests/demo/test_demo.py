"""The demo dataset: deterministic, complete enough to demo every feature, and sane.

Loaded once per dialect at a small scale for a fixed `today`; a second load
into a fresh database checks determinism.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import typer
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from rerate.auth import service as auth
from rerate.auth.login import log_in
from rerate.auth.throttle import ThrottlePolicy
from rerate.cli import context
from rerate.cli.demo import demo
from rerate.demo import DEMO_PASSWORD, DemoSummary, load_demo
from rerate.demo.catalog import UNMATCHED_PREFIXES
from rerate.kit.db import Database
from rerate.kit.errors import Conflict
from rerate.kit.settings import Settings
from rerate.models import (
    Account,
    AccountOwnership,
    Base,
    Contract,
    ContractRule,
    Node,
    PriceBook,
    PriceBookVersion,
    TariffEntry,
    UsageImport,
)
from rerate.models.enums import NodeKind
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore

TODAY = date(2026, 11, 21)
MIDNIGHT = datetime(2026, 11, 21, tzinfo=UTC)
WINDOW_START = datetime(2026, 8, 1, tzinfo=UTC)
V2_FROM = datetime(2026, 9, 1, tzinfo=UTC)  # the middle closed month
MOVE_AT = datetime(2026, 9, 15, 12, tzinfo=UTC)
SCALE = 0.01

# Columns that legitimately differ between two loads (clock, salted hashes).
_VOLATILE = {"created_at", "published_at", "at", "password_hash", "last_login_at", "changes"}


@dataclass
class Snapshot:
    counts: dict[str, int]
    rows: dict[str, list[tuple[Any, ...]]]
    usage: pa.Table


@dataclass
class Loaded:
    db: Database
    data_dir: Path
    summary: DemoSummary
    first: Snapshot
    second: Snapshot

    def usage(self) -> pa.Table:
        with self.db.session() as session:
            visible = visible_import_ids(session)
        return UsageStore(self.data_dir).scan(visible)


def _snapshot(db: Database, data_dir: Path) -> Snapshot:
    counts: dict[str, int] = {}
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if table.name == "audit_log":
                continue
            cols = [c for c in table.columns if c.name not in _VOLATILE]
            order = list(table.primary_key.columns)
            rows[table.name] = [tuple(r) for r in conn.execute(select(*cols).order_by(*order))]
    with db.session() as session:
        visible = visible_import_ids(session)
    return Snapshot(counts, rows, UsageStore(data_dir).scan(visible))


def _truncate(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
def loaded(
    module_database: Database,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Loaded:
    first_dir = tmp_path_factory.mktemp("demo-first")
    summary = load_demo(module_database, first_dir, scale=SCALE, today=TODAY)
    first = _snapshot(module_database, first_dir)
    second_dir = tmp_path_factory.mktemp("demo-second")
    if module_database.engine.dialect.name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = second_dir / "second.db"
        shutil.copy(template, path)
        other = Database(f"sqlite:///{path}")
        try:
            load_demo(other, second_dir, scale=SCALE, today=TODAY)
            second = _snapshot(other, second_dir)
        finally:
            other.dispose()
        return Loaded(module_database, first_dir, summary, first, second)
    # One PostgreSQL database per test session: empty it and load again.
    _truncate(module_database)
    load_demo(module_database, second_dir, scale=SCALE, today=TODAY)
    second = _snapshot(module_database, second_dir)
    return Loaded(module_database, second_dir, summary, first, second)


def test_two_loads_into_fresh_databases_are_identical(loaded: Loaded) -> None:
    assert loaded.first.counts == loaded.second.counts
    for table, rows in loaded.first.rows.items():
        assert rows == loaded.second.rows[table], table
    assert loaded.first.usage.num_rows > 0
    assert loaded.first.usage.equals(loaded.second.usage)


def test_summary_and_minimum_counts(loaded: Loaded) -> None:
    s = loaded.summary
    assert s.closed_months == ("2026-08", "2026-09", "2026-10")
    assert s.current_month == "2026-11"
    assert s.customers >= 12
    assert s.accounts >= 40
    assert s.users == 7
    assert s.prefixes >= 5_000
    assert s.total_rows >= 1_000_000 * SCALE
    assert s.usage_rows > 0
    assert s.cdrs > 0
    counts = loaded.first.counts
    assert counts["accounts"] == s.accounts
    assert counts["nodes"] == s.nodes
    assert counts["usage_imports"] == s.imports == 8  # (cloud, CDR) x 4 months
    with loaded.db.session() as session:
        customers = session.scalar(
            select(func.count(Node.id)).where(Node.kind == NodeKind.CUSTOMER.value)
        )
        assert customers is not None
        assert customers >= 12
        assert (
            session.scalar(
                select(func.count(Node.id)).where(
                    Node.kind == NodeKind.CUSTOMER.value, Node.tax_rate.is_(None)
                )
            )
            == 0
        )
        tzs = set(session.scalars(select(Contract.billing_tz)))
        assert {"UTC", "Europe/Paris", "America/New_York", "Europe/Berlin"} <= tzs
        imports = session.scalars(select(UsageImport).order_by(UsageImport.id)).all()
        assert {i.source for i in imports} == {"focus", "asterisk"}
        assert imports[0].file_name == "demo/focus-2026-08.csv"
        assert sum(i.rows_new for i in imports) == s.total_rows


def test_tariff_deck_has_5000_prefixes_per_version_whatever_the_scale(loaded: Loaded) -> None:
    with loaded.db.session() as session:
        book = session.scalars(select(PriceBook).where(PriceBook.kind == "voip")).one()
        versions = session.scalars(
            select(PriceBookVersion)
            .where(PriceBookVersion.price_book_id == book.id)
            .order_by(PriceBookVersion.version)
        ).all()
        assert [v.effective_from for v in versions] == [WINDOW_START, V2_FROM]
        decks: list[dict[tuple[str, str | None], TariffEntry]] = []
        for v in versions:
            entries = session.scalars(select(TariffEntry).where(TariffEntry.version_id == v.id))
            decks.append({(e.prefix, e.band): e for e in entries})
    v1, v2 = decks
    for deck in decks:
        prefixes = {p for p, _ in deck}
        assert len(prefixes) >= 5_000
        assert {"33", "336", "3361"} <= prefixes  # nested
        assert {(e.initial_increment, e.subsequent_increment) for e in deck.values()} >= {
            (60, 60),
            (30, 6),
            (1, 1),
        }
        assert any(e.connect_fee > 0 for e in deck.values())
        assert {"peak", "offpeak"} <= {b for _, b in deck if b is not None}
        assert any(e.destination_group == "France Mobile" for e in deck.values())
    common = v1.keys() & v2.keys()
    changed = sum(v1[k].rate_per_minute != v2[k].rate_per_minute for k in common)
    assert changed > 0.2 * len(common)
    assert v1.keys() - v2.keys()
    assert v2.keys() - v1.keys()


def test_usage_never_reaches_today(loaded: Loaded) -> None:
    usage = loaded.usage()
    assert pc.min(usage.column("usage_start")).as_py() >= WINDOW_START
    assert pc.max(usage.column("usage_start")).as_py() < MIDNIGHT
    assert pc.max(usage.column("usage_end")).as_py() <= MIDNIGHT
    assert len(usage.column("record_id").unique()) == usage.num_rows


def test_every_usage_row_belongs_to_an_owner_at_its_start(loaded: Loaded) -> None:
    usage = loaded.usage()
    with loaded.db.session() as session:
        owners = session.scalars(select(AccountOwnership)).all()
        refs = dict(session.execute(select(Account.id, Account.external_ref)).all())
    account = usage.column("account_id").to_numpy()
    start = usage.column("usage_start").cast(pa.int64()).to_numpy()
    owned = np.zeros(usage.num_rows, dtype=bool)
    for o in owners:  # a few dozen intervals, each checked against every row at once
        lo = int(o.valid_from.timestamp() * 1_000_000)
        hi = int(o.valid_to.timestamp() * 1_000_000) if o.valid_to else 2**62
        owned |= (account == o.account_id) & (start >= lo) & (start < hi)
    assert owned.all()
    # account_ref is the account's external_ref, on every row
    ids = np.asarray(sorted(refs), dtype=np.int64)
    expected = pa.array([refs[i] for i in ids.tolist()]).take(np.searchsorted(ids, account))
    assert usage.column("account_ref").combine_chunks().equals(expected)


def test_one_peer_changes_hands_mid_month(loaded: Loaded) -> None:
    with loaded.db.session() as session:
        moved = (
            session.execute(
                select(AccountOwnership.account_id)
                .group_by(AccountOwnership.account_id)
                .having(func.count() > 1)
            )
            .scalars()
            .all()
        )
        assert len(moved) == 1
        account = session.get(Account, moved[0])
        assert account is not None
        assert account.kind == "voip_peer"
        first, second = account.ownerships
        assert first.valid_from == WINDOW_START
        assert first.valid_to == second.valid_from == MOVE_AT
        assert second.valid_to is None
        assert first.customer_id != second.customer_id
    usage = loaded.usage()
    starts = usage.filter(pc.equal(usage.column("account_id"), moved[0])).column("usage_start")
    move = pa.scalar(MOVE_AT, usage.schema.field("usage_start").type)
    assert pc.any(pc.less(starts, move)).as_py()
    assert pc.any(pc.greater_equal(starts, move)).as_py()


def test_one_customer_has_no_active_contract_but_has_usage(loaded: Loaded) -> None:
    with loaded.db.session() as session:
        inactive = session.scalars(
            select(Node).where(
                Node.kind == NodeKind.CUSTOMER.value,
                ~Node.id.in_(select(Contract.customer_id).where(Contract.active)),
            )
        ).all()
        assert [n.name for n in inactive] == ["Adatum Logistics GmbH"]
        accounts = session.scalars(
            select(AccountOwnership.account_id).where(
                AccountOwnership.customer_id == inactive[0].id
            )
        ).all()
    usage = loaded.usage()
    assert pc.sum(pc.is_in(usage.column("account_id"), pa.array(accounts))).as_py() > 0


def test_minimum_commitment_misses_exactly_one_closed_month(loaded: Loaded) -> None:
    with loaded.db.session() as session:
        rule = session.scalars(
            select(ContractRule).where(ContractRule.kind == "minimum_commitment")
        ).one()
        contract = session.get(Contract, rule.contract_id)
        assert contract is not None
        accounts = session.scalars(
            select(AccountOwnership.account_id).where(
                AccountOwnership.customer_id == contract.customer_id
            )
        ).all()
    assert rule.amount is not None
    assert rule.amount > 0
    usage = loaded.usage()
    mine = usage.filter(pc.is_in(usage.column("account_id"), pa.array(accounts)))
    months = pc.strftime(mine.column("usage_start"), format="%Y-%m")
    totals = []
    for month in ("2026-08", "2026-09", "2026-10"):
        costs = mine.column("list_cost").filter(pc.equal(months, month))
        totals.append(Decimal(pc.sum(costs).as_py()))
    assert sum(t < rule.amount for t in totals) == 1, (totals, rule.amount)


def test_cdrs_look_like_traffic(loaded: Loaded) -> None:
    usage = loaded.usage()
    cdrs = usage.filter(pc.equal(usage.column("kind"), "cdr"))
    n = cdrs.num_rows
    no_answer = pc.sum(pc.equal(cdrs.column("disposition"), "NO ANSWER")).as_py()
    assert 0.12 * n < no_answer < 0.18 * n
    unanswered = pc.not_equal(cdrs.column("disposition"), "ANSWERED")
    assert pc.max(cdrs.column("billable_seconds").filter(unanswered)).as_py() == 0
    dest = cdrs.column("destination")
    lengths = pc.utf8_length(dest)
    assert pc.min(lengths).as_py() >= 11
    assert pc.max(lengths).as_py() <= 12
    unmatched = pc.sum(_any_prefix(dest, UNMATCHED_PREFIXES)).as_py()
    assert 0.001 * n < unmatched < 0.012 * n


def _any_prefix(values: pa.ChunkedArray, prefixes: tuple[str, ...]) -> pa.ChunkedArray:
    out = pc.starts_with(values, prefixes[0])
    for p in prefixes[1:]:
        out = pc.or_(out, pc.starts_with(values, p))
    return out


def test_demo_logins_can_log_in(loaded: Loaded) -> None:
    assert {login.email for login in loaded.summary.logins} == {
        "admin@example.com",
        "service@example.com",
        "distributor@example.com",
        "reseller@example.com",
        "reseller-user@example.com",
        "voice@example.com",
        "customer@example.com",
    }
    for login in loaded.summary.logins:
        assert login.password == DEMO_PASSWORD
        user, token = log_in(
            loaded.db,
            login.email,
            login.password,
            client="127.0.0.1",
            max_age_s=60,
            policy=ThrottlePolicy(),
        )
        assert user.email == login.email
        with loaded.db.session() as session:  # after the login committed
            principal = auth.authenticate_session(session, token)
            node_id = session.scalars(select(Node.id).where(Node.name == login.node)).one()
            assert [(g.role.value, g.node_id) for g in principal.grants] == [(login.role, node_id)]


def test_loading_twice_is_refused(loaded: Loaded, tmp_path: Path) -> None:
    with pytest.raises(Conflict):
        load_demo(loaded.db, tmp_path, scale=SCALE, today=TODAY)


def test_cli_if_empty_skips_and_plain_demo_refuses_when_data_exists(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=loaded.data_dir, database_url=loaded.db.url, env="test")
    monkeypatch.setattr(context, "settings", lambda: settings)
    monkeypatch.setattr(context, "database", lambda: loaded.db)
    app = typer.Typer()
    app.command()(demo)
    runner = CliRunner()
    skipped = runner.invoke(app, ["--if-empty"])
    assert skipped.exit_code == 0, skipped.output
    assert "not loaded" in skipped.output
    refused = runner.invoke(app, [])
    assert refused.exit_code == 1
    assert "has data already" in refused.output
