"""Accounts and their effective-dated ownership.

An account belongs to one customer at a time over half-open UTC intervals;
moving it closes the open interval and opens a new one, so history is kept
and each usage row is billed to the customer that owned the account then.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.models import Account, AccountOwnership, Node
from rerate.models.enums import AccountKind, NodeKind
from rerate.tenancy.service import in_scope


def create_account(
    session: Session, kind: AccountKind, *, external_ref: str, name: str = "", platform: str = ""
) -> Account:
    if session.scalar(select(Account.id).where(Account.external_ref == external_ref)):
        raise Conflict(f"an account {external_ref!r} exists already")
    account = Account(
        kind=kind.value, external_ref=external_ref, name=name or external_ref, platform=platform
    )
    session.add(account)
    session.flush()
    return account


def move_account(
    session: Session, account: Account, *, customer: Node, valid_from: datetime
) -> AccountOwnership:
    """Give `account` to `customer` from `valid_from` on, closing the open interval."""
    if customer.kind != NodeKind.CUSTOMER:
        raise Invalid("accounts belong to customers")
    current = session.scalar(
        select(AccountOwnership).where(
            AccountOwnership.account_id == account.id, AccountOwnership.valid_to.is_(None)
        )
    )
    if current is not None:
        if valid_from <= current.valid_from:
            raise Invalid(
                f"account {account.external_ref} is owned from {current.valid_from.isoformat()}; "
                "a move must start later"
            )
        if current.customer_id == customer.id:
            raise Conflict(f"account {account.external_ref} already belongs to {customer.name}")
        current.valid_to = valid_from
    ownership = AccountOwnership(
        account_id=account.id, customer_id=customer.id, valid_from=valid_from
    )
    session.add(ownership)
    session.flush()
    return ownership


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


def _visible_account_ids(principal: Principal, permission: Permission):  # type: ignore[no-untyped-def]
    return (
        select(AccountOwnership.account_id)
        .join(Node, Node.id == AccountOwnership.customer_id)
        .where(in_scope(principal.scope_paths(permission)))
    )


def list_accounts(
    session: Session, principal: Principal, *, customer_id: int | None = None
) -> list[Account]:
    stmt = select(Account).order_by(Account.external_ref)
    if not principal.is_platform():
        stmt = stmt.where(Account.id.in_(_visible_account_ids(principal, Permission.VIEW)))
    if customer_id is not None:
        stmt = stmt.where(
            Account.id.in_(
                select(AccountOwnership.account_id).where(
                    AccountOwnership.customer_id == customer_id
                )
            )
        )
    return list(session.scalars(stmt))


def get_account(session: Session, principal: Principal, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("not found")
    if not principal.is_platform():
        visible = session.scalar(
            _visible_account_ids(principal, Permission.VIEW).where(
                AccountOwnership.account_id == account_id
            )
        )
        if visible is None:
            raise NotFound("not found")
    return account


def ownership_windows(
    session: Session, principal: Principal, permission: Permission
) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """account id -> the half-open intervals in which a customer in the
    caller's `permission` scope owned it: what usage the caller may send or
    correct for that account (platform roles are not limited and do not call this)."""
    stmt = (
        select(AccountOwnership.account_id, AccountOwnership.valid_from, AccountOwnership.valid_to)
        .join(Node, Node.id == AccountOwnership.customer_id)
        .where(in_scope(principal.scope_paths(permission)))
        .order_by(AccountOwnership.account_id, AccountOwnership.valid_from)
    )
    windows: dict[int, list[tuple[datetime, datetime | None]]] = {}
    for account_id, valid_from, valid_to in session.execute(stmt):
        windows.setdefault(account_id, []).append((valid_from, valid_to))
    return windows


def import_lookup(session: Session, principal: Principal) -> dict[str, int]:
    """external_ref -> id of the accounts `principal` may import usage for:
    every account for platform roles, else accounts owned (at any time) by a
    customer in the caller's import scope. Anything else is 'unknown account'."""
    stmt = select(Account.external_ref, Account.id)
    if not principal.is_platform():
        stmt = stmt.where(Account.id.in_(_visible_account_ids(principal, Permission.IMPORT_USAGE)))
    return {ref: account_id for ref, account_id in session.execute(stmt)}
