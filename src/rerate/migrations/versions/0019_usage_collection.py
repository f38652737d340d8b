"""usage collection: a source per region (platform, owner, settings, sealed
secret, schedule, last day collected), collection runs (how far each got), collected export files; the
job type collect_usage

SQLite rebuilds `jobs` to change its type check; the partial unique index
`uq_jobs_active_lock` is dropped and recreated around the rebuild so its
WHERE clause survives.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0019"
# Written next to other branches' 0018: relinked at merge.
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TYPES = "type in ('recalculation','invoice_refresh','cache_sync')"
_NEW_TYPES = "type in ('recalculation','invoice_refresh','cache_sync','collect_usage')"
_ACTIVE = "status in ('queued','running')"


def _job_types(check: str) -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("uq_jobs_active_lock")
        batch_op.drop_constraint(op.f("ck_jobs_type"), type_="check")
        batch_op.create_check_constraint("type", check)
        batch_op.create_index(
            "uq_jobs_active_lock",
            ["lock_key"],
            unique=True,
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        )


def upgrade() -> None:
    _job_types(_NEW_TYPES)
    op.create_table(
        "collection_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("owner_node_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("collected_through", sa.Date(), nullable=True),
        sa.Column("created_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "platform in ('azure_stack','azure_local','public_azure','cloudstack')",
            name=op.f("ck_collection_sources_platform"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_node_id"], ["nodes.id"], name=op.f("fk_collection_sources_owner_node_id_nodes")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_collection_sources_region_id_regions")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["job_schedules.id"],
            name=op.f("fk_collection_sources_schedule_id_job_schedules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_sources")),
        sa.UniqueConstraint("region_id", name=op.f("uq_collection_sources_region_id")),
    )
    with op.batch_alter_table("collection_sources") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_sources_owner_node_id"), ["owner_node_id"], unique=False
        )
    op.create_table(
        "collection_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("start_day", sa.Date(), nullable=False),
        sa.Column("end_day", sa.Date(), nullable=False),
        sa.Column("done_through", sa.Date(), nullable=True),
        sa.Column("created_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_day > start_day", name=op.f("ck_collection_runs_range")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_collection_runs_job_id_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["collection_sources.id"],
            name=op.f("fk_collection_runs_source_id_collection_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_runs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_collection_runs_job_id")),
    )
    with op.batch_alter_table("collection_runs") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_runs_source_id"), ["source_id"], unique=False
        )
    op.create_table(
        "collected_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("collected_at", rerate.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["usage_imports.id"],
            name=op.f("fk_collected_files_import_id_usage_imports"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["collection_sources.id"],
            name=op.f("fk_collected_files_source_id_collection_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collected_files")),
        sa.UniqueConstraint(
            "source_id", "sha256", name=op.f("uq_collected_files_source_id_sha256")
        ),
    )
    with op.batch_alter_table("collected_files") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collected_files_source_id"), ["source_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("collected_files")
    op.drop_table("collection_runs")
    op.drop_table("collection_sources")
    op.execute("DELETE FROM jobs WHERE type = 'collect_usage'")
    _job_types(_OLD_TYPES)
