"""`load_demo`: fill an empty database and data directory with the demo dataset.

The database part (tenancy, users, accounts, price books, tariffs, timetable,
profiles, contracts, settings) is written in one transaction; the usage is
then written through the usage store, one import per (source, month), each
committed with its `usage_imports` row exactly like a real import.

Deterministic: every number comes from numpy generators seeded with 2026, so
the same `today` and `scale` give the same database content and the same
Parquet rows (ids included, on a fresh database).
"""

from __future__ import annotations

import hashlib
import time as clock
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rerate.accounts import service as accounts
from rerate.auth.permissions import Principal
from rerate.auth.service import assign_role, create_user, get_user_by_email, principal_for
from rerate.catalog import custom_items
from rerate.contracts import service as contracts
from rerate.demo import catalog as cat
from rerate.demo.commissions import add_commission_rules
from rerate.demo.prices import PRICE_SCALE, CloudPrices, build_prices
from rerate.demo.quarterly import make_quarterly
from rerate.demo.tariffs import RATE_SCALE, Deck, TariffLine, build_deck
from rerate.demo.usage import (
    CloudAccount,
    Peer,
    cdr_count,
    cdr_usage,
    cloud_usage,
    holiday_days,
    split_by_month,
)
from rerate.demo.window import DemoWindow, add_months, month_start
from rerate.kit.audit import Actor, record, set_session_actor
from rerate.kit.db import Database
from rerate.kit.errors import Conflict, Invalid
from rerate.models import (
    Account,
    Node,
    PriceBook,
    PriceBookVersion,
    Region,
    Timetable,
)
from rerate.models.enums import SETTING_DEFAULTS, NodeKind, PriceBookKind, Role
from rerate.pricebooks import batch
from rerate.pricebooks import service as pricebooks
from rerate.rating import plan as p
from rerate.settings.service import set_setting
from rerate.tenancy.service import create_node
from rerate.timetables import service as timetables
from rerate.usage.importers.base import ParseResult
from rerate.usage.schema import UsageKind, UsageSource
from rerate.usage.service import import_parsed
from rerate.usage.store import UsageStore

SEED = 2026
CURRENCY = "EUR"
DEMO_ACTOR = Actor(None, "demo")
DEMO_REASON = "demo dataset"
# The platform's service user: the demo acts as it, through the services the
# API calls (same checks, same audit), under the audit actor "demo".
DEMO_PRINCIPAL_EMAIL = "service@example.com"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoLogin:
    email: str
    password: str
    role: str
    node: str


@dataclass(frozen=True, slots=True)
class DemoSummary:
    nodes: int
    customers: int
    users: int
    accounts: int
    prefixes: int  # distinct prefixes of tariff deck version 1
    tariff_entries: int  # both versions, banded entries included
    price_entries: int  # cloud price entries, both versions
    usage_rows: int  # cloud usage rows
    cdrs: int
    imports: int
    closed_months: tuple[str, ...]
    current_month: str
    logins: tuple[DemoLogin, ...]
    seconds: float

    @property
    def total_rows(self) -> int:
        return self.usage_rows + self.cdrs


def _seeded(*part: int) -> np.random.Generator:
    """One independent generator per part, so each part's draws never shift another's."""
    return np.random.default_rng([SEED, *part])


def _dec(units: int, scale: int) -> Decimal:
    return Decimal(int(units)).scaleb(-scale)


def _round_amount(value: Decimal) -> Decimal:
    """A round figure near `value`: two significant digits, at least 1."""
    whole = max(1, int(value))
    step = 10 ** max(0, len(str(whole)) - 2)
    return Decimal(max(1, round(whole / step)) * step)


def has_data(session: Session) -> bool:
    """True once the tenancy tree has a node: the demo loads only into an empty database."""
    return session.scalar(select(Node.id).limit(1)) is not None


# --------------------------------------------------------------------------- tenancy


@dataclass
class _Built:
    nodes: dict[str, Node]  # by name for partners, by key for customers
    cloud: list[tuple[cat.CustomerSpec, CloudAccount]]
    peers: list[tuple[cat.CustomerSpec, Peer]]
    accounts: dict[str, Account]  # by external ref


