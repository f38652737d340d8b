"""tenancy: legal and billing fields of nodes, deactivation, invitations

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.Integer(), nullable=True),
        sa.Column("created_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", rerate.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", rerate.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_invitations_invited_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_invitations_node_id_nodes")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitations_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitations_node_id"), ["node_id"], unique=False)

    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("legal_name", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("address", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("tax_id", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("payment_terms_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_nodes_parent_id_name"), ["parent_id", "name"]
        )
        batch_op.create_check_constraint(
            "tax_rate", "tax_rate is null or (tax_rate >= 0 and tax_rate < 1)"
        )
        batch_op.create_check_constraint(
            "payment_terms_days",
            "payment_terms_days is null or (payment_terms_days >= 0 and payment_terms_days <= 365)",
        )


def downgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_constraint("payment_terms_days", type_="check")
        batch_op.drop_constraint("tax_rate", type_="check")
        batch_op.drop_constraint(batch_op.f("uq_nodes_parent_id_name"), type_="unique")
        batch_op.drop_column("active")
        batch_op.drop_column("payment_terms_days")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("currency")
        batch_op.drop_column("tax_id")
        batch_op.drop_column("address")
        batch_op.drop_column("legal_name")

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitations_node_id"))
        batch_op.drop_index(batch_op.f("ix_invitations_email"))

    op.drop_table("invitations")
