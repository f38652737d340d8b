"""What a billing run of one (customer, period) is computed from: its inputs.

Each component (price books, contract, timetable, profiles, custom line items,
ownership, usage) is computed by one small function from rows loaded for many
(customer, period) pairs at once, so that listing stale periods over a whole
reseller reads each table once, not once per period. A component is a digest
(equal digests: that input did not change), a plain-words description and the
references of the objects it covers (used to word reasons and to find the
audit-log entries that changed them).

Usage is the exception: re-reading every usage row of every billed period to
hash it would cost as much as rating it again. The usage store's import ids
grow in commit order (usage/store.py), so a run records the highest import id
it could see (its *watermark*); what changed since is exactly the rows of later
imports, which `usage_changes` reads (see billing/stale.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.billing.plan_builder import profile_version_for
from rerate.kit.periods import Month
from rerate.models import (
    Account,
    AccountOwnership,
    AccountProfile,
    ConsumptionProfile,
    Contract,
    ContractRule,
    CustomLineItem,
    PriceBook,
    PriceBookVersion,
    Timetable,
)
from rerate.models.base import utcnow
from rerate.models.contracts import Setting
from rerate.models.enums import SETTING_DEFAULTS, NodeKind, SettingKey
from rerate.models.tenancy import Node
from rerate.settings.rules import RULES

INPUTS_SCHEMA = 1
"""Bumped when components change meaning; runs recorded under another schema
are compared only on the components both sides have."""

# Usage that starts this long before the period can still overlap it (overlap
# selection); the run reads that wide, so ownership and profiles count it too.
LOOKBACK = timedelta(days=2)

COMPONENTS = (
    "contract",
    "price_books",
    "timetable",
    "profiles",
    "custom_items",
    "ownership",
    "selection",
    "usage",
)


@dataclass(frozen=True, slots=True)
class Component:
    digest: str
    description: str
    refs: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "description": self.description, "refs": self.refs}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Component:
        return cls(str(data["digest"]), str(data.get("description", "")), dict(data["refs"]))


@dataclass(frozen=True, slots=True)
class Inputs:
    """The inputs of one (customer, period), as recorded on a run."""

    customer_id: int
    period: str
    billing_tz: str
    computed_at: datetime
    components: dict[str, Component]

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema": INPUTS_SCHEMA,
                "customer_id": self.customer_id,
                "period": self.period,
                "billing_tz": self.billing_tz,
                "computed_at": self.computed_at.isoformat(),
                "components": {k: c.as_json() for k, c in sorted(self.components.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Inputs:
        data = json.loads(text)
        return cls(
            customer_id=int(data["customer_id"]),
            period=str(data["period"]),
            billing_tz=str(data["billing_tz"]),
            computed_at=datetime.fromisoformat(data["computed_at"]),
            components={k: Component.from_json(v) for k, v in data["components"].items()},
        )


def digest_of(value: Any) -> str:
    """SHA-256 of a JSON rendering (sorted keys; decimals, dates as text)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Window:
    """The instants a run of (customer, period) reads: the period in the
    contract's billing zone, and the read start (with the overlap lookback)."""

    start_utc: datetime
    end_utc: datetime
    month: Month

    @property
    def read_start(self) -> datetime:
        return self.start_utc - LOOKBACK


def window_of(period: str, tz: str) -> Window:
    month = Month.parse(period)
    local = month.in_zone(tz)
    return Window(local.start_utc, local.end_utc, month)


# ------------------------------------------------------------------- loading


@dataclass
class _Loaded:
    """Rows for every customer of a batch, each table read once."""

    contracts: dict[int, Contract]
    rules: dict[int, list[ContractRule]]
    books: dict[int, PriceBook]
    versions: dict[int, list[PriceBookVersion]]
    timetables: dict[int, Timetable]
    ownerships: dict[int, list[AccountOwnership]]
    accounts: dict[int, Account]
    assignments: dict[int, list[AccountProfile]]
    profiles: dict[int, ConsumptionProfile]
    items: dict[int, list[CustomLineItem]]
    selection: dict[int, dict[str, Any]] = field(default_factory=dict)