def _tenancy(session: Session) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    nodes[cat.PLATFORM] = create_node(session, NodeKind.PLATFORM, name=cat.PLATFORM, parent=None)
    nodes[cat.DISTRIBUTOR] = create_node(
        session, NodeKind.DISTRIBUTOR, name=cat.DISTRIBUTOR, parent=nodes[cat.PLATFORM]
    )
    for partner in (cat.ACME, cat.BLUE):
        nodes[partner] = create_node(
            session, NodeKind.PARTNER, name=partner, parent=nodes[cat.DISTRIBUTOR]
        )
    for c in cat.CUSTOMERS:
        nodes[c.key] = create_node(
            session,
            NodeKind.CUSTOMER,
            name=c.name,
            parent=nodes[c.parent],
            tax_rate=Decimal(c.tax_rate),
        )
    return nodes


def _users(session: Session, nodes: dict[str, Node]) -> list[DemoLogin]:
    logins: list[DemoLogin] = []
    for email, name, role, node_key in cat.USERS:
        node = nodes[node_key]
        user = create_user(session, email, name=name, password=cat.DEMO_PASSWORD)
        assign_role(session, user, role=Role(role), node=node)
        logins.append(DemoLogin(email, cat.DEMO_PASSWORD, role, node.name))
    return logins


def _external_ref(rng: np.random.Generator, platform: str, key: str, n: int) -> str:
    if platform in ("azure", "azurestack", "cloudstack"):
        return str(uuid.UUID(bytes=rng.bytes(16), version=4))
    if platform == "aws":
        return str(int(rng.integers(10**11, 10**12)))
    if platform == "gcp":
        h = rng.bytes(9).hex().upper()
        return f"{h[:6]}-{h[6:12]}-{h[12:18]}"
    return f"{key}-trunk-{n:02d}"


_ACCOUNT_NAMES = {
    "azure": ("Production", "Staging", "Development", "Analytics", "Shared services"),
    "azurestack": ("Tenant Paris A", "Tenant Paris B", "Tenant Paris C"),
    "aws": ("AWS payer", "AWS workloads", "AWS data lake"),
    "gcp": ("GCP billing", "GCP research"),
    "cloudstack": ("Geneva private cloud",),
}
_DID_HEADS = {"33": "331", "1": "1212", "49": "4930", "44": "4420"}


def _accounts(
    session: Session,
    principal: Principal,
    rng: np.random.Generator,
    nodes: dict[str, Node],
    window: DemoWindow,
    required: dict[str, tuple[int, ...]],
) -> _Built:
    built = _Built(nodes, [], [], {})
    for c in cat.CUSTOMERS:
        short = c.name.split()[0]
        for group in c.accounts:
            kind = cat.ACCOUNT_KIND[group.platform]
            for k in range(group.count):
                ref = _external_ref(rng, group.platform, c.key, k + 1)
                if group.platform == "asterisk":
                    name = f"{short} trunk {k + 1}"
                else:
                    labels = _ACCOUNT_NAMES[group.platform]
                    name = f"{short} {labels[k % len(labels)]}"
                account = accounts.create(
                    session,
                    principal,
                    kind,
                    external_ref=ref,
                    owner_node_id=nodes[c.key].parent_id,  # the customer's seller
                    name=name,
                    platform=group.platform,
                )
                accounts.link(
                    session,
                    principal,
                    account.id,
                    customer_id=nodes[c.key].id,
                    valid_from=window.start,
                )
                built.accounts[ref] = account
                if group.platform == "asterisk":
                    head = _DID_HEADS[c.home]
                    tail = int(rng.integers(0, 10 ** (7 - len(head))))
                    did = head + f"{tail:0{7 - len(head)}d}"
                    weight = float(rng.lognormal(0.0, 0.6))
                    built.peers.append((c, Peer(account.id, ref, c.home, c.tz, did, weight)))
                else:
                    regions = cat.PLATFORM_REGIONS[group.platform]
                    american = c.tz.startswith("America/")
                    preferred = sorted(regions, key=lambda r: ("us" in r) != american)
                    home = preferred[k % len(preferred)]
                    ordered = (home, *[r for r in regions if r != home])
                    built.cloud.append(
                        (
                            c,
                            CloudAccount(
                                account.id,
                                ref,
                                ordered,
                                committed=c.commitment,
                                required=required.get(c.key, ()),
                            ),
                        )
                    )
    # One peer changes hands in the middle of the middle closed month.
    moving = next(a for c, a in built.peers if c.key == cat.MOVING_PEER_FROM)
    accounts.move(
        session,
        principal,
        built.accounts[moving.ref].id,
        customer_id=nodes[cat.MOVING_PEER_TO].id,
        valid_from=window.move_at,
    )
    return built


