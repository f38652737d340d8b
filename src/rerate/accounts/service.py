"""Accounts and their effective-dated ownership.

An account belongs to one customer at a time over half-open UTC intervals;
moving it closes the open interval and opens a new one, so history is kept
and each usage row is billed to the customer that owned the account then.
Intervals never overlap: the service refuses first (409 in plain words), the
database is the last guard (migration 0010).

An account is created under a seller (`owner_node_id`: the platform, a
distributor or a partner); its `external_ref` is unique per seller, and
importers resolve refs within the importing caller's scope (`import_lookup`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from rerate.accounts.billed import BilledPeriod, billed_periods
from rerate.auth.permissions import Permission, Principal
from rerate.kit.errors import Conflict, Forbidden, Invalid, NotFound
from rerate.models import Account, AccountOwnership, Node
from rerate.models.enums import AccountKind, NodeKind
from rerate.tenancy.service import get_customer, get_node, in_scope

BEGINNING_OF_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _root_node_id(session: Session) -> int:
    root = session.scalar(select(func.min(Node.id)).where(Node.parent_id.is_(None)))
    if root is None:
        raise Invalid("create the platform node before any account")
    return int(root)


def create_account(
    session: Session,
    kind: AccountKind,
    *,
    external_ref: str,
    owner_node_id: int | None = None,
    name: str = "",
    platform: str = "",
) -> Account:
    """Create an account under the seller `owner_node_id` (default: the
    platform root). No permission check: callers acting for a principal use
    `create`."""
    owner = owner_node_id if owner_node_id is not None else _root_node_id(session)
    taken = session.scalar(
        select(Account.id).where(
            Account.owner_node_id == owner, Account.external_ref == external_ref
        )
    )
    if taken:
        raise Conflict(
            f"external_ref: an account {external_ref!r} exists already under this seller",
            field="external_ref",
        )
    account = Account(
        kind=kind.value,
        external_ref=external_ref,
        owner_node_id=owner,
        name=name or external_ref,
        platform=platform,
    )
    session.add(account)
    session.flush()
    return account


def _when(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat()


def _check_free(
    session: Session, account: Account, valid_from: datetime, valid_to: datetime | None
) -> None:
    """409 when `[valid_from, valid_to)` overlaps an interval of the account."""
    stmt = select(AccountOwnership, Node.name).join(Node, Node.id == AccountOwnership.customer_id)
    stmt = stmt.where(
        AccountOwnership.account_id == account.id,
        or_(AccountOwnership.valid_to.is_(None), AccountOwnership.valid_to > valid_from),
    )
    if valid_to is not None:
        stmt = stmt.where(AccountOwnership.valid_from < valid_to)
    clash = session.execute(stmt.order_by(AccountOwnership.valid_from).limit(1)).first()
    if clash is None:
        return
    held, owner = clash
    until = f"until {_when(held.valid_to)}" if held.valid_to else "with no end"
    raise Conflict(
        f"account {account.external_ref} already has an owner ({owner}) from "
        f"{_when(held.valid_from)} {until}; ownership intervals never overlap: "
        "move the account instead, or link it from a later instant",
        field="valid_from",
    )


def link_account(
    session: Session, account: Account, *, customer: Node, valid_from: datetime
) -> AccountOwnership:
    """Give an account with no owner from `valid_from` on to `customer`."""
    if customer.kind != NodeKind.CUSTOMER:
        raise Invalid("customer_id: accounts belong to customers", field="customer_id")
    _check_free(session, account, valid_from, None)
    ownership = AccountOwnership(
        account_id=account.id, customer_id=customer.id, valid_from=valid_from
    )
    session.add(ownership)
    session.flush()
    return ownership


def move_account(
    session: Session, account: Account, *, customer: Node, valid_from: datetime
) -> AccountOwnership:
    """Give `account` to `customer` from `valid_from` on, closing the open
    interval (or linking it, when it has none)."""
    if customer.kind != NodeKind.CUSTOMER:
        raise Invalid("customer_id: accounts belong to customers", field="customer_id")
    current = _current(session, account)
    if current is None:
        return link_account(session, account, customer=customer, valid_from=valid_from)
    if valid_from <= current.valid_from:
        raise Invalid(
            f"valid_from: account {account.external_ref} is owned from "
            f"{_when(current.valid_from)}; a move must start later",
            field="valid_from",
        )
    if current.customer_id == customer.id:
        raise Conflict(f"account {account.external_ref} already belongs to {customer.name}")
    current.valid_to = valid_from
    # Closed before the next interval opens: the database checks each row.
    session.flush()
    ownership = AccountOwnership(
        account_id=account.id, customer_id=customer.id, valid_from=valid_from
    )
    session.add(ownership)
    session.flush()
    return ownership


def _current(session: Session, account: Account) -> AccountOwnership | None:
    return session.scalar(
        select(AccountOwnership).where(
            AccountOwnership.account_id == account.id, AccountOwnership.valid_to.is_(None)
        )
    )


def ownerships_overlapping(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    customer_id: int | None = None,
    account_ids: list[int] | None = None,
) -> list[AccountOwnership]:
    stmt = select(AccountOwnership).where(
        AccountOwnership.valid_from < end,
        (AccountOwnership.valid_to.is_(None)) | (AccountOwnership.valid_to > start),
    )
    if customer_id is not None:
        stmt = stmt.where(AccountOwnership.customer_id == customer_id)
    if account_ids is not None:
        stmt = stmt.where(AccountOwnership.account_id.in_(account_ids))
    return list(
        session.scalars(stmt.order_by(AccountOwnership.account_id, AccountOwnership.valid_from))
    )


# --- Acting for a principal -------------------------------------------------


def _owned_in_scope(paths: list[str]) -> Select[Any]:
    return (
        select(AccountOwnership.account_id)
        .join(Node, Node.id == AccountOwnership.customer_id)
        .where(in_scope(paths))
    )


def _sold_in_scope(paths: list[str]) -> Select[Any]:
    return select(Account.id).join(Node, Node.id == Account.owner_node_id).where(in_scope(paths))


def _visible_ids(principal: Principal, permission: Permission) -> Any:
    """Accounts sold under, or owned at any time by a customer of, the
    caller's `permission` scope."""
    paths = principal.scope_paths(permission)
    return _sold_in_scope(paths).union(_owned_in_scope(paths))


