"""issued invoices only move forward; schedule occurrences record their outcome

An issued invoice may become Paid or Cancelled and nothing else; a Paid or
Cancelled one stays as it is; its number and dates are never cleared, and it
is never deleted. Triggers on both databases, next to the ones in 0001.

`schedule_occurrences` gains `outcome`, `jobs_queued` and `detail`: an
occurrence whose targets failed the eligibility rules is recorded as refused,
with the reasons.

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROZEN = "('issued','paid','cancelled')"
# Issued -> Paid and Issued -> Cancelled are the only moves out of a frozen status.
_MOVES_BACK = (
    f"OLD.status IN {_FROZEN} AND NEW.status <> OLD.status "
    "AND NOT (OLD.status = 'issued' AND NEW.status IN ('paid','cancelled'))"
)
_STATUS_MESSAGE = "an issued invoice only moves to paid or cancelled"
_EDIT_MESSAGE = "an issued invoice is never edited or deleted"


def _dates_changed(distinct: str) -> str:
    # `distinct` is SQLite's `IS NOT` or PostgreSQL's `IS DISTINCT FROM`: both
    # treat NULL as a value, so clearing a date counts as a change.
    return (
        f"NEW.issued_at {distinct} OLD.issued_at "
        f"OR (OLD.paid_at IS NOT NULL AND NEW.paid_at {distinct} OLD.paid_at) "
        f"OR (OLD.cancelled_at IS NOT NULL AND NEW.cancelled_at {distinct} OLD.cancelled_at)"
    )


def upgrade() -> None:
    with op.batch_alter_table("schedule_occurrences", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("outcome", sa.String(length=16), server_default="queued", nullable=False)
        )
        batch_op.add_column(
            sa.Column("jobs_queued", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("detail", sa.Text(), server_default="[]", nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_schedule_occurrences_outcome"),
            "outcome in ('queued','partial','refused','skipped','empty')",
        )
    _create_guards()


def downgrade() -> None:
    _drop_guards()
    with op.batch_alter_table("schedule_occurrences", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_schedule_occurrences_outcome"), type_="check")
        batch_op.drop_column("detail")
        batch_op.drop_column("jobs_queued")
        batch_op.drop_column("outcome")


def _create_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER invoices_status_forward BEFORE UPDATE ON invoices "
            f"WHEN {_MOVES_BACK} BEGIN SELECT RAISE(ABORT, '{_STATUS_MESSAGE}'); END"
        )
        op.execute(
            f"CREATE TRIGGER invoices_dates_frozen BEFORE UPDATE ON invoices "
            f"WHEN OLD.status IN {_FROZEN} AND ({_dates_changed('IS NOT')}) "
            f"BEGIN SELECT RAISE(ABORT, '{_EDIT_MESSAGE}'); END"
        )
        op.execute(
            f"CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices "
            f"WHEN OLD.status IN {_FROZEN} BEGIN SELECT RAISE(ABORT, '{_EDIT_MESSAGE}'); END"
        )
        return
    # rerate_refuse(message) comes from 0001.
    op.execute(
        "CREATE TRIGGER invoices_status_forward BEFORE UPDATE ON invoices FOR EACH ROW "
        f"WHEN ({_MOVES_BACK}) EXECUTE FUNCTION rerate_refuse('{_STATUS_MESSAGE}')"
    )
    op.execute(
        "CREATE TRIGGER invoices_dates_frozen BEFORE UPDATE ON invoices FOR EACH ROW "
        f"WHEN (OLD.status IN {_FROZEN} AND ({_dates_changed('IS DISTINCT FROM')})) "
        f"EXECUTE FUNCTION rerate_refuse('{_EDIT_MESSAGE}')"
    )
    op.execute(
        "CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices FOR EACH ROW "
        f"WHEN (OLD.status IN {_FROZEN}) EXECUTE FUNCTION rerate_refuse('{_EDIT_MESSAGE}')"
    )


def _drop_guards() -> None:
    names = ("invoices_status_forward", "invoices_dates_frozen", "invoices_no_delete")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in names:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON invoices"))