# --------------------------------------------------------------------------- prices


def _cloud_book(
    session: Session, principal: Principal, owner: Node, prices: CloudPrices, window: DemoWindow
) -> tuple[PriceBook, int]:
    book = pricebooks.create_book(
        session,
        principal,
        name="Cloud list prices (EUR)",
        kind=PriceBookKind.CLOUD,
        currency=CURRENCY,
        owner_node_id=owner.id,
    )
    services = {sku.sku: sku.service for sku in prices.skus[: prices.n_priced]}
    count = 0
    for version_no, effective, per_sku, note in (
        (1, window.start, prices.v1_e4, "Initial price list"),
        (2, window.v2_from, prices.v2_e4, "Quarterly update: compute cheaper, storage dearer"),
    ):
        entries: list[p.PriceEntry] = []
        for i, sku in enumerate(prices.skus[: prices.n_priced]):
            mode, steps = prices.tiers.get(i, ("none", ()))
            entries.append(
                p.PriceEntry(
                    id=i + 1,
                    sku=sku.sku,
                    unit_price=_dec(int(per_sku[i]), PRICE_SCALE),
                    unit=sku.unit,
                    tier_mode=p.TierMode(mode),
                    tiers=tuple(
                        p.Tier(Decimal(start), _dec(price, PRICE_SCALE)) for start, price in steps
                    ),
                )
            )
        for (i, region), pair in sorted(prices.regional.items()):
            sku = prices.skus[i]
            entries.append(
                p.PriceEntry(
                    id=len(entries) + 1,
                    sku=sku.sku,
                    unit_price=_dec(pair[version_no - 1], PRICE_SCALE),
                    region=region,
                    unit=sku.unit,
                )
            )
        version = _draft(session, principal, book, effective, note)
        batch.add_prices(
            session, principal, book.id, version.id, entries, services=services, source="demo"
        )
        pricebooks.publish(session, principal, book.id, version.id, reason=DEMO_REASON)
        count += len(entries)
    return book, count


def _draft(
    session: Session, principal: Principal, book: PriceBook, effective: datetime, note: str
) -> PriceBookVersion:
    """A version the way a reseller makes one: a draft, filled in bulk, then published."""
    return pricebooks.create_draft(session, principal, book.id, effective_from=effective, note=note)


def tariff_rows(version_id: int, lines: list[TariffLine]) -> list[dict[str, Any]]:
    """Insert rows of `TariffEntry` for a version's deck lines (also used by bench/)."""
    return [
        {
            "version_id": version_id,
            "prefix": t.prefix,
            "destination_group": t.group,
            "band": t.band,
            "rate_per_minute": _dec(t.rate, RATE_SCALE),
            "connect_fee": _dec(t.connect_fee, RATE_SCALE),
            "min_seconds": t.min_seconds,
            "initial_increment": t.initial,
            "subsequent_increment": t.subsequent,
            "charge_unanswered": False,
        }
        for t in lines
    ]


def _tariff_entries(lines: list[TariffLine]) -> list[p.TariffEntry]:
    return [
        p.TariffEntry(
            id=i,
            prefix=t.prefix,
            destination_group=t.group,
            rate_per_minute=_dec(t.rate, RATE_SCALE),
            connect_fee=_dec(t.connect_fee, RATE_SCALE),
            min_seconds=t.min_seconds,
            initial_increment=t.initial,
            subsequent_increment=t.subsequent,
            band=t.band,
        )
        for i, t in enumerate(lines, start=1)
    ]


def _voip_book(
    session: Session, principal: Principal, owner: Node, deck: Deck, window: DemoWindow
) -> tuple[PriceBook, int]:
    book = pricebooks.create_book(
        session,
        principal,
        name="Wholesale voice deck (EUR)",
        kind=PriceBookKind.VOIP,
        currency=CURRENCY,
        owner_node_id=owner.id,
    )
    count = 0
    for effective, lines, note in (
        (window.start, deck.v1, "Deck as signed"),
        (window.v2_from, deck.v2, "Carrier update: new rates, retired and new ranges"),
    ):
        entries = _tariff_entries(lines)
        version = _draft(session, principal, book, effective, note)
        batch.add_tariffs(session, principal, book.id, version.id, entries, source="demo")
        pricebooks.publish(session, principal, book.id, version.id, reason=DEMO_REASON)
        count += len(entries)
    return book, count


