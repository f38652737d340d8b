"""A small billable world on top of tests.world: price book, contracts, accounts
(one moving between customers mid-August), and cloud usage for Aug-Sep 2026."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from rerate.accounts.service import create_account, move_account
from rerate.kit.db import Database
from rerate.models import (
    Contract,
    ContractRule,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
    TariffEntry,
    UsageImport,
)
from rerate.models.enums import AccountKind
from rerate.pricebooks.service import mark_published
from rerate.usage.schema import USAGE_SCHEMA
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore
from tests.world import World

START = datetime(2026, 1, 1, tzinfo=UTC)
MOVE_AT = datetime(2026, 8, 15, 12, tzinfo=UTC)


@dataclass
class Billing:
    world: World
    price_book_id: int
    accounts: dict[str, int]
    contract_ids: dict[str, int]


def build_billing(
    db: Database, data_dir: Path, world: World, extra_prices: dict[str, str] | None = None
) -> Billing:
    """`extra_prices`: more SKUs (sku -> unit price per hour) in the cloud book's
    version, added before it is published (a published version never changes)."""
    n = world.nodes
    with db.session() as s:
        book = PriceBook(
            name="Cloud EUR", kind="cloud", currency="EUR", owner_node_id=n["partner_a1"].id
        )
        s.add(book)
        s.flush()
        v1 = PriceBookVersion(price_book_id=book.id, version=1, effective_from=START)
        s.add(v1)
        s.flush()
        s.add_all(
            [
                PriceEntry(
                    version_id=v1.id,
                    sku="vm.small",
                    service="Compute",
                    unit="h",
                    unit_price=Decimal("0.0500000000"),
                ),
                PriceEntry(
                    version_id=v1.id,
                    sku="disk.gb",
                    service="Storage",
                    unit="GB-day",
                    unit_price=Decimal("0.0033333333"),
                ),
            ]
        )
        s.flush()
        s.add_all(
            PriceEntry(version_id=v1.id, sku=sku, service="", unit="h", unit_price=Decimal(price))
            for sku, price in (extra_prices or {}).items()
        )
        s.flush()
        mark_published(s, v1, by=None)  # the triggers refuse entries after this
        contracts = {}
        for name in ("cust_a1x", "cust_a1y"):
            c = Contract(
                customer_id=n[name].id,
                seller_id=n["partner_a1"].id,
                currency="EUR",
                billing_tz="Europe/Paris",
                coverage_start=date(2026, 1, 1),
                active=True,
                cloud_price_book_id=book.id,
            )
            s.add(c)
            s.flush()
            contracts[name] = c.id
        s.add(
            ContractRule(
                contract_id=contracts["cust_a1x"],
                version=1,
                position=1,
                kind="discount",
                scope_service="Compute",
                percent=Decimal("10"),
            )
        )
        accounts = {}
        for ref, owner in (("acc-x", "cust_a1x"), ("acc-mover", "cust_a1y")):
            account = create_account(s, AccountKind.MANAGEMENT_ACCOUNT, external_ref=ref)
            move_account(s, account, customer=s.merge(n[owner]), valid_from=START)
            accounts[ref] = account.id
        mover = s.get(type(account), accounts["acc-mover"])
        assert mover is not None
        move_account(s, mover, customer=s.merge(n["cust_a1x"]), valid_from=MOVE_AT)
        n["cust_a1x"].tax_rate = Decimal("0.20")
        s.merge(n["cust_a1x"])
    add_usage(db, data_dir, accounts, date(2026, 7, 25), date(2026, 10, 5))
    return Billing(world=world, price_book_id=book.id, accounts=accounts, contract_ids=contracts)


def add_usage(
    db: Database, data_dir: Path, accounts: dict[str, int], first: date, end: date
) -> None:
    """Daily rows: 24 h of vm.small and 100 GB of disk per account per day."""
    rows: dict[str, list[object]] = {name: [] for name in USAGE_SCHEMA.names}
    day = first
    while day < end:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for ref, account_id in accounts.items():
            for sku, service, qty, unit in (
                ("vm.small", "Compute", "24", "h"),
                ("disk.gb", "Storage", "100", "GB-day"),
            ):
                rid = f"{ref}-{sku}-{day.isoformat()}"
                values = {
                    "record_id": rid,
                    "content_hash": hashlib.sha256(rid.encode()).hexdigest(),
                    "import_id": 0,
                    "source": "focus",
                    "kind": "cloud",
                    "account_ref": ref,
                    "account_id": account_id,
                    "usage_start": start,
                    "usage_end": start + timedelta(days=1),
                    "service": service,
                    "sku": sku,
                    "region": "westeurope",
                    "quantity": Decimal(qty),
                    "unit": unit,
                    "list_cost": None,
                    "currency": "EUR",
                }
                for name in USAGE_SCHEMA.names:
                    rows[name].append(values.get(name))
        day += timedelta(days=1)
    import_table(db, data_dir, pa.table(rows, schema=USAGE_SCHEMA))


def import_table(db: Database, data_dir: Path, table: pa.Table) -> None:
    """Store canonical usage rows as one committed import."""
    store = UsageStore(data_dir)
    with db.session() as s, store.import_lock():
        plan = store.plan_import(table, visible_import_ids(s))
        record = UsageImport(
            source="focus",
            file_name="fixture",
            sha256="0" * 64,
            rows_read=table.num_rows,
            rows_new=plan.new,
        )
        s.add(record)
        s.flush()
        store.write_import(plan, record.id)


def add_bulk_usage(
    db: Database, data_dir: Path, account_id: int, ref: str, first: datetime, rows: int
) -> None:
    """`rows` vm.small rows of 0.5 h, cycling over the 43,200 minutes (30 days)
    from `first`, built column-wise (fast)."""
    import numpy as np

    minutes = np.arange(rows, dtype=np.int64) % 43_200
    start_us = int(first.timestamp() * 1_000_000) + minutes * 60_000_000
    ids = pa.array([f"{ref}-bulk-{i}" for i in range(rows)], pa.string())
    n = rows

    def const(value: object, typ: pa.DataType) -> pa.Array:
        return pa.array([value] * n, typ)

    table = pa.table(
        {
            "record_id": ids,
            "content_hash": ids,
            "import_id": const(0, pa.int64()),
            "source": const("focus", pa.string()),
            "kind": const("cloud", pa.string()),
            "account_ref": const(ref, pa.string()),
            "account_id": const(account_id, pa.int64()),
            "usage_start": pa.array(start_us, pa.timestamp("us", tz="UTC")),
            "usage_end": pa.array(start_us + 60_000_000, pa.timestamp("us", tz="UTC")),
            "service": const("Compute", pa.string()),
            "sku": const("vm.small", pa.string()),
            "region": const("westeurope", pa.string()),
            "quantity": const(Decimal("0.5"), pa.decimal128(38, 10)),
            "unit": const("h", pa.string()),
            "list_cost": const(None, pa.decimal128(38, 10)),
            "currency": const("EUR", pa.string()),
        }
    )
    for name in USAGE_SCHEMA.names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(n, USAGE_SCHEMA.field(name).type))
    table = table.select(USAGE_SCHEMA.names).cast(USAGE_SCHEMA)
    store = UsageStore(data_dir)
    with db.session() as s, store.import_lock():
        plan = store.plan_import(table, visible_import_ids(s))
        record = UsageImport(
            source="focus", file_name="bulk", sha256="1" * 64, rows_read=n, rows_new=plan.new
        )
        s.add(record)
        s.flush()
        store.write_import(plan, record.id)


def add_voip_deck(
    db: Database, world: World, contract_id: int, bands: dict[str | None, str] | None = None
) -> tuple[int, int, int]:
    """A VoIP deck (33 at 0.60/min, 60/60; or one line per band of `bands`,
    band -> rate) added to a contract that has a cloud book, published:
    (deck id, version id, the first tariff entry's id)."""
    with db.session() as s:
        owner = world.nodes["partner_a1"].id
        deck = PriceBook(name="Voice EUR", kind="voip", currency="EUR", owner_node_id=owner)
        s.add(deck)
        s.flush()
        version = PriceBookVersion(price_book_id=deck.id, version=1, effective_from=START)
        s.add(version)
        s.flush()
        entries = [
            TariffEntry(
                version_id=version.id,
                prefix="33",
                destination_group="France",
                band=band,
                rate_per_minute=Decimal(rate),
                initial_increment=60,
                subsequent_increment=60,
            )
            for band, rate in (bands or {None: "0.60"}).items()
        ]
        s.add_all(entries)
        s.flush()
        entry = entries[0]
        mark_published(s, version, by=None)
        contract = s.get(Contract, contract_id)
        assert contract is not None
        contract.voip_price_book_id = deck.id
        s.flush()
        return deck.id, version.id, entry.id


def cdr_row(record_id: str, account_id: int, start: datetime, dest: str, seconds: int) -> dict:
    """A canonical CDR row (for import_table)."""
    return {
        "record_id": record_id,
        "content_hash": hashlib.sha256(record_id.encode()).hexdigest(),
        "import_id": 0,
        "source": "generic_cdr",
        "kind": "cdr",
        "account_ref": str(account_id),
        "account_id": account_id,
        "usage_start": start,
        "usage_end": start + timedelta(seconds=seconds),
        "destination": dest,
        "billable_seconds": seconds,
        "duration_seconds": seconds,
    }
