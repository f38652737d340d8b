"""login throttle: failed-login counters and lockouts per account and address

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("locked_until", rerate.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_index(
        op.f("ix_login_throttle_updated_at"), "login_throttle", ["updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_login_throttle_updated_at"), table_name="login_throttle")
    op.drop_table("login_throttle")