TIMETABLE_NAME = "France business hours"
TIMETABLE_TZ = "Europe/Paris"


def timetable_version(years: Iterable[int]) -> timetables.VersionIn:
    """The demo's French business hours with the holidays of `years`."""
    from rerate.timetables.service import HolidayIn, RuleIn, VersionIn

    midnight = datetime.min.time()
    return VersionIn(
        default_band="offpeak",
        effective_from=datetime(1970, 1, 1, tzinfo=UTC),
        rules=(
            RuleIn("weekend", "56", midnight, midnight, priority=10),
            RuleIn("peak", "01234", midnight.replace(hour=8), midnight.replace(hour=20), 5),
            RuleIn("offpeak", "01234", midnight.replace(hour=20), midnight.replace(hour=8), 0),
        ),
        holidays=tuple(
            HolidayIn(day, "weekend", name)
            for year in sorted(set(years))
            for day, name in cat.french_holidays(year)
        ),
    )


def build_timetable(session: Session, years: Iterable[int], owner: Node) -> Timetable:
    """The demo's timetable for `owner`, with no caller to check (bench/ uses it)."""
    return timetables.new_timetable(
        session, owner, name=TIMETABLE_NAME, tz=TIMETABLE_TZ, version=timetable_version(years)
    )


def _profiles(
    session: Session, principal: Principal, built: _Built, window: DemoWindow, owner: Node
) -> None:
    from rerate.profiles.service import VersionIn, assign, create_profile

    since = datetime(1970, 1, 1, tzinfo=UTC)
    included = create_profile(
        session,
        principal,
        owner_node_id=owner.id,
        name="1000 included minutes",
        unit="minutes",
        version=VersionIn(since, included_quantity=Decimal(1000)),
    )
    volume = create_profile(
        session,
        principal,
        owner_node_id=owner.id,
        name="France volume tiers",
        unit="minutes",
        version=VersionIn(
            since,
            tier_mode="graduated",
            tiers=tuple(
                (Decimal(q), _dec(r, 4)) for q, r in ((0, 150), (10_000, 120), (50_000, 90))
            ),
            scope="France",
        ),
    )
    egress = create_profile(
        session,
        principal,
        owner_node_id=owner.id,
        name="100 GB egress included",
        unit="units",
        version=VersionIn(
            since, included_quantity=Decimal(100), scope="network.egress.internet.zone1"
        ),
    )
    chosen: list[tuple[int, int]] = []
    for c, peer in built.peers:
        moving = c.key == cat.MOVING_PEER_FROM and peer.ref.endswith("-01")
        if c.key == "hudson" or (c.key == cat.MOVING_PEER_FROM and not moving):
            chosen.append((peer.account_id, included.id))
        elif c.key == "bordeaux":
            chosen.append((peer.account_id, volume.id))
    first_contoso = next(a for c, a in built.cloud if c.key == "contoso")
    chosen.append((first_contoso.account_id, egress.id))
    for account_id, profile_id in chosen:
        assign(session, principal, profile_id, account_id=account_id, valid_from=window.start)


# --------------------------------------------------------------------------- contracts

