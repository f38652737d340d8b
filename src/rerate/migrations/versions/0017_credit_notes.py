"""credit notes: invoice type credit_note, status credited, links both ways;
credit-note allocations on payments; the contract's correction policy

A credit note is an invoice row of type `credit_note` (negative amounts, its
own gapless number series) that names the invoice it reverses (`credits_id`);
that invoice becomes Credited and names it back (`credited_by_id`). The
one-live-invoice index leaves credit notes out. The guards of 0001/0006/0016
are recreated with Credited among the frozen statuses and the two new moves
(Issued -> Credited, Paid -> Credited); SQLite's table rebuild (the check
constraints change) drops the triggers on `invoices`, so all are recreated.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_FROZEN = "('issued','paid','cancelled')"
_NEW_FROZEN = "('issued','paid','cancelled','credited')"
_OLD_FORWARD = "(OLD.status = 'issued' AND NEW.status IN ('paid','cancelled'))"
_NEW_FORWARD = (
    "(OLD.status = 'issued' AND NEW.status IN ('paid','cancelled','credited')) "
    "OR (OLD.status = 'paid' AND NEW.status = 'credited')"
)
_OLD_STATUS = "status in ('draft','ready','issued','paid','cancelled','superseded')"
_NEW_STATUS = "status in ('draft','ready','issued','paid','cancelled','superseded','credited')"
_OLD_TYPE = "type in ('monthly','quarterly')"
_NEW_TYPE = "type in ('monthly','quarterly','credit_note')"
_OLD_LIVE = "status in ('draft','ready','issued','paid')"
_NEW_LIVE = "status in ('draft','ready','issued','paid') and type <> 'credit_note'"
_AMOUNTS_CHANGED = (
    "NEW.subtotal <> OLD.subtotal OR NEW.tax <> OLD.tax OR NEW.total <> OLD.total "
    "OR NEW.currency <> OLD.currency OR NEW.customer_id <> OLD.customer_id "
    "OR NEW.period <> OLD.period OR COALESCE(NEW.number, '') <> COALESCE(OLD.number, '')"
)
_STATUS_MESSAGE = "an issued invoice only moves to paid, cancelled or credited"
_EDIT_MESSAGE = "an issued invoice is never edited or deleted"
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
)


def _guards(frozen: str, forward: str) -> None:
    """(Re)create every guard on invoices and invoice lines for `frozen`."""
    dialect = op.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    for name in _INVOICE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON invoices"))
    reopened = (
        "(OLD.status = 'paid' AND NEW.status = 'issued' AND NEW.paid_at IS NULL "
        f"AND {_HAS_REVERSAL[dialect]})"
    )
    moves_back = (
        f"OLD.status IN {frozen} AND NEW.status <> OLD.status AND NOT ({forward} OR {reopened})"
    )
    distinct = "IS NOT" if sqlite else "IS DISTINCT FROM"
    dates_changed = (
        f"NEW.issued_at {distinct} OLD.issued_at "
        f"OR ((OLD.paid_at IS NOT NULL AND NEW.paid_at {distinct} OLD.paid_at) "
        f"AND NOT {reopened}) "
        f"OR (OLD.cancelled_at IS NOT NULL AND NEW.cancelled_at {distinct} OLD.cancelled_at)"
    )
    guards = (
        (
            "invoices_frozen",
            "UPDATE",
            f"OLD.status IN {frozen} AND ({_AMOUNTS_CHANGED})",
            "an issued invoice is never edited",
        ),
        ("invoices_status_forward", "UPDATE", moves_back, _STATUS_MESSAGE),
        (
            "invoices_dates_frozen",
            "UPDATE",
            f"OLD.status IN {frozen} AND ({dates_changed})",
            _EDIT_MESSAGE,
        ),
        ("invoices_no_delete", "DELETE", f"OLD.status IN {frozen}", _EDIT_MESSAGE),
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
                f"WHERE id = {row}.invoice_id) IN {frozen} "
                "BEGIN SELECT RAISE(ABORT, 'an issued invoice is never edited'); END"
            )
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION rerate_invoice_lines_frozen() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ "
        "DECLARE inv_status text; BEGIN "
        "SELECT status INTO inv_status FROM invoices "
        "WHERE id = COALESCE(NEW.invoice_id, OLD.invoice_id); "
        f"IF inv_status IN {frozen} THEN "
        "RAISE EXCEPTION 'an issued invoice is never edited'; END IF; "
        "RETURN COALESCE(NEW, OLD); END $$"
    )


def _drop_guards() -> None:
    """SQLite refuses to rebuild `invoices` while a trigger on another table
    (invoice_lines) names it: every guard goes first and `_guards` recreates them."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _INVOICE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for verb in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS invoice_lines_frozen_{verb}")


def _invoices(status: str, type_: str, live: str, *, add: bool) -> None:
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_index("uq_invoices_one_live")
        batch_op.drop_constraint(op.f("ck_invoices_status"), type_="check")
        batch_op.drop_constraint(op.f("ck_invoices_type"), type_="check")
        if add:
            batch_op.add_column(sa.Column("credits_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("credited_by_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                op.f("fk_invoices_credits_id_invoices"), "invoices", ["credits_id"], ["id"]
            )
            batch_op.create_foreign_key(
                op.f("fk_invoices_credited_by_id_invoices"), "invoices", ["credited_by_id"], ["id"]
            )
        else:
            batch_op.drop_constraint(op.f("fk_invoices_credits_id_invoices"), type_="foreignkey")
            batch_op.drop_constraint(
                op.f("fk_invoices_credited_by_id_invoices"), type_="foreignkey"
            )
            batch_op.drop_column("credited_by_id")
            batch_op.drop_column("credits_id")
        batch_op.create_check_constraint("status", status)
        batch_op.create_check_constraint("type", type_)
        batch_op.create_index(
            "uq_invoices_one_live",
            ["customer_id", "period", "type"],
            unique=True,
            sqlite_where=sa.text(live),
            postgresql_where=sa.text(live),
        )


def upgrade() -> None:
    _drop_guards()
    _invoices(_NEW_STATUS, _NEW_TYPE, _NEW_LIVE, add=True)
    with op.batch_alter_table("payments") as batch_op:
        batch_op.add_column(sa.Column("credit_note_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_payments_credit_note_id_invoices"), "invoices", ["credit_note_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_payments_credit_note_id"), ["credit_note_id"])
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.add_column(
            sa.Column("correction_policy", sa.String(16), nullable=False, server_default="replace")
        )
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.alter_column("correction_policy", existing_type=sa.String(16), server_default=None)
        batch_op.create_check_constraint(
            "correction_policy", "correction_policy in ('replace','credit_note')"
        )
    _guards(_NEW_FROZEN, _NEW_FORWARD)


def downgrade() -> None:
    _drop_guards()
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.drop_constraint(op.f("ck_contracts_correction_policy"), type_="check")
        batch_op.drop_column("correction_policy")
    with op.batch_alter_table("payments") as batch_op:
        batch_op.drop_index("ix_payments_credit_note_id")
        batch_op.drop_constraint(op.f("fk_payments_credit_note_id_invoices"), type_="foreignkey")
        batch_op.drop_column("credit_note_id")
    _invoices(_OLD_STATUS, _OLD_TYPE, _OLD_LIVE, add=False)
    _guards(_OLD_FROZEN, _OLD_FORWARD)
