"""Build the rating engine's plan snapshot for one customer from the database.

The plan is the *current* state: the currently active contract and its current
rule version, every published version of its price book (each usage row is priced with
the version in force at its usage time), every version of the timetable (each
call is banded by the version in force at its start), the consumption profile
versions in force for the period and the ownership history of the customer's accounts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts.service import ownerships_overlapping
from rerate.billing.eligibility import active_contract
from rerate.kit.errors import Invalid
from rerate.kit.money import RoundingMode
from rerate.models import (
    AccountProfile,
    ConsumptionProfile,
    CustomLineItem,
    PriceBook,
    PriceBookVersion,
    ProfileVersion,
    Timetable,
    TimetableVersion,
)
from rerate.models.enums import SettingKey, VersionStatus
from rerate.models.tenancy import Node
from rerate.pricebooks.entries import plan_versions
from rerate.rating import plan as p
from rerate.settings.service import get_bool


def _tiers(pairs: Iterable[tuple[Decimal, Decimal]]) -> tuple[p.Tier, ...]:
    # Sorted here, numerically: on SQLite the decimals are stored as text, so
    # an ORDER BY there would put "153600" before "51200".
    return tuple(p.Tier(q, price) for q, price in sorted(pairs))


# Published versions as the engine's values, by (database, version id,
# published_at). A published version and its entries never change (the
# migrations' triggers refuse it), so its snapshot is built once per process
# rather than once per job: a 5,000-prefix deck took about a second to build,
# every customer-month, every time. published_at is in the key so that a
# database restored under a running process (same ids, other content) is
# never answered from the cache.
_VERSION_CACHE: OrderedDict[tuple[str, int, datetime | None], p.PriceBookVersion] = OrderedDict()
_VERSION_CACHE_SIZE = 32
_VERSION_CACHE_LOCK = threading.Lock()


def _published_versions(
    session: Session, versions: list[PriceBookVersion]
) -> list[p.PriceBookVersion]:
    database = str(session.get_bind().engine.url)
    keys = [(database, v.id, v.published_at) for v in versions]
    with _VERSION_CACHE_LOCK:
        found = {k: _VERSION_CACHE[k] for k in keys if k in _VERSION_CACHE}
        for k in found:
            _VERSION_CACHE.move_to_end(k)
    missing = [v for v, k in zip(versions, keys, strict=True) if k not in found]
    if missing:
        built = plan_versions(session, missing)
        with _VERSION_CACHE_LOCK:
            for v, plan_version in zip(missing, built, strict=True):
                key = (database, v.id, v.published_at)
                found[key] = plan_version
                _VERSION_CACHE[key] = plan_version
            while len(_VERSION_CACHE) > _VERSION_CACHE_SIZE:
                _VERSION_CACHE.popitem(last=False)
    return [found[k] for k in keys]


def _price_book(session: Session, book_id: int) -> p.PriceBook:
    """The book's PUBLISHED versions: a draft never prices anything."""
    book = session.get(PriceBook, book_id)
    if book is None:
        raise Invalid(f"price book {book_id} does not exist")
    versions = list(
        session.scalars(
            select(PriceBookVersion)
            .where(
                PriceBookVersion.price_book_id == book.id,
                PriceBookVersion.status == VersionStatus.PUBLISHED.value,
            )
            .order_by(PriceBookVersion.effective_from)
        )
    )
    return p.PriceBook(
        id=book.id, currency=book.currency, versions=tuple(_published_versions(session, versions))
    )


def _band_rules(version: TimetableVersion) -> tuple[p.BandRule, ...]:
    return tuple(
        p.BandRule(
            band=r.band,
            weekdays=frozenset(int(d) for d in r.weekdays),
            start=r.start_time,
            end=r.end_time,
            priority=r.priority,
        )
        for r in sorted(version.rules, key=lambda r: r.position)
    )


def _holidays(version: TimetableVersion) -> tuple[p.Holiday, ...]:
    return tuple(p.Holiday(day=h.day, band=h.band) for h in version.holidays)


def _timetable(session: Session, timetable_id: int) -> p.Timetable:
    """Every version: each call is banded by the version in force at its start
    (the first version also bands calls before it took effect)."""
    tt = session.get(Timetable, timetable_id)
    if tt is None:
        raise Invalid(f"timetable {timetable_id} does not exist")
    versions = sorted(tt.versions, key=lambda v: v.effective_from)
    if not versions:
        raise Invalid(f"timetable {tt.name} has no version")
    first, later = versions[0], versions[1:]
    return p.Timetable(
        id=tt.id,
        tz=tt.tz,
        default_band=first.default_band,
        rules=_band_rules(first),
        holidays=_holidays(first),
        changes=tuple(
            p.TimetableChange(
                version_id=v.id,
                effective_from=v.effective_from,
                default_band=v.default_band,
                rules=_band_rules(v),
                holidays=_holidays(v),
            )
            for v in later
        ),
    )


def profile_version_for(
    profile: ConsumptionProfile, start: datetime, end: datetime
) -> ProfileVersion | None:
    """The version that rates a period [start, end): the one in force at its
    start, or, for a profile whose first version begins inside the period,
    that one. Allowances are per period, so one version rates a whole period:
    a version effective mid-period takes over from the next period on."""
    versions = sorted(profile.versions, key=lambda v: v.effective_from)
    in_force = [v for v in versions if v.effective_from <= start]
    if in_force:
        return in_force[-1]
    return next((v for v in versions if v.effective_from < end), None)


