"""Stale periods: billed, closed periods that a later change made wrong.

Every published run records its inputs (billing/inputs.py). A (customer,
period) is stale when the inputs of its current run differ from the inputs a
run computed now would read; each differing component becomes a reason in
plain words, with the changes that caused it (audit-log entries of the objects
involved, usage imports). A recalculation records the new inputs and so clears
the mark; a run whose inputs did not change is never marked.

Runs recorded before inputs were tracked (`inputs` null) are left alone: what
they were computed from is unknown, and guessing would mark every old period.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.billing import utilities
from rerate.billing.eligibility import is_closed
from rerate.billing.inputs import Component, Inputs, inputs_for, window_of
from rerate.kit.errors import Invalid
from rerate.kit.periods import Month
from rerate.models import AccountOwnership, AuditEntry, BillingRun, CurrentRun, Node, UsageImport
from rerate.models.base import utcnow
from rerate.models.enums import JobType, ReasonCode
from rerate.tenancy.service import get_customer, in_scope
from rerate.usage.store import UsageStore

# The billing-utilities reason each component maps to (a timetable prices
# calls as a deck does; consumption profiles are commercial terms of the
# contract; a moved account is a correction of whose data it is).
REASON_CODES: dict[str, ReasonCode] = {
    "price_books": ReasonCode.PRICE_BOOK_UPDATE,
    "timetable": ReasonCode.PRICE_BOOK_UPDATE,
    "contract": ReasonCode.CONTRACT_RULE_UPDATE,
    "profiles": ReasonCode.CONTRACT_RULE_UPDATE,
    "custom_items": ReasonCode.CUSTOM_LINE_ITEM,
    "ownership": ReasonCode.DATA_CORRECTION,
    # Which usage rows a period selects is a billing term, like a contract rule.
    "selection": ReasonCode.CONTRACT_RULE_UPDATE,
    "usage": ReasonCode.DATA_CORRECTION,
}

MAX_CAUSES = 5
"""Causes shown per reason (the newest); the audit log has the rest."""


@dataclass(frozen=True, slots=True)
class Cause:
    """A change behind a reason: an audit-log entry or a usage import."""

    kind: str  # "audit" or "usage_import"
    id: int
    at: datetime
    actor: str
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class Reason:
    component: str
    code: ReasonCode
    text: str
    causes: tuple[Cause, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "code": self.code.value,
            "text": self.text,
            "causes": [c.as_dict() for c in self.causes],
        }


@dataclass(frozen=True, slots=True)
class StalePeriod:
    customer_id: int
    customer_name: str
    period: str
    run_id: int
    run_version: int
    billed_at: datetime
    reasons: tuple[Reason, ...]

    @property
    def reason_code(self) -> ReasonCode:
        """The one reason a recalculation of this period is submitted with."""
        return dominant_code([r.code for r in self.reasons])

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer": {"id": self.customer_id, "name": self.customer_name},
            "period": self.period,
            "run_id": self.run_id,
            "run_version": self.run_version,
            "billed_at": self.billed_at.isoformat(),
            "reason_code": self.reason_code.value,
            "reasons": [r.as_dict() for r in self.reasons],
        }


def dominant_code(codes: Iterable[ReasonCode]) -> ReasonCode:
    """The most frequent code; ties go to the first in ReasonCode's order."""
    counts = Counter(codes)
    if not counts:
        return ReasonCode.OTHER
    order = list(ReasonCode)
    return max(counts, key=lambda c: (counts[c], -order.index(c)))


# ------------------------------------------------------------------ wording


def _when(iso: str | None) -> str:
    if iso is None:
        return "open end"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class _Explained:
    texts: list[str] = field(default_factory=list)
    objects: set[tuple[str, str]] = field(default_factory=set)

    def add(self, text: str, *objects: tuple[str, object]) -> None:
        self.texts.append(text)
        self.objects.update((t, str(i)) for t, i in objects)