# customer key -> rules: (kind, service, sku, region, percent, amount, unit_price, description)
_Rule = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None, str]
_RULES: dict[str, tuple[_Rule, ...]] = {
    "contoso": (
        ("discount", "Compute", None, None, "10", None, None, "10 % off compute"),
        (
            "discount",
            None,
            "compute.vm.d8s_v5.linux",
            None,
            "15",
            None,
            None,
            "Reserved D8s v5 rate",
        ),
        ("support_fee", None, None, None, "8", None, None, "Premium support, 8 %"),
        ("credit", None, None, None, None, "250", None, "Migration credit"),
    ),
    "fabrikam": (
        (
            "unit_price_override",
            None,
            "compute.vm.d4s_v5.linux",
            None,
            None,
            None,
            "0.15",
            "Negotiated D4s v5 price",
        ),
        ("markup", None, None, "ch-gva-1", "12", None, None, "Geneva private cloud uplift"),
        ("discount", "Storage", None, None, "5", None, None, "Storage volume discount"),
    ),
    "tailspin": (
        ("markup", None, None, None, "20", None, None, "Managed service margin"),
        ("credit", None, None, None, "5", None, None, "Partner programme credit, 5 %"),
    ),
    "wingtip": (
        ("discount", "Database", None, None, "7.5", None, None, "Database discount"),
        ("support_fee", None, None, None, "10", None, None, "Support, 10 %"),
    ),
    "adatum": (("discount", None, None, None, "5", None, None, "Legacy discount"),),
    "proseware": (
        ("discount", None, None, "azs-paris-1", "3", None, None, "Private region discount"),
        ("markup", "Network", None, None, "10", None, None, "Network management fee"),
    ),
    "trey": (
        (
            "unit_price_override",
            None,
            "database.sql.gp.gen5.4vcore",
            None,
            None,
            None,
            "0.65",
            "Negotiated SQL GP 4 vCore price",
        ),
        (
            "discount",
            None,
            "compute.vm.d8s_v5.linux",
            None,
            "12",
            None,
            None,
            "Committed D8s v5 discount",
        ),
    ),
    "northwind_it": (("support_fee", None, None, None, "5", None, None, "Internal support, 5 %"),),
    "alpine": (("discount", None, None, None, "5", None, None, "Volume discount, 5 %"),),
    "bordeaux": (
        ("markup", None, None, None, "8", None, None, "Carrier margin"),
        ("support_fee", None, None, None, "3", None, None, "NOC support, 3 %"),
    ),
    "hudson": (
        ("discount", None, None, None, "10", None, None, "Contact-centre discount"),
        ("credit", None, None, None, None, "100", None, "Service credit (outage)"),
    ),
    "rhein": (("markup", None, None, None, "4", None, None, "Carrier margin"),),
    "globex": (
        ("discount", None, None, None, "6", None, None, "Unified communications discount"),
        ("support_fee", None, None, None, "6", None, None, "Unified support, 6 %"),
    ),
}


# SKUs some customers always use, so that their profile or rules show at any scale.
_SHOWCASE_SKUS: dict[str, tuple[str, ...]] = {"contoso": ("network.egress.internet.zone1",)}


def _required_skus(prices: CloudPrices) -> dict[str, tuple[int, ...]]:
    """Per customer key: the SKUs its contract rules (or profile) name."""
    out: dict[str, tuple[int, ...]] = {}
    for key in {*_RULES, *_SHOWCASE_SKUS}:
        names = {rule[2] for rule in _RULES.get(key, ()) if rule[2] is not None}
        names |= set(_SHOWCASE_SKUS.get(key, ()))
        out[key] = tuple(sorted(prices.index(name) for name in names))
    return out


def _rule(rule: _Rule) -> contracts.RuleIn:
    kind, service, sku, region, pct, amount, price, text = rule
    return contracts.RuleIn(
        kind=kind,
        service=service,
        sku=sku,
        region=region,
        percent=Decimal(pct) if pct is not None else None,
        amount=Decimal(amount) if amount is not None else None,
        unit_price=Decimal(price) if price is not None else None,
        description=text,
    )


