"""commission rules: a partner's or distributor's share of its customers' invoiced net

One table, a check on the rate (0 < rate < 1) and on the half-open validity
range, and a trigger on both databases that refuses two rules of one
(node, service) whose ranges overlap. The service refuses the same first
with a clear message (and serialises writers per node); the trigger is the
guarantee for anyone writing around it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MESSAGE = "commission rules of one node and service must not overlap"
# Half-open ranges [from, to) overlap when each starts before the other ends;
# an open end (NULL) is the last date there is. Dates compare as ISO text on
# SQLite and as dates on PostgreSQL: the same condition works on both.
_OVERLAP = (
    "SELECT 1 FROM commission_rules AS other "
    "WHERE other.node_id = NEW.node_id AND other.service = NEW.service "
    "AND other.id <> NEW.id "
    "AND other.valid_from < COALESCE(NEW.valid_to, {end}) "
    "AND NEW.valid_from < COALESCE(other.valid_to, {end})"
)


def upgrade() -> None:
    op.create_table(
        "commission_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=100), nullable=False),
        sa.Column("rate", rerate.models.base.DecimalType(9, 6), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", rerate.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("rate > 0 AND rate < 1", name=op.f("ck_commission_rules_rate")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_commission_rules_valid_range"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_commission_rules_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_commission_rules_node_id_nodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_rules")),
    )
    op.create_index("ix_commission_rules_node_service", "commission_rules", ["node_id", "service"])
    if op.get_bind().dialect.name == "sqlite":
        overlap = _OVERLAP.format(end="'9999-12-31'")
        for verb in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER commission_rules_no_overlap_{verb.lower()} "
                f"BEFORE {verb} ON commission_rules WHEN EXISTS ({overlap}) "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )
        return
    overlap = _OVERLAP.format(end="DATE '9999-12-31'")
    op.execute(
        "CREATE FUNCTION rerate_commission_rules_no_overlap() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"IF EXISTS ({overlap}) THEN RAISE EXCEPTION '{_MESSAGE}'; END IF; "
        "RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER commission_rules_no_overlap BEFORE INSERT OR UPDATE "
        "ON commission_rules FOR EACH ROW EXECUTE FUNCTION rerate_commission_rules_no_overlap()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS commission_rules_no_overlap_{verb}")
    else:
        op.execute("DROP TRIGGER IF EXISTS commission_rules_no_overlap ON commission_rules")
        op.execute("DROP FUNCTION IF EXISTS rerate_commission_rules_no_overlap()")
    op.drop_index("ix_commission_rules_node_service", table_name="commission_rules")
    op.drop_table("commission_rules")