def _price_books(before: Component, now: Component, _ctx: _Context) -> _Explained:
    out = _Explained()
    old = {b["id"]: b for b in before.refs.get("books", [])}
    new = {b["id"]: b for b in now.refs.get("books", [])}
    for book_id, book in new.items():
        if book_id not in old:
            out.add(f"price book '{book['name']}' now prices this period", ("price_books", book_id))
            continue
        was = {v["id"] for v in old[book_id]["versions"]}
        is_ = {v["id"] for v in book["versions"]}
        start = now.refs.get("start_utc")
        for v in book["versions"]:
            if v["id"] in was:
                continue
            inside = start is None or v["effective_from"] > start
            text = (
                f"price book '{book['name']}' version {v['version']} effective "
                f"{_when(v['effective_from'])} was published after this period was billed"
                if inside
                else f"price book '{book['name']}' version {v['version']} effective "
                f"{_when(v['effective_from'])} now applies from the start of this period"
            )
            out.add(text, ("price_book_versions", v["id"]))
        for v in old[book_id]["versions"]:
            if v["id"] not in is_:
                out.add(
                    f"price book '{book['name']}' version {v['version']} no longer applies "
                    "to this period",
                    ("price_book_versions", v["id"]),
                )
    for book_id, book in old.items():
        if book_id not in new:
            out.add(
                f"price book '{book['name']}' no longer prices this period",
                ("price_books", book_id),
            )
    return out


def _contract(before: Component, now: Component, _ctx: _Context) -> _Explained:
    out = _Explained()
    old, new = before.refs.get("contract"), now.refs.get("contract")
    if new is None:
        out.add("the customer has no active contract any more")
        return out
    rules = [("contract_rules", r) for r in {*new["rule_ids"], *(old or {}).get("rule_ids", [])}]
    objects = [("contracts", new["id"]), *rules]
    if old is None or old["id"] != new["id"]:
        out.add(f"contract '{new['name'] or new['id']}' is now the active contract", *objects)
    elif old["rules_version"] != new["rules_version"]:
        out.add(f"contract rules changed to version {new['rules_version']}", *objects)
    else:
        changed = [
            f"{name.replace('_', ' ')} changed from {old['fields'].get(name)} to {value}"
            for name, value in new["fields"].items()
            if old["fields"].get(name) != value
        ]
        if changed:
            out.add("contract " + "; ".join(changed), *objects)
        else:
            out.add(f"contract rules version {new['rules_version']} were edited", *objects)
    return out


def _timetable(before: Component, now: Component, _ctx: _Context) -> _Explained:
    out = _Explained()
    old, new = before.refs.get("timetable"), now.refs.get("timetable")
    objects: list[tuple[str, object]] = []
    for tt in (old, new):
        if tt:
            objects.append(("timetables", tt["id"]))
            objects += [("timetable_versions", i) for i in tt.get("version_ids", [])]
    if new is None:
        out.add("the contract no longer uses a timetable", *objects)
    elif old is None or old["id"] != new["id"]:
        out.add(f"the contract now uses timetable '{new['name']}'", *objects)
    elif set(new.get("version_ids", [])) - set(old.get("version_ids", [])):
        out.add(f"timetable '{new['name']}' has a new version in force in this period", *objects)
    else:
        out.add(f"timetable '{new['name']}' changed (rules, holidays or bands)", *objects)
    return out


def _profiles(before: Component, now: Component, _ctx: _Context) -> _Explained:
    out = _Explained()
    old = {p["id"]: p for p in before.refs.get("profiles", [])}
    new = {p["id"]: p for p in now.refs.get("profiles", [])}
    for pid, profile in new.items():
        if pid in old and old[pid]["content"] != profile["content"]:
            out.add(
                f"consumption profile '{profile['name']}' changed", ("consumption_profiles", pid)
            )
    names = {**{k: v["name"] for k, v in old.items()}, **{k: v["name"] for k, v in new.items()}}

    def key(a: dict[str, Any]) -> tuple[Any, ...]:
        return (a["id"], a["account_id"], a["profile_id"], a["valid_from"], a["valid_to"])

    was = {key(a): a for a in before.refs.get("assignments", [])}
    is_ = {key(a): a for a in now.refs.get("assignments", [])}
    for k in sorted(set(was) ^ set(is_), key=str):
        a = is_.get(k) or was[k]
        name = names.get(a["profile_id"], f"#{a['profile_id']}")
        out.add(
            f"consumption profile '{name}' assignment to account '{a['account']}' changed",
            ("account_profiles", a["id"]),
        )
    if not out.texts:
        out.add("consumption profiles changed")
    return out