def _load(session: Session, customer_ids: Sequence[int]) -> _Loaded:
    ids = sorted(set(customer_ids))
    contracts = {
        c.customer_id: c
        for c in session.scalars(
            select(Contract).where(Contract.customer_id.in_(ids), Contract.active.is_(True))
        )
    }
    rules: dict[int, list[ContractRule]] = {}
    for r in session.scalars(
        select(ContractRule).where(ContractRule.contract_id.in_([c.id for c in contracts.values()]))
    ):
        rules.setdefault(r.contract_id, []).append(r)
    book_ids = {
        b
        for c in contracts.values()
        for b in (c.cloud_price_book_id, c.voip_price_book_id)
        if b is not None
    }
    books = {b.id: b for b in session.scalars(select(PriceBook).where(PriceBook.id.in_(book_ids)))}
    versions: dict[int, list[PriceBookVersion]] = {}
    for v in session.scalars(
        select(PriceBookVersion)
        .where(PriceBookVersion.price_book_id.in_(book_ids))
        .order_by(PriceBookVersion.effective_from)
    ):
        versions.setdefault(v.price_book_id, []).append(v)
    timetable_ids = {c.timetable_id for c in contracts.values() if c.timetable_id is not None}
    timetables = {
        t.id: t for t in session.scalars(select(Timetable).where(Timetable.id.in_(timetable_ids)))
    }
    ownerships: dict[int, list[AccountOwnership]] = {}
    for o in session.scalars(
        select(AccountOwnership)
        .where(AccountOwnership.customer_id.in_(ids))
        .order_by(AccountOwnership.account_id, AccountOwnership.valid_from)
    ):
        ownerships.setdefault(o.customer_id, []).append(o)
    account_ids = {o.account_id for rows in ownerships.values() for o in rows}
    accounts = {
        a.id: a for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))
    }
    assignments: dict[int, list[AccountProfile]] = {}
    for link in session.scalars(
        select(AccountProfile).where(AccountProfile.account_id.in_(account_ids))
    ):
        assignments.setdefault(link.account_id, []).append(link)
    profile_ids = {link.profile_id for rows in assignments.values() for link in rows}
    profiles = {
        p.id: p
        for p in session.scalars(
            select(ConsumptionProfile).where(ConsumptionProfile.id.in_(profile_ids))
        )
    }
    items: dict[int, list[CustomLineItem]] = {}
    for item in session.scalars(
        select(CustomLineItem)
        .where(CustomLineItem.customer_id.in_(ids))
        .order_by(CustomLineItem.id)
    ):
        items.setdefault(item.customer_id, []).append(item)
    return _Loaded(
        contracts,
        rules,
        books,
        versions,
        timetables,
        ownerships,
        accounts,
        assignments,
        profiles,
        items,
        _selection(session, ids),
    )