def _contracts(
    session: Session,
    principal: Principal,
    built: _Built,
    window: DemoWindow,
    *,
    cloud_book: PriceBook,
    voip_book: PriceBook,
    timetable: Timetable,
    commitment: Decimal,
) -> None:
    for c in cat.CUSTOMERS:
        node = built.nodes[c.key]
        start = add_months(window.first_day, -12) if c.earlier_coverage else window.first_day
        rules = list(_RULES.get(c.key, ()))
        if c.commitment:
            rules.append(
                (
                    "minimum_commitment",
                    None,
                    None,
                    None,
                    None,
                    str(commitment),
                    None,
                    "Monthly minimum commitment",
                )
            )
        contracts.create_contract(
            session,
            principal,
            contracts.ContractIn(
                customer_id=node.id,
                seller_id=built.nodes[c.parent].id,
                name=f"{c.name} agreement",
                currency=CURRENCY,
                billing_tz=c.tz,
                coverage_start=start if c.active_contract else add_months(window.first_day, -12),
                coverage_end=None if c.active_contract else window.first_day,
                rounding_mode="ROUND_HALF_UP",
                correction_policy=c.correction_policy,
                passthrough_unpriced=c.passthrough,
                cloud_price_book_id=cloud_book.id if c.has_cloud else None,
                voip_price_book_id=voip_book.id if c.has_voip else None,
                timetable_id=timetable.id if c.has_voip else None,
            ),
            rules=tuple(_rule(r) for r in rules),
            activate=c.active_contract,
            reason=DEMO_REASON,
        )
    middle = window.middle_month
    items = (
        ("contoso", "Onboarding workshop", "1500.00", middle.replace(day=10), None),
        ("contoso", "Managed backup service", "350.00", None, window.first_day),
        ("fabrikam", "24/7 service desk", "900.00", None, window.first_day),
        ("alpine", "DID number rental (100 numbers)", "120.00", None, window.first_day),
        ("alpine", "Goodwill credit", "-200.00", middle.replace(day=20), None),
        ("hudson", "SIP trunk channels (30)", "450.00", None, middle),
        ("globex", "Teams Direct Routing setup", "800.00", window.closed_months[2], None),
    )
    for key, text, amount, one_off, recurring in items:
        custom_items.create_item(
            session,
            principal,
            built.nodes[key].id,
            custom_items.ItemIn(
                description=text,
                amount=Decimal(amount),
                one_off_date=one_off,
                recurring_from=recurring,
                recurring_to=None,
            ),
        )


def _settings(session: Session, principal: Principal) -> None:
    for key, value in SETTING_DEFAULTS.items():
        set_setting(session, principal, key, value=value, node=None)


# --------------------------------------------------------------------------- usage import


def _batch_sha256(table: pa.Table) -> str:
    """A digest of the batch: sha256 over its content hashes (fixed width, in order)."""
    hashes = table.column("content_hash").combine_chunks()
    offsets = np.frombuffer(hashes.buffers()[1], dtype=np.int32)[
        hashes.offset : hashes.offset + len(hashes) + 1
    ]
    data = hashes.buffers()[2]
    digest = hashlib.sha256()
    if data is not None and len(hashes):
        digest.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
    return digest.hexdigest()


def _write_import(
    db: Database,
    store: UsageStore,
    principal: Principal,
    table: pa.Table,
    *,
    source: UsageSource,
    kind: UsageKind,
    file_name: str,
) -> int:
    """One import through the import service, as a parsed file is imported:
    accounts resolved by ref in the caller's scope, record ids scoped to
    their account, files and row committed together under the store's lock.
    The generators know each row's account id; the service finds it again
    from the ref, so the demo proves the same path a user's file takes."""
    unresolved = table.set_column(
        table.schema.get_field_index("account_id"),
        "account_id",
        pa.array(np.full(table.num_rows, -1, np.int64)),
    )
    parsed = ParseResult(
        table=unresolved,
        line_numbers=np.arange(2, table.num_rows + 2, dtype=np.int64),
        rejects=[],
        rows_read=table.num_rows,
        file=file_name,
        account_column="account_ref",
    )
    with db.session() as session:
        set_session_actor(session, DEMO_ACTOR, DEMO_REASON)
        report = import_parsed(
            session,
            store,
            principal,
            parsed,
            source=source.value,
            kind=kind,
            sha256=_batch_sha256(table),
        )
    if report.rejected or report.import_id is None:
        raise RuntimeError(f"demo import {file_name}: {report.rejected} rows rejected")
    return report.import_id


# --------------------------------------------------------------------------- entry point


