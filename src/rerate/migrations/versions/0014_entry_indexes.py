"""price-book entries: drop the version_id indexes the unique constraints already cover

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Why: (version_id, prefix, band) and (version_id, sku, region) are unique
# constraints whose leading column is version_id, so they serve every lookup
# by version; the single-column indexes only cost a second index write per
# entry (a 200,000-prefix deck import spends that time on PostgreSQL).
_INDEXES = (
    ("tariff_entries", "ix_tariff_entries_version_id"),
    ("price_entries", "ix_price_entries_version_id"),
)


def upgrade() -> None:
    for table, name in _INDEXES:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for table, name in _INDEXES:
        op.create_index(name, table, ["version_id"])