def _selection(session: Session, customer_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """UseOverlapUsageSelection in force on each customer, resolved as
    settings/service.py `resolve` does (nearest allowed override on the path,
    else the global value, else the default), for all customers in three
    queries: the plan builder reads the same value when a run is computed."""
    key = SettingKey.USE_OVERLAP_USAGE_SELECTION
    rule = RULES[key]
    stored = {
        node_id: (setting_id, value)
        for setting_id, node_id, value in session.execute(
            select(Setting.id, Setting.node_id, Setting.value).where(Setting.key == key.value)
        )
    }
    paths = dict(
        session.execute(select(Node.id, Node.path).where(Node.id.in_(list(customer_ids)))).all()
    )
    holder_ids = [i for i in stored if i is not None]
    holders = {
        i: (NodeKind(kind), name)
        for i, kind, name in session.execute(
            select(Node.id, Node.kind, Node.name).where(Node.id.in_(holder_ids))
        )
    }
    out: dict[int, dict[str, Any]] = {}
    for customer_id in customer_ids:
        path = paths.get(customer_id, "")
        chosen: dict[str, Any] | None = None
        for node_id in reversed([int(p) for p in path.strip("/").split("/") if p]):
            if node_id in stored and node_id in holders:
                kind, name = holders[node_id]
                if rule.allows_override_on(kind):
                    setting_id, value = stored[node_id]
                    chosen = {"value": value, "source": f"{kind.value} {name}", "id": setting_id}
                    break
        if chosen is None and None in stored:
            setting_id, value = stored[None]
            chosen = {"value": value, "source": "global", "id": setting_id}
        if chosen is None:
            chosen = {"value": SETTING_DEFAULTS[key], "source": "default", "id": None}
        out[customer_id] = chosen
    return out


# ---------------------------------------------------------------- components


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def _counts(version: PriceBookVersion) -> bool:
    """Whether a price-book version prices usage: drafts never do (the plan
    builder reads published versions only). An object not yet flushed has no
    status and counts, as the property tests build versions in memory."""
    return version.status in (None, "published")


def versions_in_force(
    versions: Iterable[PriceBookVersion], window: Window
) -> list[PriceBookVersion]:
    """The version in force at the period's start, and those effective inside it."""
    counted = sorted((v for v in versions if _counts(v)), key=lambda v: v.effective_from)
    at_start = [v for v in counted if v.effective_from <= window.start_utc][-1:]
    inside = [v for v in counted if window.start_utc < v.effective_from < window.end_utc]
    return at_start + inside


def price_books_component(loaded: _Loaded, customer_id: int, window: Window) -> Component:
    contract = loaded.contracts.get(customer_id)
    book_ids = (
        [b for b in (contract.cloud_price_book_id, contract.voip_price_book_id) if b is not None]
        if contract
        else []
    )
    books: list[dict[str, Any]] = []
    for book_id in book_ids:
        book = loaded.books.get(book_id)
        in_force = versions_in_force(loaded.versions.get(book_id, []), window)
        books.append(
            {
                "id": book_id,
                "name": book.name if book else f"#{book_id}",
                "versions": [
                    {"id": v.id, "version": v.version, "effective_from": _iso(v.effective_from)}
                    for v in in_force
                ],
            }
        )
    described = "; ".join(
        f"{b['name']} v{', v'.join(str(v['version']) for v in b['versions'])}"
        for b in books
        if b["versions"]
    )
    key = [(b["id"], [(v["id"], v["effective_from"]) for v in b["versions"]]) for b in books]
    return Component(digest_of(key), described or "no price book", {"books": books})


_RATING_FIELDS = (
    "currency",
    "billing_tz",
    "rounding_mode",
    "passthrough_unpriced",
    "cloud_price_book_id",
    "voip_price_book_id",
    "timetable_id",
)
_RULE_FIELDS = (
    "kind",
    "position",
    "scope_service",
    "scope_sku",
    "scope_region",
    "percent",
    "amount",
    "unit_price",
    "description",
)


def contract_component(loaded: _Loaded, customer_id: int, window: Window) -> Component:
    del window  # the active contract's rules apply to every period it bills
    contract = loaded.contracts.get(customer_id)
    if contract is None:
        return Component(digest_of(None), "no active contract", {"contract": None})
    rules = [
        {"id": r.id, **{f: getattr(r, f) for f in _RULE_FIELDS}}
        for r in sorted(loaded.rules.get(contract.id, []), key=lambda r: (r.position, r.id))
        if r.version == contract.rules_version
    ]
    fields = {f: getattr(contract, f) for f in _RATING_FIELDS}
    refs = {
        "contract": {
            "id": contract.id,
            "name": contract.name,
            "rules_version": contract.rules_version,
            "rule_ids": [r["id"] for r in rules],
            "fields": fields,
        }
    }
    return Component(
        digest_of([contract.id, contract.rules_version, fields, rules]),
        f"contract {contract.name or contract.id} rules version {contract.rules_version}",
        refs,
    )


def timetable_component(loaded: _Loaded, customer_id: int, window: Window) -> Component:
    """The timetable versions that band the period's calls: the one in force at
    its start (or the first, which also bands calls before it) and any effective
    inside it. Versions are written whole, so their ids and content say it all."""
    contract = loaded.contracts.get(customer_id)
    tt = (
        loaded.timetables.get(contract.timetable_id) if contract and contract.timetable_id else None
    )
    if tt is None:
        return Component(digest_of(None), "no timetable", {"timetable": None})
    ordered = sorted(tt.versions, key=lambda v: v.effective_from)
    at_start = [v for v in ordered if v.effective_from <= window.start_utc][-1:] or ordered[:1]
    inside = [
        v
        for v in ordered
        if window.start_utc < v.effective_from < window.end_utc and v not in at_start
    ]
    used = at_start + inside
    content = {
        "tz": tt.tz,
        "versions": [
            {
                "id": v.id,
                "effective_from": _iso(v.effective_from),
                "default_band": v.default_band,
                "rules": sorted(
                    (r.band, r.weekdays, str(r.start_time), str(r.end_time), r.priority)
                    for r in v.rules
                ),
                "holidays": sorted((str(h.day), h.band) for h in v.holidays),
            }
            for v in used
        ],
    }
    refs = {
        "id": tt.id,
        "name": tt.name,
        # To find the audit entries of the versions that changed.
        "version_ids": [v.id for v in used],
    }
    return Component(digest_of([tt.id, content]), f"timetable {tt.name}", {"timetable": refs})


def _overlaps(
    valid_from: datetime, valid_to: datetime | None, start: datetime, end: datetime
) -> bool:
    return valid_from < end and (valid_to is None or valid_to > start)


def _account_ref(loaded: _Loaded, account_id: int) -> str:
    account = loaded.accounts.get(account_id)
    return account.external_ref if account else f"#{account_id}"


def _owned(loaded: _Loaded, customer_id: int, window: Window) -> list[AccountOwnership]:
    return [
        o
        for o in loaded.ownerships.get(customer_id, [])
        if _overlaps(o.valid_from, o.valid_to, window.read_start, window.end_utc)
    ]


def profiles_component(loaded: _Loaded, customer_id: int, window: Window) -> Component:
    account_ids = sorted({o.account_id for o in _owned(loaded, customer_id, window)})
    links = sorted(
        (
            link
            for a in account_ids
            for link in loaded.assignments.get(a, [])
            if _overlaps(link.valid_from, link.valid_to, window.read_start, window.end_utc)
        ),
        key=lambda link: link.id,
    )
    profiles: list[dict[str, Any]] = []
    for profile_id in sorted({link.profile_id for link in links}):
        cp = loaded.profiles.get(profile_id)
        if cp is None:
            continue
        # The version that rates the period, chosen as the plan builder does.
        version = profile_version_for(cp, window.start_utc, window.end_utc)
        profiles.append(
            {
                "id": cp.id,
                "name": cp.name,
                "version_id": version.id if version else None,
                "content": digest_of(
                    [
                        cp.unit,
                        version.included_quantity if version else None,
                        version.tier_mode if version else None,
                        version.scope if version else None,
                        [(t.from_quantity, t.rate) for t in version.tiers] if version else [],
                    ]
                ),
            }
        )
    assignments = [
        {
            "id": link.id,
            "account_id": link.account_id,
            "account": _account_ref(loaded, link.account_id),
            "profile_id": link.profile_id,
            "valid_from": _iso(max(link.valid_from, window.read_start)),
            "valid_to": _iso(
                link.valid_to if link.valid_to and link.valid_to < window.end_utc else None
            ),
        }
        for link in links
    ]
    return Component(
        digest_of([assignments, profiles]),
        ", ".join(p["name"] for p in profiles) or "no consumption profile",
        {"profiles": profiles, "assignments": assignments},
    )


def applies_to(item: CustomLineItem, month: Month) -> bool:
    """Whether a custom line item falls in the month: one-off on a day of it,
    recurring with [from, to] (both inclusive) touching it."""
    first, after = month.first_day, month.next().first_day
    if item.one_off_date is not None:
        return first <= item.one_off_date < after
    if item.recurring_from is None:
        return False
    return item.recurring_from < after and (item.recurring_to is None or item.recurring_to >= first)


def custom_items_component(loaded: _Loaded, customer_id: int, window: Window) -> Component:
    # Deleted items stay in: deleting one that applied is a change of the period.
    items = [
        {
            "id": i.id,
            "description": i.description,
            "amount": i.amount,
            "currency": i.currency,
            "one_off_date": i.one_off_date,
            "recurring_from": i.recurring_from,
            "recurring_to": i.recurring_to,
            "deleted": i.deleted,
        }
        for i in loaded.items.get(customer_id, [])
        if applies_to(i, window.month)
    ]
    live = [i for i in items if not i["deleted"]]
    return Component(
        digest_of(items),
        f"{len(live)} custom line item(s)",
        {"items": json.loads(json.dumps(items, default=str))},
    )


def ownership_component(loaded: _Loaded, customer_id: int, window: Window) -> Component:
    # Clipped to what the run reads, so closing an interval after the period
    # (a move next month) changes nothing here.
    intervals = []
    for o in _owned(loaded, customer_id, window):
        intervals.append(
            {
                "id": o.id,
                "account_id": o.account_id,
                "account": _account_ref(loaded, o.account_id),
                "from": _iso(max(o.valid_from, window.read_start)),
                "to": _iso(o.valid_to if o.valid_to and o.valid_to < window.end_utc else None),
            }
        )
    key = sorted((i["account_id"], i["from"], i["to"] or "") for i in intervals)
    return Component(
        digest_of(key),
        f"{len({i['account_id'] for i in intervals})} account(s)",
        {"intervals": intervals},
    )


def selection_component(loaded: _Loaded, customer_id: int, window: Window) -> Component:
    """UseOverlapUsageSelection: which usage rows the period selects (docs/rating.md,
    "Period selection"). Only the value counts; where it is set is for the wording."""
    del window  # one value for every period of the customer
    chosen = loaded.selection.get(customer_id) or {
        "value": "false",
        "source": "default",
        "id": None,
    }
    overlap = chosen["value"] == "true"
    return Component(
        digest_of(overlap),
        f"UseOverlapUsageSelection {'true' if overlap else 'false'} ({chosen['source']})",
        {"selection": {"overlap": overlap, "source": chosen["source"], "setting_id": chosen["id"]}},
    )


def usage_component(watermark: int) -> Component:
    return Component(
        f"watermark:{watermark}",
        f"usage imports up to #{watermark}",
        {"watermark": watermark},
    )


_BUILDERS = {
    "contract": contract_component,
    "price_books": price_books_component,
    "timetable": timetable_component,
    "profiles": profiles_component,
    "custom_items": custom_items_component,
    "ownership": ownership_component,
    "selection": selection_component,
}


def inputs_for(
    session: Session,
    pairs: Sequence[tuple[int, str]],
    *,
    usage_watermark: int | None = None,
    fallback_tz: Mapping[tuple[int, str], str] | None = None,
) -> dict[tuple[int, str], Inputs]:
    """The current inputs of every (customer id, period) in `pairs`, each table
    read once for all of them. The period's window is taken in the active
    contract's billing zone (`fallback_tz` when the customer has none now).
    The usage component is included only with a `usage_watermark`."""
    loaded = _load(session, [c for c, _ in pairs])
    now = utcnow()
    out: dict[tuple[int, str], Inputs] = {}
    for customer_id, period in pairs:
        contract = loaded.contracts.get(customer_id)
        tz = contract.billing_tz if contract else (fallback_tz or {}).get((customer_id, period))
        window = window_of(period, tz or "UTC")
        components = {name: build(loaded, customer_id, window) for name, build in _BUILDERS.items()}
        if usage_watermark is not None:
            components["usage"] = usage_component(usage_watermark)
        out[(customer_id, period)] = Inputs(customer_id, period, tz or "UTC", now, components)
    return out


def period_inputs(
    session: Session, customer_id: int, period: str, *, usage_watermark: int
) -> Inputs:
    """The inputs a run of (customer, period) computed now reads; the usage
    component is the highest import id visible to it (`usage_watermark`)."""
    return inputs_for(session, [(customer_id, period)], usage_watermark=usage_watermark)[
        (customer_id, period)
    ]
