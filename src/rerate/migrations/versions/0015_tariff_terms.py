"""tariff entries: carrier terms (rate groups, increment and call rounding,
maximum cost, timing, weight); an entry is unique per version, prefix, band
and timing

Entries of one prefix may now differ by timing (CGRateS tariff plans: peak,
off-peak, weekend ...), so the unique constraint (version_id, prefix, band)
becomes a unique index on (version_id, prefix, band, timing) with NULLs
folded to '' (both databases treat NULLs in a unique key as distinct, and a
band-less entry must still be unique).

SQLite cannot drop a table's unique constraint: the table is rebuilt, which
drops its triggers, so the published-version guards of 0011 are created
again here for tariff_entries (PostgreSQL alters the table in place and keeps
them).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "a published price-book version is never edited"  # as 0011's
_OLD_UNIQUE = "uq_tariff_entries_version_id_prefix_band"
_INDEX = "uq_tariff_entries_key"
_TERMS_CHECK = (
    "(increment_decimals is null or increment_decimals between 0 and 10) and "
    "(call_decimals is null or call_decimals between 0 and 10)"
)


def _sqlite_guards() -> None:
    """0011's row triggers on tariff_entries (the rebuilt table lost them)."""
    published = "(SELECT status FROM price_book_versions WHERE id = {row}.version_id) = 'published'"
    for verb, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
        when = " OR ".join(published.format(row=r) for r in rows)
        op.execute(f"DROP TRIGGER IF EXISTS tariff_entries_frozen_{verb.lower()}")
        op.execute(
            f"CREATE TRIGGER tariff_entries_frozen_{verb.lower()} BEFORE {verb} ON tariff_entries "
            f"WHEN {when} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def _key_index() -> None:
    op.execute(
        f"CREATE UNIQUE INDEX {_INDEX} ON tariff_entries "
        "(version_id, prefix, coalesce(band, ''), coalesce(timing, ''))"
    )


def upgrade() -> None:
    with op.batch_alter_table("tariff_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_groups", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("increment_decimals", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("call_decimals", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("call_rounding", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "max_cost", rerate.models.base.DecimalType(precision=38, scale=10), nullable=True
            )
        )
        batch_op.add_column(sa.Column("timing", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("weight", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint(_OLD_UNIQUE, type_="unique")
        batch_op.create_check_constraint(batch_op.f("ck_tariff_entries_terms"), _TERMS_CHECK)
    _key_index()
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_guards()


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {_INDEX}")
    with op.batch_alter_table("tariff_entries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_tariff_entries_terms"), type_="check")
        batch_op.create_unique_constraint(_OLD_UNIQUE, ["version_id", "prefix", "band"])
        for column in (
            "weight",
            "timing",
            "max_cost",
            "call_rounding",
            "call_decimals",
            "increment_decimals",
            "rate_groups",
        ):
            batch_op.drop_column(column)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_guards()