def _custom_items(before: Component, now: Component, _ctx: _Context) -> _Explained:
    out = _Explained()
    old = {i["id"]: i for i in before.refs.get("items", [])}
    new = {i["id"]: i for i in now.refs.get("items", [])}
    for item_id in sorted(set(old) | set(new)):
        a, b = old.get(item_id), new.get(item_id)
        if a == b:
            continue
        name = (b or a or {}).get("description", f"#{item_id}")
        if a is None:
            text = f"custom line item '{name}' was added"
        elif b is None:
            text = f"custom line item '{name}' no longer applies to this period"
        elif b["deleted"] and not a["deleted"]:
            text = f"custom line item '{name}' was deleted"
        else:
            text = f"custom line item '{name}' changed"
        out.add(text, ("custom_line_items", item_id))
    return out


def _ownership(before: Component, now: Component, ctx: _Context) -> _Explained:
    out = _Explained()

    def spans(c: Component) -> dict[int, list[tuple[str | None, str | None]]]:
        found: dict[int, list[tuple[str | None, str | None]]] = {}
        for i in c.refs.get("intervals", []):
            found.setdefault(i["account_id"], []).append((i["from"], i["to"]))
        return found

    def refs(c: Component) -> dict[int, dict[str, Any]]:
        return {i["account_id"]: i for i in c.refs.get("intervals", [])}

    old, new = spans(before), spans(now)
    ids = {**refs(before), **refs(now)}
    objects: dict[int, list[tuple[str, object]]] = {a: [] for a in ids}
    for i in (*before.refs.get("intervals", []), *now.refs.get("intervals", [])):
        objects[i["account_id"]].append(("account_ownerships", i["id"]))
    for account_id in sorted(set(old) | set(new)):
        a, b = sorted(old.get(account_id, []), key=str), sorted(new.get(account_id, []), key=str)
        if a == b:
            continue
        ref = ids[account_id]["account"]
        gained = _first_difference(b, a)
        lost = _first_difference(a, b)
        if lost is not None:
            at = lost[1] or lost[0]
            other = ctx.owner_at(account_id, at)
            text = f"account '{ref}' moved to {other or 'no customer'} on {_when(at)}"
        elif gained is not None:
            text = f"account '{ref}' belongs to this customer from {_when(gained[0])}"
        else:  # pragma: no cover - unequal lists always differ somewhere
            text = f"account '{ref}' changed owner"
        out.add(text, *objects[account_id])
    return out


def _first_difference(
    a: list[tuple[str | None, str | None]], b: list[tuple[str | None, str | None]]
) -> tuple[str | None, str | None] | None:
    """The first interval of `a` that `b` does not have, shortened to where
    `b`'s matching interval ends (the instant the account left)."""
    for span in a:
        if span in b:
            continue
        for other in b:
            if other[0] == span[0]:  # same start, ended sooner in `b`
                return (span[0], other[1])
        return span
    return None


def _selection(before: Component, now: Component, _ctx: _Context) -> _Explained:
    out = _Explained()
    old, new = before.refs.get("selection", {}), now.refs.get("selection", {})
    objects = [("settings", s["setting_id"]) for s in (old, new) if s.get("setting_id")]

    def word(overlap: object) -> str:
        return "true" if overlap else "false"

    out.add(
        f"UseOverlapUsageSelection changed from {word(old.get('overlap'))} to "
        f"{word(new.get('overlap'))} ({new.get('source', 'default')}): the period selects "
        "its usage rows differently",
        *objects,
    )
    return out


_EXPLAIN: dict[str, Callable[[Component, Component, _Context], _Explained]] = {
    "price_books": _price_books,
    "contract": _contract,
    "timetable": _timetable,
    "profiles": _profiles,
    "custom_items": _custom_items,
    "ownership": _ownership,
    "selection": _selection,
}


@dataclass
class _Context:
    """Look-ups the wording needs, loaded once for the whole listing."""

    owners: dict[int, list[tuple[datetime, datetime | None, str]]] = field(default_factory=dict)

    def owner_at(self, account_id: int, iso: str | None) -> str | None:
        if iso is None:
            return None
        at = datetime.fromisoformat(iso)
        for start, end, name in self.owners.get(account_id, []):
            if start <= at and (end is None or at < end):
                return name
        return None


def _context(session: Session, account_ids: set[int]) -> _Context:
    ctx = _Context()
    if not account_ids:
        return ctx
    for o, name in session.execute(
        select(AccountOwnership, Node.name)
        .join(Node, Node.id == AccountOwnership.customer_id)
        .where(AccountOwnership.account_id.in_(account_ids))
    ):
        ctx.owners.setdefault(o.account_id, []).append((o.valid_from, o.valid_to, name))
    return ctx