def _listing(
    principal: Principal, *, customer_id: int | None, q: str | None, kind: AccountKind | None
) -> Select[Any]:
    stmt = select(Account)
    if not principal.is_platform():
        stmt = stmt.where(Account.id.in_(_visible_ids(principal, Permission.VIEW)))
    if customer_id is not None:
        stmt = stmt.where(
            Account.id.in_(
                select(AccountOwnership.account_id).where(
                    AccountOwnership.customer_id == customer_id
                )
            )
        )
    if kind is not None:
        stmt = stmt.where(Account.kind == kind.value)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(func.lower(Account.external_ref).like(like), func.lower(Account.name).like(like))
        )
    return stmt


def list_accounts(
    session: Session,
    principal: Principal,
    *,
    customer_id: int | None = None,
    q: str | None = None,
    kind: AccountKind | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Account]:
    stmt = _listing(principal, customer_id=customer_id, q=q, kind=kind)
    stmt = stmt.order_by(Account.external_ref, Account.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def count_accounts(
    session: Session,
    principal: Principal,
    *,
    customer_id: int | None = None,
    q: str | None = None,
    kind: AccountKind | None = None,
) -> int:
    stmt = _listing(principal, customer_id=customer_id, q=q, kind=kind)
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def get_account(
    session: Session,
    principal: Principal,
    account_id: int,
    permission: Permission = Permission.VIEW,
) -> Account:
    """The account if the caller may see it (404 otherwise) and holds
    `permission` on it (403 otherwise): on its seller or its current owner."""
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("not found")
    if principal.is_platform():
        principal.require(permission)
        return account
    visible = session.scalar(
        select(Account.id).where(
            Account.id == account_id, Account.id.in_(_visible_ids(principal, Permission.VIEW))
        )
    )
    if visible is None:
        raise NotFound("not found")
    if permission != Permission.VIEW:
        paths = [session.get(Node, account.owner_node_id)]
        current = _current(session, account)
        if current is not None:
            paths.append(session.get(Node, current.customer_id))
        if not any(n is not None and principal.has(permission, n.path) for n in paths):
            raise Forbidden(f"your role does not grant {permission.value} on this account")
    return account


def seller_for(session: Session, principal: Principal, owner_node_id: int | None) -> Node:
    """The seller an account is created under: the node given, else the one
    node on which the caller manages tenancy (422 when that is not one node)."""
    if owner_node_id is None:
        grants = {
            g.node_id
            for g in principal.grants
            if principal.has(Permission.MANAGE_TENANCY, g.node_path)
        }
        if len(grants) != 1:
            raise Invalid(
                "owner_node_id: say under which reseller or distributor the account is created",
                field="owner_node_id",
            )
        owner_node_id = grants.pop()
    node = get_node(session, principal, owner_node_id, Permission.MANAGE_TENANCY)
    if node.kind == NodeKind.CUSTOMER:
        raise Invalid(
            "owner_node_id: accounts are created under a seller (platform, distributor or "
            "reseller), not under a customer; link the account to the customer",
            field="owner_node_id",
        )
    return node


def create(
    session: Session,
    principal: Principal,
    kind: AccountKind,
    *,
    external_ref: str,
    owner_node_id: int | None = None,
    name: str = "",
    platform: str = "",
) -> Account:
    seller = seller_for(session, principal, owner_node_id)
    if not external_ref.strip():
        raise Invalid("external_ref: give the id the sources use", field="external_ref")
    return create_account(
        session,
        kind,
        external_ref=external_ref.strip(),
        owner_node_id=seller.id,
        name=name.strip(),
        platform=platform.strip(),
    )


@dataclass(frozen=True, slots=True)
class OwnershipChange:
    """A link or a move, and the billed (customer, period) pairs it affects."""

    account: Account
    ownership: AccountOwnership
    previous_customer_id: int | None
    affected: list[BilledPeriod]


def link(
    session: Session,
    principal: Principal,
    account_id: int,
    *,
    customer_id: int,
    valid_from: datetime,
) -> OwnershipChange:
    account = get_account(session, principal, account_id, Permission.MANAGE_TENANCY)
    customer = get_customer(session, principal, customer_id, Permission.MANAGE_TENANCY)
    ownership = link_account(session, account, customer=customer, valid_from=valid_from)
    affected = billed_periods(session, [customer.id], valid_from, None)
    return OwnershipChange(account, ownership, None, affected)


def move(
    session: Session,
    principal: Principal,
    account_id: int,
    *,
    customer_id: int,
    valid_from: datetime,
) -> OwnershipChange:
    account = get_account(session, principal, account_id, Permission.MANAGE_TENANCY)
    customer = get_customer(session, principal, customer_id, Permission.MANAGE_TENANCY)
    current = _current(session, account)
    if current is None:
        raise Conflict(
            f"account {account.external_ref} has no current owner to move it from; link it",
            field="customer_id",
        )
    previous = current.customer_id
    ownership = move_account(session, account, customer=customer, valid_from=valid_from)
    # The moved interval is [valid_from, end of the old open interval) = open.
    affected = billed_periods(session, [previous, customer.id], valid_from, None)
    return OwnershipChange(account, ownership, previous, affected)


def history(account: Account) -> list[AccountOwnership]:
    return list(account.ownerships)


# --- Imports ----------------------------------------------------------------


def ownership_windows(
    session: Session, principal: Principal, permission: Permission
) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """account id -> the half-open intervals in which the caller may send or
    correct usage for the account (platform roles are not limited and do not
    call this): those in which a customer in the caller's `permission` scope
    owned it, and, for accounts sold under that scope, those in which no
    customer owned it (nobody else's usage: it waits for an owner)."""
    paths = principal.scope_paths(permission)
    stmt = (
        select(AccountOwnership.account_id, AccountOwnership.valid_from, AccountOwnership.valid_to)
        .join(Node, Node.id == AccountOwnership.customer_id)
        .where(in_scope(paths))
        .order_by(AccountOwnership.account_id, AccountOwnership.valid_from)
    )
    windows: dict[int, list[tuple[datetime, datetime | None]]] = {}
    for account_id, valid_from, valid_to in session.execute(stmt):
        windows.setdefault(account_id, []).append((valid_from, valid_to))
    sold = [int(a) for a in session.scalars(_sold_in_scope(paths))]
    for account_id, gaps in unowned_intervals(session, sold).items():
        windows.setdefault(account_id, []).extend(gaps)
    return windows


def all_ownerships(
    session: Session, account_ids: Iterable[int]
) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """account id -> every ownership interval, in time order."""
    ids = list(account_ids)
    out: dict[int, list[tuple[datetime, datetime | None]]] = {a: [] for a in ids}
    if not ids:
        return out
    rows = session.execute(
        select(AccountOwnership.account_id, AccountOwnership.valid_from, AccountOwnership.valid_to)
        .where(AccountOwnership.account_id.in_(ids))
        .order_by(AccountOwnership.account_id, AccountOwnership.valid_from)
    )
    for account_id, valid_from, valid_to in rows:
        out[account_id].append((valid_from, valid_to))
    return out


def unowned_intervals(
    session: Session, account_ids: Iterable[int]
) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """account id -> the intervals in which no customer owned it."""
    gaps: dict[int, list[tuple[datetime, datetime | None]]] = {}
    for account_id, spans in all_ownerships(session, account_ids).items():
        cursor: datetime | None = BEGINNING_OF_TIME
        mine: list[tuple[datetime, datetime | None]] = []
        for valid_from, valid_to in spans:
            if cursor is not None and valid_from > cursor:
                mine.append((cursor, valid_from))
            cursor = valid_to
        if cursor is not None:
            mine.append((cursor, None))
        gaps[account_id] = mine
    return gaps


@dataclass(frozen=True, slots=True)
class ImportLookup:
    """external_ref -> account id for the refs one account answers to in the
    caller's scope; `ambiguous`: refs several accounts in that scope use."""

    refs: dict[str, int]
    ambiguous: dict[str, list[int]]


def import_lookup(session: Session, principal: Principal) -> ImportLookup:
    """The accounts `principal` may import usage for, by external ref: every
    account for platform roles, else accounts sold under or owned (at any
    time) by a customer of the caller's import scope. Anything else is
    'unknown account'; a ref two of those accounts share is ambiguous."""
    stmt = select(Account.external_ref, Account.id)
    if not principal.is_platform():
        stmt = stmt.where(Account.id.in_(_visible_ids(principal, Permission.IMPORT_USAGE)))
    found: dict[str, list[int]] = {}
    for ref, account_id in session.execute(stmt.order_by(Account.id)):
        found.setdefault(ref, []).append(account_id)
    return ImportLookup(
        refs={ref: ids[0] for ref, ids in found.items() if len(ids) == 1},
        ambiguous={ref: ids for ref, ids in found.items() if len(ids) > 1},
    )
