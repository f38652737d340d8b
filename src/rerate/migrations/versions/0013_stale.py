"""stale periods: run inputs and stale marks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # What each run was computed from (rerate.billing.inputs); null for runs
    # recorded before, which stale-period detection leaves alone.
    with op.batch_alter_table("billing_runs") as batch:
        batch.add_column(sa.Column("inputs", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_runs") as batch:
        batch.drop_column("inputs")