def _profiles(
    session: Session, account_ids: list[int], start: datetime, end: datetime
) -> tuple[p.ConsumptionProfile, ...]:
    links = session.scalars(
        select(AccountProfile).where(
            AccountProfile.account_id.in_(account_ids),
            AccountProfile.valid_from < end,
            (AccountProfile.valid_to.is_(None)) | (AccountProfile.valid_to > start),
        )
    ).all()
    by_profile: dict[int, set[int]] = {}
    for link in links:
        by_profile.setdefault(link.profile_id, set()).add(link.account_id)
    out = []
    for profile_id, accounts in sorted(by_profile.items()):
        cp = session.get(ConsumptionProfile, profile_id)
        if cp is None:
            continue
        version = profile_version_for(cp, start, end)
        if version is None:
            continue
        unit = p.ProfileUnit(cp.unit)
        out.append(
            p.ConsumptionProfile(
                id=cp.id,
                name=cp.name,
                unit=unit,
                account_ids=frozenset(accounts),
                included_quantity=version.included_quantity,
                tier_mode=p.TierMode(version.tier_mode),
                tiers=_tiers((t.from_quantity, t.rate) for t in version.tiers),
                scope_destination_group=(version.scope or None)
                if unit is p.ProfileUnit.MINUTES
                else None,
                scope_sku=version.scope if unit is p.ProfileUnit.UNITS else None,
            )
        )
    return tuple(out)


@dataclass
class SharedCatalog:
    """Price books and timetables already built, by id: a batch of customers
    on the same price book builds its snapshot once (they do not depend on
    the customer or the window, only on the database read)."""

    books: dict[int, p.PriceBook] = field(default_factory=dict)
    timetables: dict[int, p.Timetable] = field(default_factory=dict)

    def book(self, session: Session, book_id: int) -> p.PriceBook:
        if book_id not in self.books:
            self.books[book_id] = _price_book(session, book_id)
        return self.books[book_id]

    def timetable(self, session: Session, timetable_id: int) -> p.Timetable:
        if timetable_id not in self.timetables:
            self.timetables[timetable_id] = _timetable(session, timetable_id)
        return self.timetables[timetable_id]


def build_plan(
    session: Session,
    customer: Node,
    start_utc: datetime,
    end_utc: datetime,
    *,
    shared: SharedCatalog | None = None,
) -> tuple[p.RatingPlan, list[int]]:
    """The plan for `customer` over `[start_utc, end_utc)` and the ids of the
    accounts it owned at some instant of that window. `shared`: price books
    and timetables built by an earlier plan of the same batch are reused."""
    catalog = shared or SharedCatalog()
    contract = active_contract(session, customer.id)
    if contract is None:
        raise Invalid(f"{customer.name} has no active contract")
    # Cloud rows are priced with the cloud book and CDRs with the VoIP deck;
    # a contract with one book rates everything with it.
    cloud_id, voip_id = contract.cloud_price_book_id, contract.voip_price_book_id
    main_id = cloud_id or voip_id
    mine = ownerships_overlapping(session, start_utc, end_utc, customer_id=customer.id)
    account_ids = sorted({o.account_id for o in mine})
    # Every interval of those accounts in the window, the other owners' too,
    # so the engine can tell which rows are this customer's.
    ownership = (
        tuple(
            p.Ownership(o.account_id, o.customer_id, o.valid_from, o.valid_to)
            for o in ownerships_overlapping(session, start_utc, end_utc, account_ids=account_ids)
        )
        if account_ids
        else ()
    )
    items = tuple(
        p.CustomLineItem(
            id=c.id,
            description=c.description,
            amount=c.amount,
            one_off_date=c.one_off_date,
            recurring_from=c.recurring_from,
            recurring_to=c.recurring_to,
        )
        for c in session.scalars(
            select(CustomLineItem).where(
                CustomLineItem.customer_id == customer.id, CustomLineItem.deleted.is_(False)
            )
        )
    )
    plan_contract = p.Contract(
        id=contract.id,
        customer_id=customer.id,
        currency=contract.currency,
        billing_tz=contract.billing_tz,
        rounding=RoundingMode(contract.rounding_mode),
        passthrough_unpriced=contract.passthrough_unpriced,
        rules=tuple(
            p.ContractRule(
                id=r.id,
                kind=p.RuleKind(r.kind),
                order=r.position,
                service=r.scope_service,
                sku=r.scope_sku,
                region=r.scope_region,
                percent=r.percent,
                amount=r.amount,
                unit_price=r.unit_price,
                description=r.description,
            )
            for r in contract.current_rules()
        ),
        custom_line_items=items,
    )
    plan = p.RatingPlan(
        contract=plan_contract,
        price_book=catalog.book(session, main_id) if main_id else None,
        tariff_book=catalog.book(session, voip_id) if cloud_id and voip_id else None,
        timetable=catalog.timetable(session, contract.timetable_id)
        if contract.timetable_id
        else None,
        profiles=_profiles(session, account_ids, start_utc, end_utc) if account_ids else (),
        ownership=ownership,
        overlap_selection=get_bool(session, SettingKey.USE_OVERLAP_USAGE_SELECTION, customer),
    )
    return plan, account_ids
