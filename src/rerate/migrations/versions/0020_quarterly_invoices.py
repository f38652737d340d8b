"""quarterly invoices: projection and override on the invoice, true-up links,
invoice type true_up, the contract's invoice type (monthly or quarterly)

A quarterly invoice stores how its charge was projected (method, basis months
and amounts, the projection) and an optional override with its reason; these
are frozen at issue like the amounts, so the frozen-fields guard of 0017 is
recreated with them. Its true-up is written once (when, the actual months, the
document that invoiced or credited the difference): a new guard refuses any
later change. A true-up invoice is an invoice of type `true_up` (one live per
customer and quarter, like any invoice). SQLite's table rebuild drops the
triggers on `invoices`, so all of them are recreated, as 0017 does.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROZEN = "('issued','paid','cancelled','credited')"
_FORWARD = (
    "(OLD.status = 'issued' AND NEW.status IN ('paid','cancelled','credited')) "
    "OR (OLD.status = 'paid' AND NEW.status = 'credited')"
)
_OLD_TYPE = "type in ('monthly','quarterly','credit_note')"
_NEW_TYPE = "type in ('monthly','quarterly','credit_note','true_up')"
_LIVE = "status in ('draft','ready','issued','paid') and type <> 'credit_note'"
_AMOUNTS_CHANGED = (
    "NEW.subtotal <> OLD.subtotal OR NEW.tax <> OLD.tax OR NEW.total <> OLD.total "
    "OR NEW.currency <> OLD.currency OR NEW.customer_id <> OLD.customer_id "
    "OR NEW.period <> OLD.period OR COALESCE(NEW.number, '') <> COALESCE(OLD.number, '')"
)
# What a quarterly invoice states about its projection is part of what was sent.
_PROJECTION_FIELDS = (
    "projection_method",
    "projection_basis",
    "projected_amount",
    "override_amount",
    "override_reason",
    "true_up_of_id",
)
# Written once, by the true-up, possibly after issue; never changed after.
_TRUE_UP_FIELDS = ("trued_up_at", "true_up_actuals", "true_up_actual", "trued_up_by_id")
_STATUS_MESSAGE = "an issued invoice only moves to paid, cancelled or credited"
_EDIT_MESSAGE = "an issued invoice is never edited or deleted"
_TRUE_UP_MESSAGE = "a true-up is written once and never changed"
_HAS_REVERSAL = {
    "sqlite": "EXISTS (SELECT 1 FROM payments WHERE payments.invoice_id = OLD.id "
    "AND payments.reverses_id IS NOT NULL)",
    "postgresql": "rerate_has_reversal(OLD.id)",
}
_INVOICE_TRIGGERS = (
    "invoices_frozen",
    "invoices_status_forward",
    "invoices_dates_frozen",
    "invoices_no_delete",
    "invoices_true_up_once",
)


def _guards(*, quarterly: bool) -> None:
    """(Re)create every guard on invoices and invoice lines; `quarterly`: with
    the projection fields frozen and the true-up written once (0020), else as
    0017 left them."""
    dialect = op.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    for name in _INVOICE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON invoices"))
    distinct = "IS NOT" if sqlite else "IS DISTINCT FROM"
    reopened = (
        "(OLD.status = 'paid' AND NEW.status = 'issued' AND NEW.paid_at IS NULL "
        f"AND {_HAS_REVERSAL[dialect]})"
    )
    moves_back = (
        f"OLD.status IN {_FROZEN} AND NEW.status <> OLD.status AND NOT ({_FORWARD} OR {reopened})"
    )
    dates_changed = (
        f"NEW.issued_at {distinct} OLD.issued_at "
        f"OR ((OLD.paid_at IS NOT NULL AND NEW.paid_at {distinct} OLD.paid_at) "
        f"AND NOT {reopened}) "
        f"OR (OLD.cancelled_at IS NOT NULL AND NEW.cancelled_at {distinct} OLD.cancelled_at)"
    )
    changed = _AMOUNTS_CHANGED
    if quarterly:
        changed += "".join(f" OR NEW.{f} {distinct} OLD.{f}" for f in _PROJECTION_FIELDS)
    guards = [
        (
            "invoices_frozen",
            "UPDATE",
            f"OLD.status IN {_FROZEN} AND ({changed})",
            "an issued invoice is never edited",
        ),
        ("invoices_status_forward", "UPDATE", moves_back, _STATUS_MESSAGE),
        (
            "invoices_dates_frozen",
            "UPDATE",
            f"OLD.status IN {_FROZEN} AND ({dates_changed})",
            _EDIT_MESSAGE,
        ),
        ("invoices_no_delete", "DELETE", f"OLD.status IN {_FROZEN}", _EDIT_MESSAGE),
    ]
    if quarterly:
        true_up_changed = " OR ".join(f"NEW.{f} {distinct} OLD.{f}" for f in _TRUE_UP_FIELDS)
        guards.append(
            (
                "invoices_true_up_once",
                "UPDATE",
                f"OLD.trued_up_at IS NOT NULL AND ({true_up_changed})",
                _TRUE_UP_MESSAGE,
            )
        )
    for name, verb, when, message in guards:
        if sqlite:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {verb} ON invoices WHEN {when} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {verb} ON invoices FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION rerate_refuse('{message}')"
            )
    if sqlite:
        for verb, row in (("INSERT", "NEW"), ("UPDATE", "OLD"), ("DELETE", "OLD")):
            name = f"invoice_lines_frozen_{verb.lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {verb} "
                f"ON invoice_lines WHEN (SELECT status FROM invoices "
                f"WHERE id = {row}.invoice_id) IN {_FROZEN} "
                "BEGIN SELECT RAISE(ABORT, 'an issued invoice is never edited'); END"
            )


def _drop_guards() -> None:
    """SQLite refuses to rebuild `invoices` while a trigger on another table
    (invoice_lines) names it, and PostgreSQL to drop a column a trigger's
    condition reads: every guard goes first and `_guards` recreates them."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in _INVOICE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON invoices"))
    if sqlite:
        for verb in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS invoice_lines_frozen_{verb}")