# ------------------------------------------------------------------- usage


@dataclass(frozen=True, slots=True)
class _UsageScope:
    key: tuple[int, str]
    watermark: int
    start_us: int
    end_us: int
    # (account id, from, to) in microseconds: the customer's ownership now.
    intervals: tuple[tuple[int, int, int], ...]


_FOREVER = np.iinfo(np.int64).max


def _us(iso: str | None, default: int) -> int:
    if iso is None:
        return default
    return int(datetime.fromisoformat(iso).timestamp() * 1_000_000)


def usage_changes(
    session: Session, store: UsageStore, scopes: Sequence[_UsageScope]
) -> dict[tuple[int, str], tuple[int, list[int]]]:
    """For each scope: how many usage records of its customer and window were
    written (new, corrected, or moved out of the window) by imports after its
    watermark, and those imports' ids. Only the later imports' files are read."""
    if not scopes:
        return {}
    low = min(s.watermark for s in scopes)
    later = list(session.scalars(select(UsageImport.id).where(UsageImport.id > low)))
    if not later:
        return {}
    rows = store.rows_of_imports(later, ["record_id", "import_id", "account_id", "usage_start"])
    marks = store.superseded_of_imports(later)
    # A record moved away from a day: its new version (same import) names the
    # account; the old instant is known to the day, which is close enough to
    # tell whether it lay in a billed window.
    if marks.num_rows:
        moved = marks.join(
            rows.select(["record_id", "import_id", "account_id"]),
            keys=["record_id", "import_id"],
            join_type="inner",
        )
        day_us = (
            np.asarray(moved.column("day").cast(pa.int32()).to_numpy(), dtype=np.int64)
            * 86_400_000_000
        )
        moved_cols = (
            moved.column("record_id").to_pylist(),
            np.asarray(moved.column("import_id").to_numpy(), dtype=np.int64),
            np.asarray(moved.column("account_id").to_numpy(), dtype=np.int64),
            day_us,
            day_us + 86_400_000_000,
        )
    else:
        moved_cols = (
            [],
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )
    record_ids = rows.column("record_id").to_pylist()
    imports = np.asarray(rows.column("import_id").to_numpy(), dtype=np.int64)
    accounts = np.asarray(rows.column("account_id").to_numpy(), dtype=np.int64)
    starts = np.asarray(rows.column("usage_start").cast(pa.int64()).to_numpy(), dtype=np.int64)
    out: dict[tuple[int, str], tuple[int, list[int]]] = {}
    for scope in scopes:
        keep = np.zeros(len(record_ids), dtype=bool)
        keep_moved = np.zeros(len(moved_cols[0]), dtype=bool)
        for account_id, lo, hi in scope.intervals:
            lo, hi = max(lo, scope.start_us), min(hi, scope.end_us)
            keep |= (accounts == account_id) & (starts >= lo) & (starts < hi)
            keep_moved |= (
                (moved_cols[2] == account_id) & (moved_cols[3] < hi) & (moved_cols[4] > lo)
            )
        keep &= imports > scope.watermark
        keep_moved &= moved_cols[1] > scope.watermark
        changed = {record_ids[i] for i in np.flatnonzero(keep)}
        changed |= {moved_cols[0][i] for i in np.flatnonzero(keep_moved)}
        if changed:
            ids = sorted(
                {int(i) for i in imports[keep]} | {int(i) for i in moved_cols[1][keep_moved]}
            )
            out[scope.key] = (len(changed), ids)
    return out


def _usage_scope(key: tuple[int, str], recorded: Inputs, now: Inputs) -> _UsageScope | None:
    usage = recorded.components.get("usage")
    if usage is None:
        return None
    window = window_of(key[1], now.billing_tz)
    intervals = tuple(
        (i["account_id"], _us(i["from"], 0), _us(i["to"], _FOREVER))
        for i in now.components["ownership"].refs.get("intervals", [])
    )
    return _UsageScope(
        key=key,
        watermark=int(usage.refs["watermark"]),
        start_us=_us(window.read_start.isoformat(), 0),
        end_us=_us(window.end_utc.isoformat(), 0),
        intervals=intervals,
    )


# ------------------------------------------------------------------ listing