def load_demo(
    db: Database,
    data_dir: Path,
    *,
    scale: float = 1.0,
    today: date | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Load the demo dataset into an empty database and `data_dir`.

    `scale` multiplies the usage volume (1.0: more than a million rows);
    everything else (tenancy, accounts, price books, the 5,000+ prefix deck)
    is the same at every scale. `today` fixes the window (default: the
    current UTC date). Raises `Conflict` when the database has data already.
    """
    began = clock.monotonic()
    say = progress or (lambda _message: None)
    if not scale > 0:
        raise Invalid(f"scale must be positive, got {scale}")
    window = DemoWindow.for_today(today or datetime.now(UTC).date())
    store = UsageStore(Path(data_dir))
    regions = [code for code, _name, _platform in cat.REGIONS]
    prices = build_prices(_seeded(1))
    deck = build_deck(_seeded(2))

    with db.session() as session:
        if has_data(session):
            raise Conflict("the database has data already: the demo loads only into an empty one")
        set_session_actor(session, DEMO_ACTOR, DEMO_REASON)
        say("tenancy and users")
        nodes = _tenancy(session)
        logins = _users(session, nodes)
        principal = principal_for(
            session, get_user_by_email(session, DEMO_PRINCIPAL_EMAIL), via="demo"
        )
        # Reference data: no service (nor API) creates regions.
        session.add_all([Region(code=c, name=n, platform=pf) for c, n, pf in cat.REGIONS])
        built = _accounts(session, principal, _seeded(3), nodes, window, _required_skus(prices))
        say("price books and tariff deck")
        distributor = nodes[cat.DISTRIBUTOR]
        cloud_book, n_prices = _cloud_book(session, principal, distributor, prices, window)
        voip_book, n_tariffs = _voip_book(session, principal, nodes[cat.BLUE], deck, window)
        timetable = timetables.create_timetable(
            session,
            principal,
            owner_node_id=distributor.id,
            name=TIMETABLE_NAME,
            tz=TIMETABLE_TZ,
            version=timetable_version({window.first_day.year, window.today.year}),
        )
        _profiles(session, principal, built, window, distributor)
        say("cloud usage")
        cloud = cloud_usage(
            _seeded(4), window, [a for _, a in built.cloud], prices, regions, scale=scale
        )
        # The committed customer's quiet month falls short; the others clear it.
        low, second = sorted(cloud.committed_by_month)[:2]
        say("contracts")
        _contracts(
            session,
            principal,
            built,
            window,
            cloud_book=cloud_book,
            voip_book=voip_book,
            timetable=timetable,
            commitment=_round_amount((low + second) / 2),
        )
        make_quarterly(session, principal, nodes)  # the quarterly tenant
        _settings(session, principal)
        add_commission_rules(session, principal, nodes, window)
        n_nodes = session.scalar(select(func.count(Node.id))) or 0
        n_accounts = len(built.accounts)
        month_days = [[d for d in window.days if month_start(d) == m] for m in window.months]
        n_cdrs = sum(cdr_count(days, scale) for days in month_days)
        record(
            session,
            "demo_load",
            "demo",
            0,
            today=window.today,
            scale=str(scale),
            nodes=n_nodes,
            users=len(logins),
            accounts=n_accounts,
            price_entries=n_prices,
            tariff_entries=n_tariffs,
            usage_rows=cloud.table.num_rows,
            cdrs=n_cdrs,
            closed_months=[window.label(m) for m in window.closed_months],
        )

    # Usage month by month (CDRs generated per month keep memory bounded),
    # one import per (source, month), in commit order.
    peers = [p for _, p in built.peers]
    holidays = holiday_days(window)
    cloud_parts = dict(split_by_month(cloud.table, window))
    imports, written = 0, 0
    for k, (month, days) in enumerate(zip(window.months, month_days, strict=True)):
        label = window.label(month)
        say(f"writing usage of {label}")
        if month in cloud_parts:
            _write_import(
                db,
                store,
                principal,
                cloud_parts.pop(month),
                source=UsageSource.FOCUS,
                kind=UsageKind.CLOUD,
                file_name=f"demo/{UsageSource.FOCUS.value}-{label}.csv",
            )
            imports += 1
        if days:
            cdrs = cdr_usage(
                _seeded(5, k),
                days,
                peers,
                deck.pool,
                scale=scale,
                holidays=holidays,
                first_id=written,
            )
            if cdrs.num_rows:
                _write_import(
                    db,
                    store,
                    principal,
                    cdrs,
                    source=UsageSource.ASTERISK,
                    kind=UsageKind.CDR,
                    file_name=f"demo/{UsageSource.ASTERISK.value}-{label}.csv",
                )
                written += cdrs.num_rows
                imports += 1
            del cdrs

    return DemoSummary(
        nodes=n_nodes,
        customers=len(cat.CUSTOMERS),
        users=len(logins),
        accounts=n_accounts,
        prefixes=len({t.prefix for t in deck.v1}),
        tariff_entries=n_tariffs,
        price_entries=n_prices,
        usage_rows=cloud.table.num_rows,
        cdrs=written,
        imports=imports,
        closed_months=tuple(window.label(m) for m in window.closed_months),
        current_month=window.label(window.current_month),
        logins=tuple(logins),
        seconds=clock.monotonic() - began,
    )