_LINKS = ("trued_up_by_id", "true_up_of_id")


def _invoices(type_: str, *, add: bool) -> None:
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_index("uq_invoices_one_live")
        batch_op.drop_constraint(op.f("ck_invoices_type"), type_="check")
        if add:
            batch_op.add_column(sa.Column("projection_method", sa.String(32), nullable=True))
            batch_op.add_column(sa.Column("projection_basis", sa.Text(), nullable=True))
            batch_op.add_column(
                sa.Column("projected_amount", rerate.models.base.DecimalType(38, 10), nullable=True)
            )
            batch_op.add_column(
                sa.Column("override_amount", rerate.models.base.DecimalType(38, 10), nullable=True)
            )
            batch_op.add_column(sa.Column("override_reason", sa.String(400), nullable=True))
            batch_op.add_column(
                sa.Column(
                    "trued_up_at", rerate.models.base.UTCDateTime(timezone=True), nullable=True
                )
            )
            batch_op.add_column(sa.Column("true_up_actuals", sa.Text(), nullable=True))
            batch_op.add_column(
                sa.Column("true_up_actual", rerate.models.base.DecimalType(38, 10), nullable=True)
            )
            for column in _LINKS:
                batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
                batch_op.create_foreign_key(
                    op.f(f"fk_invoices_{column}_invoices"), "invoices", [column], ["id"]
                )
        else:
            for column in _LINKS:
                batch_op.drop_constraint(op.f(f"fk_invoices_{column}_invoices"), type_="foreignkey")
                batch_op.drop_column(column)
            for column in (
                "true_up_actual",
                "true_up_actuals",
                "trued_up_at",
                "override_reason",
                "override_amount",
                "projected_amount",
                "projection_basis",
                "projection_method",
            ):
                batch_op.drop_column(column)
        batch_op.create_check_constraint("type", type_)
        batch_op.create_index(
            "uq_invoices_one_live",
            ["customer_id", "period", "type"],
            unique=True,
            sqlite_where=sa.text(_LIVE),
            postgresql_where=sa.text(_LIVE),
        )


def upgrade() -> None:
    _drop_guards()
    _invoices(_NEW_TYPE, add=True)
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.add_column(
            sa.Column("invoice_type", sa.String(16), nullable=False, server_default="monthly")
        )
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.alter_column("invoice_type", existing_type=sa.String(16), server_default=None)
        batch_op.create_check_constraint("invoice_type", "invoice_type in ('monthly','quarterly')")
    _guards(quarterly=True)


def downgrade() -> None:
    # True-up invoices have no type to go back to: a downgrade with any refuses.
    _drop_guards()
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.drop_constraint(op.f("ck_contracts_invoice_type"), type_="check")
        batch_op.drop_column("invoice_type")
    _invoices(_OLD_TYPE, add=False)
    _guards(quarterly=False)
