"""Consumption profiles (included quantity, volume tiers), their versions,
and their assignment to accounts.

A profile has a unit (minutes for CDRs, units for one cloud SKU) fixed at
creation; its terms are versions effective from an instant. A period is rated
with the version in force at its start (plan_builder.profile_version_for):
allowances are per period, so a version never splits one. An account uses at
most one profile at a time: assignments of one account never overlap (checked
here, and by a database trigger, migration 0012). Every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts.service import get_account
from rerate.auth.permissions import Permission, Principal
from rerate.catalog import owned
from rerate.kit import bounds
from rerate.kit.errors import Conflict, Forbidden, Invalid, NotFound
from rerate.models import (
    AccountOwnership,
    AccountProfile,
    ConsumptionProfile,
    Node,
    ProfileTier,
    ProfileVersion,
)
from rerate.rating import plan as p

MAX_TIERS = 100


@dataclass(frozen=True, slots=True)
class VersionIn:
    """Terms in force from `effective_from`; `tiers` are (from quantity, rate)."""

    effective_from: datetime
    included_quantity: Decimal = Decimal(0)
    tier_mode: str = "none"
    tiers: tuple[tuple[Decimal, Decimal], ...] = ()
    scope: str = ""
    note: str = ""


def create_profile(
    session: Session,
    principal: Principal,
    *,
    owner_node_id: int,
    name: str,
    unit: str,
    version: VersionIn,
) -> ConsumptionProfile:
    owner = owned.owner_node(session, principal, owner_node_id, Permission.MANAGE_CATALOG)
    return new_profile(session, owner, name=name, unit=unit, version=version)


def new_profile(
    session: Session, owner: Node, *, name: str, unit: str, version: VersionIn
) -> ConsumptionProfile:
    """Create a profile for `owner` (the caller has been checked, or is the demo loader)."""
    if unit not in {u.value for u in p.ProfileUnit}:
        raise Invalid(f"unit: minutes or units, got {unit[:20]!r}")
    profile = ConsumptionProfile(name=owned.check_name(name), unit=unit, owner_node_id=owner.id)
    session.add(profile)
    session.flush()
    _write_version(session, profile, version)
    return profile


def get_profile(
    session: Session,
    principal: Principal,
    profile_id: int,
    permission: Permission = Permission.VIEW,
) -> ConsumptionProfile:
    profile = session.get(ConsumptionProfile, profile_id)
    if profile is None:
        raise NotFound("not found")
    owned.owner_node(session, principal, profile.owner_node_id, permission)
    return profile


def list_profiles(
    session: Session, principal: Principal, *, q: str = "", limit: int = 50, offset: int = 0
) -> tuple[list[ConsumptionProfile], int]:
    return owned.page(
        session,
        principal,
        ConsumptionProfile,
        ConsumptionProfile.owner_node_id,
        ConsumptionProfile.name,
        q=q,
        limit=limit,
        offset=offset,
    )


def add_version(
    session: Session, principal: Principal, profile_id: int, version: VersionIn
) -> ProfileVersion:
    profile = get_profile(session, principal, profile_id, Permission.MANAGE_CATALOG)
    return _write_version(session, profile, version)


def _write_version(
    session: Session, profile: ConsumptionProfile, data: VersionIn
) -> ProfileVersion:
    instant = owned.effective_instant(data.effective_from)
    scope = data.scope.strip()
    _validate(profile, data, scope)
    clash = next((v for v in profile.versions if v.effective_from == instant), None)
    if clash is not None:
        raise Conflict(
            f"effective_from: version {clash.version} of {profile.name} already takes effect "
            f"at {instant.isoformat()}; choose another instant"
        )
    version = ProfileVersion(
        profile_id=profile.id,
        version=owned.next_version(profile.versions),
        effective_from=instant,
        included_quantity=data.included_quantity,
        tier_mode=data.tier_mode,
        scope=scope,
        note=data.note.strip()[:400],
    )
    session.add(version)
    session.flush()
    session.add_all(
        ProfileTier(version_id=version.id, from_quantity=q, rate=r) for q, r in data.tiers
    )
    session.flush()
    session.expire(profile, ["versions"])
    session.expire(version, ["tiers"])
    return version


def _validate(profile: ConsumptionProfile, data: VersionIn, scope: str) -> None:
    if data.tier_mode not in {m.value for m in p.TierMode}:
        raise Invalid(f"tier_mode: none, graduated or volume, got {data.tier_mode[:20]!r}")
    if len(data.tiers) > MAX_TIERS:
        raise Invalid(f"tiers: at most {MAX_TIERS}")
    if len(scope) > 200:
        raise Invalid("scope: at most 200 characters")
    try:
        bounds.check_row_amount(data.included_quantity, "included_quantity")
        for i, (q, r) in enumerate(data.tiers, start=1):
            bounds.check_row_amount(q, f"tiers[{i}].from_quantity")
            bounds.check_row_amount(r, f"tiers[{i}].rate")
            if r < 0:
                raise ValueError(f"tiers[{i}].rate: must not be negative")
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    unit = p.ProfileUnit(profile.unit)
    # The engine's own checks (first tier at 0, increasing, whole seconds, a
    # SKU for a units profile), so a stored version is one it can rate.
    try:
        p.ConsumptionProfile(
            id=profile.id,
            name=profile.name,
            unit=unit,
            account_ids=frozenset(),
            included_quantity=data.included_quantity,
            tier_mode=p.TierMode(data.tier_mode),
            tiers=tuple(p.Tier(q, r) for q, r in sorted(data.tiers)),
            scope_destination_group=(scope or None) if unit is p.ProfileUnit.MINUTES else None,
            scope_sku=scope if unit is p.ProfileUnit.UNITS else None,
        )
    except p.PlanError as exc:
        raise Invalid(str(exc).replace(f"profile {profile.id}", "profile")) from None


# --------------------------------------------------------------------------- assignments


def _account_for_change(session: Session, principal: Principal, account_id: int) -> None:
    """The account must be visible, and owned (now or once) by a customer on
    which the caller may manage the catalog."""
    get_account(session, principal, account_id)
    paths = session.scalars(
        select(Node.path)
        .join(AccountOwnership, AccountOwnership.customer_id == Node.id)
        .where(AccountOwnership.account_id == account_id)
    ).all()
    if not any(principal.has(Permission.MANAGE_CATALOG, path) for path in paths):
        raise Forbidden(f"your role does not grant {Permission.MANAGE_CATALOG.value}")


def assign(
    session: Session,
    principal: Principal,
    profile_id: int,
    *,
    account_id: int,
    valid_from: datetime,
    valid_to: datetime | None = None,
) -> AccountProfile:
    profile = get_profile(session, principal, profile_id)
    _account_for_change(session, principal, account_id)
    start = owned.effective_instant(valid_from, "valid_from")
    end = owned.effective_instant(valid_to, "valid_to") if valid_to is not None else None
    if end is not None and end <= start:
        raise Invalid("valid_to: must be after valid_from")
    _refuse_overlap(session, account_id, start, end, keep=None)
    link = AccountProfile(
        account_id=account_id, profile_id=profile.id, valid_from=start, valid_to=end
    )
    session.add(link)
    session.flush()
    return link


def end_assignment(
    session: Session, principal: Principal, assignment_id: int, *, valid_to: datetime
) -> AccountProfile:
    link = session.get(AccountProfile, assignment_id)
    if link is None:
        raise NotFound("not found")
    get_profile(session, principal, link.profile_id)
    _account_for_change(session, principal, link.account_id)
    end = owned.effective_instant(valid_to, "valid_to")
    if end <= link.valid_from:
        raise Invalid(
            f"valid_to: must be after the assignment's start {link.valid_from.isoformat()}"
        )
    if link.valid_to is not None and end > link.valid_to:
        raise Conflict(
            f"valid_to: the assignment already ends at {link.valid_to.isoformat()}; "
            "extend it by a new assignment"
        )
    link.valid_to = end
    session.flush()
    return link


def _refuse_overlap(
    session: Session, account_id: int, start: datetime, end: datetime | None, keep: int | None
) -> None:
    stmt = select(AccountProfile).where(AccountProfile.account_id == account_id)
    for other in session.scalars(stmt):
        if other.id == keep:
            continue
        other_end = other.valid_to
        if (end is None or other.valid_from < end) and (other_end is None or other_end > start):
            until = other_end.isoformat() if other_end else "open-ended"
            raise Conflict(
                f"valid_from: account {account_id} already uses profile {other.profile_id} "
                f"from {other.valid_from.isoformat()} to {until} (assignment {other.id}); "
                "end that one first"
            )


def assignments(session: Session, principal: Principal, profile_id: int) -> list[AccountProfile]:
    profile = get_profile(session, principal, profile_id)
    links = session.scalars(
        select(AccountProfile)
        .where(AccountProfile.profile_id == profile.id)
        .order_by(AccountProfile.account_id, AccountProfile.valid_from)
    ).all()
    visible = []
    for link in links:
        try:
            get_account(session, principal, link.account_id)
        except NotFound:
            continue  # another tenant's account: not named
        visible.append(link)
    return visible


# --------------------------------------------------------------------------- views


def view(profile: ConsumptionProfile, *, versions: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": profile.id,
        "name": profile.name,
        "unit": profile.unit,
        "owner_node_id": profile.owner_node_id,
        "created_at": profile.created_at,
        "current_version": max((v.version for v in profile.versions), default=None),
    }
    if versions:
        out["versions"] = [version_view(v) for v in profile.versions]
    return out


def version_view(v: ProfileVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "version": v.version,
        "effective_from": v.effective_from,
        "included_quantity": owned.decimal_str(v.included_quantity),
        "tier_mode": v.tier_mode,
        "scope": v.scope,
        "note": v.note,
        "created_at": v.created_at,
        "tiers": [
            {"from_quantity": owned.decimal_str(t.from_quantity), "rate": owned.decimal_str(t.rate)}
            for t in sorted(v.tiers, key=lambda t: t.from_quantity)
        ],
    }


def assignment_view(link: AccountProfile) -> dict[str, Any]:
    return {
        "id": link.id,
        "account_id": link.account_id,
        "profile_id": link.profile_id,
        "valid_from": link.valid_from,
        "valid_to": link.valid_to,
    }
