"""invoices: due date; payments and their reversals; the customer credit ledger

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0016"
# Written next to 0015 (tariff entries) on another branch: relinked to 0015 at merge.
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# 0006's guards, relaxed for one move: a Paid invoice goes back to Issued
# (clearing paid_at) when a payment reversal reopens it, and only then (a
# reversal row exists for it). Everything else stays as 0006 wrote it.
_FROZEN = "('issued','paid','cancelled')"
# A PostgreSQL trigger's WHEN cannot hold a subquery: there it calls a function.
_HAS_REVERSAL = {
    "sqlite": "EXISTS (SELECT 1 FROM payments WHERE payments.invoice_id = OLD.id "
    "AND payments.reverses_id IS NOT NULL)",
    "postgresql": "rerate_has_reversal(OLD.id)",
}


def _reopened() -> str:
    has = _HAS_REVERSAL[op.get_bind().dialect.name]
    return f"(OLD.status = 'paid' AND NEW.status = 'issued' AND NEW.paid_at IS NULL AND {has})"


_OLD_MOVES = "(OLD.status = 'issued' AND NEW.status IN ('paid','cancelled'))"
_STATUS_MESSAGE = "an issued invoice only moves to paid or cancelled"
_EDIT_MESSAGE = "an issued invoice is never edited or deleted"


def _moves_back(reopen: bool) -> str:
    allowed = f"{_OLD_MOVES} OR {_reopened()}" if reopen else _OLD_MOVES
    return f"OLD.status IN {_FROZEN} AND NEW.status <> OLD.status AND NOT ({allowed})"


def _dates_changed(distinct: str, reopen: bool) -> str:
    paid = f"(OLD.paid_at IS NOT NULL AND NEW.paid_at {distinct} OLD.paid_at)"
    if reopen:
        paid = f"({paid} AND NOT {_reopened()})"
    return (
        f"NEW.issued_at {distinct} OLD.issued_at OR {paid} "
        f"OR (OLD.cancelled_at IS NOT NULL AND NEW.cancelled_at {distinct} OLD.cancelled_at)"
    )


def _guards(reopen: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in ("invoices_status_forward", "invoices_dates_frozen"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON invoices"))
    if sqlite:
        op.execute(
            "CREATE TRIGGER invoices_status_forward BEFORE UPDATE ON invoices "
            f"WHEN {_moves_back(reopen)} BEGIN SELECT RAISE(ABORT, '{_STATUS_MESSAGE}'); END"
        )
        op.execute(
            "CREATE TRIGGER invoices_dates_frozen BEFORE UPDATE ON invoices "
            f"WHEN OLD.status IN {_FROZEN} AND ({_dates_changed('IS NOT', reopen)}) "
            f"BEGIN SELECT RAISE(ABORT, '{_EDIT_MESSAGE}'); END"
        )
        return
    if reopen:
        op.execute(
            "CREATE OR REPLACE FUNCTION rerate_has_reversal(invoice integer) RETURNS boolean "
            "LANGUAGE sql STABLE AS $$ SELECT EXISTS (SELECT 1 FROM payments "
            "WHERE invoice_id = invoice AND reverses_id IS NOT NULL) $$"
        )
    op.execute(
        "CREATE TRIGGER invoices_status_forward BEFORE UPDATE ON invoices FOR EACH ROW "
        f"WHEN ({_moves_back(reopen)}) EXECUTE FUNCTION rerate_refuse('{_STATUS_MESSAGE}')"
    )
    op.execute(
        "CREATE TRIGGER invoices_dates_frozen BEFORE UPDATE ON invoices FOR EACH ROW "
        f"WHEN (OLD.status IN {_FROZEN} AND ({_dates_changed('IS DISTINCT FROM', reopen)})) "
        f"EXECUTE FUNCTION rerate_refuse('{_EDIT_MESSAGE}')"
    )


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("invoice_id", sa.Integer(), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("nodes.id"), nullable=False),
        sa.Column("amount", rerate.models.base.DecimalType(38, 10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False, server_default=""),
        sa.Column("reverses_id", sa.Integer(), sa.ForeignKey("payments.id"), nullable=True),
        sa.Column("reason", sa.String(400), nullable=False, server_default=""),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        # A payment is positive; its reversal is a row of its own with the
        # opposite sign, never an edit or a delete.
        sa.CheckConstraint(
            "(reverses_id IS NULL AND amount > 0) OR (reverses_id IS NOT NULL AND amount < 0)",
            name="payment_sign",
        ),
        # One reversal per payment: the last guard against reversing twice.
        sa.UniqueConstraint("reverses_id", name="uq_payments_one_reversal"),
    )
    op.create_index("ix_payments_invoice_id", "payments", ["invoice_id"])
    op.create_index("ix_payments_customer_id", "payments", ["customer_id"])
    op.create_table(
        "credit_balance_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("nodes.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("invoice_id", sa.Integer(), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("source_invoice_id", sa.Integer(), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", rerate.models.base.DecimalType(38, 10), nullable=False),
        sa.Column("created_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('carried_out','applied')", name="kind"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        # An invoice version carries out once and applies each source once: a
        # refresh makes a new version with its own rows, never a second one here.
        sa.UniqueConstraint("invoice_id", "source_invoice_id", "kind", name="uq_credit_movement"),
    )
    op.create_index(
        "ix_credit_balance_entries_customer", "credit_balance_entries", ["customer_id", "currency"]
    )
    _guards(reopen=True)


def downgrade() -> None:
    _guards(reopen=False)
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS rerate_has_reversal(integer)")
    op.drop_index("ix_credit_balance_entries_customer", table_name="credit_balance_entries")
    op.drop_table("credit_balance_entries")
    op.drop_index("ix_payments_customer_id", table_name="payments")
    op.drop_index("ix_payments_invoice_id", table_name="payments")
    op.drop_table("payments")
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_column("due_date")
