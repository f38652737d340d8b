"""backfills: job type backfill, the backfill request and its reconciliation items

A backfill is one job (type `backfill`) over a date range and a set of
customers; `backfills` records what was asked, `backfill_items` one row per
(customer, period) with the previously published total, the backfilled total
and the difference. The jobs type check gains `backfill`; SQLite rebuilds the
table for that, so the partial unique index on active lock keys is recreated
explicitly (batch mode would lose its WHERE clause).

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from rerate.models.base import DecimalType, UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TYPES = "type in ('recalculation','invoice_refresh','cache_sync','collect_usage')"
_NEW_TYPES = "type in ('recalculation','invoice_refresh','cache_sync','collect_usage','backfill')"
_ACTIVE = "status in ('queued','running')"


def _job_types(check: str) -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("uq_jobs_active_lock")
        batch_op.drop_constraint(op.f("ck_jobs_type"), type_="check")
        batch_op.create_check_constraint("type", check)
    op.create_index(
        "uq_jobs_active_lock",
        "jobs",
        ["lock_key"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )


def upgrade() -> None:
    _job_types(_NEW_TYPES)
    op.create_table(
        "backfills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("publish", sa.Boolean(), nullable=False),
        sa.Column("reviewed_job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_backfills_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["reviewed_job_id"], ["jobs.id"], name=op.f("fk_backfills_reviewed_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfills")),
        sa.UniqueConstraint("job_id", name=op.f("uq_backfills_job_id")),
    )
    op.create_table(
        "backfill_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backfill_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("previous_run_id", sa.Integer(), nullable=True),
        sa.Column("previous_total", DecimalType(38, 10), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("backfilled_total", DecimalType(38, 10), nullable=True),
        sa.Column("difference", DecimalType(38, 10), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status in ('pending','computed','unchanged','published','skipped','failed')",
            name=op.f("ck_backfill_items_status"),
        ),
        sa.ForeignKeyConstraint(
            ["backfill_id"], ["backfills.id"], name=op.f("fk_backfill_items_backfill_id_backfills")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["nodes.id"], name=op.f("fk_backfill_items_customer_id_nodes")
        ),
        sa.ForeignKeyConstraint(
            ["previous_run_id"],
            ["billing_runs.id"],
            name=op.f("fk_backfill_items_previous_run_id_billing_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["billing_runs.id"], name=op.f("fk_backfill_items_run_id_billing_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_items")),
        sa.UniqueConstraint(
            "backfill_id",
            "customer_id",
            "period",
            name=op.f("uq_backfill_items_backfill_id_customer_id_period"),
        ),
    )
    op.create_index(
        op.f("ix_backfill_items_backfill_id"), "backfill_items", ["backfill_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_backfill_items_backfill_id"), table_name="backfill_items")
    op.drop_table("backfill_items")
    op.drop_table("backfills")
    # The old type check would refuse them: runs they computed lose the link.
    op.execute(
        "UPDATE billing_runs SET job_id = NULL "
        "WHERE job_id IN (SELECT id FROM jobs WHERE type = 'backfill')"
    )
    op.execute("DELETE FROM jobs WHERE type = 'backfill'")
    _job_types(_OLD_TYPES)
