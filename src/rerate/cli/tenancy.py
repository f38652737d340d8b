"""`rerate nodes ...` (distributors, resellers, customers) and `rerate customers ...`.

`rerate customers` is `rerate nodes` restricted to customers: the same
commands without `--kind`, since customers are what people look up most.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from rerate.cli.acting import AS_USER, REASON, acting, fail
from rerate.models.enums import NodeKind
from rerate.tenancy.fields import plain_rate

if TYPE_CHECKING:
    from rerate.models import Node

nodes_app = typer.Typer(
    help="The tenancy tree: distributors, resellers (kind partner) and customers.",
    no_args_is_help=True,
)
customers_app = typer.Typer(help="Customers (nodes of kind customer).", no_args_is_help=True)

_CLEAR = "-"  # `--currency -` clears an optional field


def _fields(
    legal_name: str | None,
    address: str | None,
    tax_id: str | None,
    currency: str | None,
    time_zone: str | None,
    tax_rate: str | None,
    payment_terms_days: int | None,
) -> dict[str, Any]:
    given = {
        "legal_name": legal_name,
        "address": address.replace("\\n", "\n") if address is not None else None,
        "tax_id": tax_id,
        "currency": currency,
        "time_zone": time_zone,
        "tax_rate": tax_rate,
        "payment_terms_days": payment_terms_days,
    }
    return {k: (None if v == _CLEAR else v) for k, v in given.items() if v is not None}


LEGAL_NAME = typer.Option(None, help="Legal name printed on invoices.")
ADDRESS = typer.Option(None, help="Postal address; '\\n' separates lines.")
TAX_ID = typer.Option(None, help="Tax (VAT) id.")
CURRENCY = typer.Option(None, help="Default currency, ISO 4217 (EUR); '-' clears.")
TIME_ZONE = typer.Option(None, help="Billing time zone, IANA (Europe/Paris); '-' clears.")
TAX_RATE = typer.Option(None, help="Customers: tax rate, 0 <= rate < 1 (0.20 = 20 %).")
TERMS = typer.Option(None, min=0, max=365, help="Payment terms in days.")


def _row(node: Node, parent_name: str) -> str:
    return "\t".join(
        [
            str(node.id),
            node.kind,
            node.name,
            f"{node.parent_id or ''}",
            parent_name,
            node.currency or "",
            "active" if node.active else "inactive",
        ]
    )


def _show(node: Node) -> None:
    typer.echo(
        json.dumps(
            {
                "id": node.id,
                "kind": node.kind,
                "name": node.name,
                "parent_id": node.parent_id,
                "legal_name": node.legal_name,
                "address": node.address,
                "tax_id": node.tax_id,
                "currency": node.currency,
                "time_zone": node.time_zone,
                "tax_rate": None
                if node.tax_rate is None
                else format(plain_rate(node.tax_rate), "f"),
                "payment_terms_days": node.payment_terms_days,
                "active": node.active,
            },
            indent=2,
        )
    )


def _checked(node: Node, kind: NodeKind | None) -> Node:
    if kind is not None and node.kind != kind.value:
        raise fail(f"node {node.id} is a {node.kind}, not a {kind.value}")
    return node


def _create(kind: NodeKind, parent: int, name: str, as_user: str, reason: str, **f: Any) -> None:
    from rerate.tenancy import service

    with acting(as_user, reason=reason, write=True) as (session, principal):
        node = service.add_node(session, principal, kind, parent_id=parent, name=name, **f)
        node_id = node.id
    typer.echo(f"created {kind.value} {name} (id {node_id})")


def _list(
    kind: NodeKind | None,
    parent: int | None,
    q: str,
    inactive: bool,
    limit: int,
    offset: int,
    as_user: str,
) -> None:
    from rerate.models import Node
    from rerate.tenancy import service

    with acting(as_user) as (session, principal):
        page = service.search_nodes(
            session,
            principal,
            kind=kind,
            parent_id=parent,
            q=q,
            include_inactive=inactive,
            limit=limit,
            offset=offset,
        )
        typer.echo("id\tkind\tname\tparent_id\tparent\tcurrency\tstatus")
        for node in page.items:
            parent_node = session.get(Node, node.parent_id) if node.parent_id else None
            typer.echo(_row(node, parent_node.name if parent_node else ""))
    typer.echo(f"{len(page.items)} of {page.total}", err=True)


def _get(kind: NodeKind | None, node_id: int, as_user: str) -> None:
    from rerate.auth.permissions import Permission
    from rerate.tenancy import service

    with acting(as_user) as (session, principal):
        _show(_checked(service.get_node(session, principal, node_id, Permission.VIEW), kind))


def _update(kind: NodeKind | None, node_id: int, as_user: str, reason: str, **changes: Any) -> None:
    from rerate.auth.permissions import Permission
    from rerate.tenancy import service

    if not changes:
        raise fail("nothing to change: give --name or a field option")
    with acting(as_user, reason=reason, write=True) as (session, principal):
        _checked(service.get_node(session, principal, node_id, Permission.VIEW), kind)
        node = service.update_node(session, principal, node_id, changes)
        _show(node)


def _set_active(
    kind: NodeKind | None, node_id: int, as_user: str, reason: str, active: bool
) -> None:
    from rerate.auth.permissions import Permission
    from rerate.tenancy import service

    with acting(as_user, reason=reason, write=True) as (session, principal):
        _checked(service.get_node(session, principal, node_id, Permission.VIEW), kind)
        node = service.set_node_active(session, principal, node_id, active=active)
        name = node.name
    typer.echo(f"{name} (id {node_id}) {'activated' if active else 'deactivated'}")


def _register(app: typer.Typer, fixed: NodeKind | None) -> None:
    noun = fixed.value if fixed else "node"

    @app.command("create")
    def create(
        name: str = typer.Argument(..., help=f"The {noun}'s name (unique among its siblings)."),
        parent: int = typer.Option(..., "--parent", help="Id of the parent node."),
        kind: NodeKind | None = typer.Option(
            None,
            help="distributor, partner (a reseller) or customer (required).",
            hidden=fixed is not None,
        ),
        legal_name: str | None = LEGAL_NAME,
        address: str | None = ADDRESS,
        tax_id: str | None = TAX_ID,
        currency: str | None = CURRENCY,
        time_zone: str | None = TIME_ZONE,
        tax_rate: str | None = TAX_RATE,
        payment_terms_days: int | None = TERMS,
        as_user: str = AS_USER,
        reason: str = REASON,
    ) -> None:
        """Create a node under PARENT (which you must be allowed to manage)."""
        f = _fields(legal_name, address, tax_id, currency, time_zone, tax_rate, payment_terms_days)
        chosen = fixed or kind
        if chosen is None:
            raise fail("--kind is required: distributor, partner or customer")
        _create(chosen, parent, name, as_user, reason, **f)

    @app.command("list")
    def list_(
        q: str = typer.Option("", "--q", "-q", help="Search name, legal name, tax id."),
        kind: NodeKind | None = typer.Option(None, hidden=fixed is not None),
        parent: int | None = typer.Option(None, "--parent", help="Only children of this node."),
        include_inactive: bool = typer.Option(False, help="Also deactivated ones."),
        limit: int = typer.Option(100, min=1, max=10_000),
        offset: int = typer.Option(0, min=0),
        as_user: str = AS_USER,
    ) -> None:
        """Ids, kinds, names, parents, currencies and status (tab-separated)."""
        _list(fixed or kind, parent, q, include_inactive, limit, offset, as_user)

    @app.command("show")
    def show(node_id: int, as_user: str = AS_USER) -> None:
        """Every field, as JSON."""
        _get(fixed, node_id, as_user)

    @app.command("update")
    def update(
        node_id: int,
        name: str | None = typer.Option(None, help="A new name."),
        legal_name: str | None = LEGAL_NAME,
        address: str | None = ADDRESS,
        tax_id: str | None = TAX_ID,
        currency: str | None = CURRENCY,
        time_zone: str | None = TIME_ZONE,
        tax_rate: str | None = TAX_RATE,
        payment_terms_days: int | None = TERMS,
        as_user: str = AS_USER,
        reason: str = REASON,
    ) -> None:
        """Rename or edit; only the options given change ('-' clears a field)."""
        f = _fields(legal_name, address, tax_id, currency, time_zone, tax_rate, payment_terms_days)
        if name is not None:
            f["name"] = name
        _update(fixed, node_id, as_user, reason, **f)

    @app.command("deactivate")
    def deactivate(node_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
        """Nothing new under it, its users cannot log in; history stays readable."""
        _set_active(fixed, node_id, as_user, reason, False)

    @app.command("activate")
    def activate(node_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
        """Reactivate a deactivated node."""
        _set_active(fixed, node_id, as_user, reason, True)


_register(nodes_app, None)
_register(customers_app, NodeKind.CUSTOMER)


@customers_app.command("balance")
def customer_balance(customer_id: int, as_user: str = AS_USER) -> None:
    """What a customer owes and holds, per currency.

    Columns: currency, invoiced, paid, credited, outstanding, overdue, credit,
    open credit notes."""
    from rerate.invoicing import payment_endpoints

    with acting(as_user) as (session, principal):
        body = payment_endpoints.customer_balance(customer_id, session=session, principal=principal)
    for row in body["items"]:
        typer.echo(
            "\t".join(
                str(row[k])
                for k in (
                    "currency",
                    "invoiced",
                    "paid",
                    "credited",
                    "outstanding",
                    "overdue",
                    "credit",
                    "open_credit_notes",
                )
            )
        )