def stale_periods(
    session: Session,
    principal: Principal,
    data_dir: Path,
    *,
    customer_id: int | None = None,
    now: datetime | None = None,
) -> list[StalePeriod]:
    """Stale (customer, period) pairs in the caller's subtree, by customer name
    then period (newest first). 404 for a `customer_id` outside the subtree."""
    now = now or utcnow()
    stmt = (
        select(CurrentRun.customer_id, CurrentRun.period, BillingRun, Node.name)
        .join(BillingRun, BillingRun.id == CurrentRun.run_id)
        .join(Node, Node.id == CurrentRun.customer_id)
        .where(
            in_scope(principal.scope_paths(Permission.BILLING_UTILITIES)),
            BillingRun.inputs.is_not(None),
        )
    )
    if customer_id is not None:
        get_customer(session, principal, customer_id, Permission.BILLING_UTILITIES)
        stmt = stmt.where(CurrentRun.customer_id == customer_id)
    recorded: dict[tuple[int, str], Inputs] = {}
    runs: dict[tuple[int, str], tuple[BillingRun, str]] = {}
    for cid, period, run, name in session.execute(stmt):
        if run.inputs is None:  # pragma: no cover - filtered in the query
            continue
        inputs = Inputs.from_json(run.inputs)
        if not is_closed(Month.parse(period), inputs.billing_tz, now):
            continue  # an open period is still being billed; it is never stale
        recorded[(cid, period)] = inputs
        runs[(cid, period)] = (run, name)
    if not recorded:
        return []
    current = inputs_for(
        session,
        sorted(recorded),
        fallback_tz={k: v.billing_tz for k, v in recorded.items()},
    )
    scopes = [
        s for k in sorted(recorded) if (s := _usage_scope(k, recorded[k], current[k])) is not None
    ]
    usage = usage_changes(session, UsageStore(data_dir), scopes)

    found: dict[tuple[int, str], list[tuple[str, _Explained]]] = {}
    moved_accounts: set[int] = set()
    for key in sorted(recorded):
        before, after = recorded[key].components, current[key].components
        for name in _EXPLAIN:
            if name in before and name in after and before[name].digest != after[name].digest:
                found.setdefault(key, []).append((name, _Explained()))
                if name == "ownership":
                    moved_accounts |= {
                        i["account_id"]
                        for c in (before[name], after[name])
                        for i in c.refs.get("intervals", [])
                    }
        if key in usage:
            found.setdefault(key, []).append(("usage", _Explained()))
    ctx = _context(session, moved_accounts)
    for key, entries in found.items():
        before, after = recorded[key].components, current[key].components
        for i, (name, _) in enumerate(entries):
            if name == "usage":
                count, imports = usage[key]
                plural = "row" if count == 1 else "rows"
                entries[i] = (
                    name,
                    _Explained(
                        [f"{count} usage {plural} corrected or late since billing"],
                        {("usage_imports", str(x)) for x in imports},
                    ),
                )
            else:
                after_c = after[name]
                if name == "price_books":
                    window = window_of(key[1], current[key].billing_tz)
                    refs = {**after_c.refs, "start_utc": window.start_utc.isoformat()}
                    after_c = Component(after_c.digest, after_c.description, refs)
                entries[i] = (name, _EXPLAIN[name](before[name], after_c, ctx))
    causes = _causes(session, found, recorded)
    out = []
    for key, entries in found.items():
        run, customer_name = runs[key]
        reasons = tuple(
            Reason(
                component=name,
                code=REASON_CODES[name],
                text=text,
                causes=causes.get((key, name), ()),
            )
            for name, explained in entries
            for text in (explained.texts or [f"{name.replace('_', ' ')} changed"])
        )
        out.append(
            StalePeriod(
                customer_id=key[0],
                customer_name=customer_name,
                period=key[1],
                run_id=run.id,
                run_version=run.version,
                billed_at=run.published_at or run.created_at,
                reasons=reasons,
            )
        )
    out.sort(key=lambda s: (s.customer_name, s.customer_id, _desc(s.period)))
    return out


def _desc(period: str) -> tuple[int, int]:
    month = Month.parse(period)
    return (-month.year, -month.month)


