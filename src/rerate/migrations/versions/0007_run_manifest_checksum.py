"""billing runs record the SHA-256 of their manifest (files' sizes and checksums)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: runs written before manifests have none and are read as before.
    with op.batch_alter_table("billing_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manifest_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_runs", schema=None) as batch_op:
        batch_op.drop_column("manifest_sha256")