def _causes(
    session: Session,
    found: dict[tuple[int, str], list[tuple[str, _Explained]]],
    recorded: dict[tuple[int, str], Inputs],
) -> dict[tuple[tuple[int, str], str], tuple[Cause, ...]]:
    """The audit entries (after the run read its inputs) of every object a
    reason names, and the usage imports: one query for each, for all reasons."""
    audited = {
        o
        for entries in found.values()
        for _, e in entries
        for o in e.objects
        if o[0] != "usage_imports"
    }
    import_ids = {
        int(o[1])
        for entries in found.values()
        for _, e in entries
        for o in e.objects
        if o[0] == "usage_imports"
    }
    since = min((recorded[k].computed_at for k in found), default=utcnow()) - timedelta(seconds=1)
    entries: dict[tuple[str, str], list[AuditEntry]] = {}
    if audited:
        types = {t for t, _ in audited}
        ids = {i for _, i in audited}
        for entry in session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.object_type.in_(types),
                AuditEntry.object_id.in_(ids),
                AuditEntry.at >= since,
            )
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        ):
            entries.setdefault((entry.object_type, entry.object_id), []).append(entry)
    imports = (
        {
            u.id: u
            for u in session.scalars(select(UsageImport).where(UsageImport.id.in_(import_ids)))
        }
        if import_ids
        else {}
    )
    out: dict[tuple[tuple[int, str], str], tuple[Cause, ...]] = {}
    for key, reasons in found.items():
        after = recorded[key].computed_at
        for name, explained in reasons:
            causes: list[Cause] = []
            for obj in explained.objects:
                if obj[0] == "usage_imports":
                    u = imports.get(int(obj[1]))
                    if u is not None:
                        causes.append(
                            Cause(
                                "usage_import",
                                u.id,
                                u.created_at,
                                f"user #{u.actor_id}" if u.actor_id else "system",
                                f"usage import #{u.id} ({u.file_name}): {u.rows_new} new, "
                                f"{u.rows_corrected} corrected",
                            )
                        )
                    continue
                for e in entries.get(obj, []):
                    if e.at >= after:
                        causes.append(
                            Cause(
                                "audit",
                                e.id,
                                e.at,
                                e.actor,
                                f"{e.action} {e.object_type} {e.object_id}"
                                + (f": {e.reason}" if e.reason else ""),
                            )
                        )
            unique = {(c.kind, c.id): c for c in causes}
            newest = sorted(unique.values(), key=lambda c: (c.at, c.id), reverse=True)
            out[(key, name)] = tuple(newest[:MAX_CAUSES])
    return out


# ----------------------------------------------------------- recalculation


@dataclass(frozen=True, slots=True)
class StaleSubmission:
    stale: list[StalePeriod]
    submissions: list[utilities.Submission]


def recalculate_stale(
    session: Session,
    principal: Principal,
    data_dir: Path,
    *,
    customer_id: int | None = None,
    pairs: Sequence[tuple[int, str]] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> StaleSubmission:
    """Submit the recalculations of the stale periods (all the caller sees, a
    customer's, or the chosen (customer, period) pairs): one submission per
    customer with its periods, the reason the periods' reasons map to, and an
    explanation naming them. A chosen pair that is not stale is refused (422)
    and nothing is queued; the caller commits."""
    stale = stale_periods(session, principal, data_dir, customer_id=customer_id, now=now)
    if pairs is not None:
        wanted = set(pairs)
        known = {(s.customer_id, s.period) for s in stale}
        missing = sorted(wanted - known)
        if missing:
            cid, period = missing[0]
            raise Invalid(f"period {period} of customer {cid} is not out of date")
        stale = [s for s in stale if (s.customer_id, s.period) in wanted]
    by_customer: dict[int, list[StalePeriod]] = {}
    for s in stale:
        by_customer.setdefault(s.customer_id, []).append(s)
    submissions = []
    for cid, periods in sorted(by_customer.items()):
        code = dominant_code(r.code for s in periods for r in s.reasons)
        submissions.append(
            utilities.submit(
                session,
                principal,
                JobType.RECALCULATION,
                customer_id=cid,
                periods=[s.period for s in periods],
                reason=code,
                explanation=_explanation(periods),
                dry_run=dry_run,
            )
        )
    return StaleSubmission(stale=stale, submissions=submissions)


def _explanation(periods: Sequence[StalePeriod]) -> str:
    parts = [f"{s.period}: {'; '.join(r.text for r in s.reasons)}" for s in periods]
    text = "Out of date since billing. " + " | ".join(parts)
    return text if len(text) <= 2000 else text[:1997] + "..."
