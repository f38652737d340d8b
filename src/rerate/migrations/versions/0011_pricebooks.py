"""price books: draft and published versions

A price-book version is a draft until it is published; a published version
and its entries (price entries, their tiers, tariff entries) are immutable.
The service answers 409 before it tries; the triggers below are the last
guard, so no code path (a raw UPDATE, a bulk insert, a later bug) can change
what already billed periods were priced with.

Versions that exist before this migration priced bills already: they become
published, as of their creation. Book names become unique per owner node.

PostgreSQL checks the entry tables once per statement (transition tables), so
a 200,000-row bulk insert into a draft costs one join, not 200,000 trigger
calls; SQLite has row triggers only, whose lookup by primary key is cheap.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "a published price-book version is never edited"
_ENTRY_TABLES = ("price_entries", "tariff_entries")


def upgrade() -> None:
    with op.batch_alter_table("price_book_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="draft", nullable=False)
        )
        batch_op.add_column(
            sa.Column("published_at", rerate.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("published_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_price_book_versions_published_by_users"),
            "users",
            ["published_by"],
            ["id"],
        )
    # Every version so far has priced bills: it is published, as of its creation.
    op.execute("UPDATE price_book_versions SET status = 'published', published_at = created_at")
    with op.batch_alter_table("price_book_versions", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)
        batch_op.create_check_constraint(
            batch_op.f("ck_price_book_versions_status"), "status in ('draft','published')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_price_book_versions_published_at"),
            "(status = 'draft' and published_at is null) "
            "or (status = 'published' and published_at is not null)",
        )
    with op.batch_alter_table("price_books", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_price_books_owner_node_id_name"), ["owner_node_id", "name"]
        )
    _create_guards()


def downgrade() -> None:
    _drop_guards()
    with op.batch_alter_table("price_books", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_price_books_owner_node_id_name"), type_="unique")
    with op.batch_alter_table("price_book_versions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_price_book_versions_published_at"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_price_book_versions_status"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_price_book_versions_published_by_users"), type_="foreignkey"
        )
        batch_op.drop_column("published_by")
        batch_op.drop_column("published_at")
        batch_op.drop_column("status")


def _sqlite_guards() -> None:
    op.execute(
        "CREATE TRIGGER price_book_versions_frozen_update BEFORE UPDATE ON price_book_versions "
        f"WHEN OLD.status = 'published' BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )
    op.execute(
        "CREATE TRIGGER price_book_versions_frozen_delete BEFORE DELETE ON price_book_versions "
        f"WHEN OLD.status = 'published' BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )
    published = "(SELECT status FROM price_book_versions WHERE id = {row}.version_id) = 'published'"
    for table in _ENTRY_TABLES:
        for verb, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
            when = " OR ".join(published.format(row=r) for r in rows)
            op.execute(
                f"CREATE TRIGGER {table}_frozen_{verb.lower()} BEFORE {verb} ON {table} "
                f"WHEN {when} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
    tier_published = (
        "(SELECT v.status FROM price_entries e JOIN price_book_versions v "
        "ON v.id = e.version_id WHERE e.id = {row}.entry_id) = 'published'"
    )
    for verb, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
        when = " OR ".join(tier_published.format(row=r) for r in rows)
        op.execute(
            f"CREATE TRIGGER price_tiers_frozen_{verb.lower()} BEFORE {verb} ON price_tiers "
            f"WHEN {when} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


# One transition table name per trigger, so one function serves every trigger
# of a table: `changed_rows` is the NEW table (insert, update) or the OLD one
# (update, delete); an UPDATE gets two triggers so that moving an entry into
# or out of a published version are both refused.
_PG_TRIGGERS = (
    ("ins_new", "INSERT", "NEW"),
    ("upd_new", "UPDATE", "NEW"),
    ("upd_old", "UPDATE", "OLD"),
    ("del_old", "DELETE", "OLD"),
)


def _pg_guards() -> None:
    # rerate_refuse(message) comes from 0001.
    op.execute(
        "CREATE TRIGGER price_book_versions_frozen BEFORE UPDATE OR DELETE "
        "ON price_book_versions FOR EACH ROW WHEN (OLD.status = 'published') "
        f"EXECUTE FUNCTION rerate_refuse('{MESSAGE}')"
    )
    op.execute(
        "CREATE FUNCTION rerate_version_entries_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF EXISTS (SELECT 1 FROM changed_rows c JOIN price_book_versions v "
        "ON v.id = c.version_id WHERE v.status = 'published') "
        f"THEN RAISE EXCEPTION '{MESSAGE}'; END IF; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE FUNCTION rerate_price_tiers_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF EXISTS (SELECT 1 FROM changed_rows c JOIN price_entries e "
        "ON e.id = c.entry_id JOIN price_book_versions v ON v.id = e.version_id "
        "WHERE v.status = 'published') "
        f"THEN RAISE EXCEPTION '{MESSAGE}'; END IF; RETURN NULL; END $$"
    )
    tables = [(t, "rerate_version_entries_frozen") for t in _ENTRY_TABLES]
    tables.append(("price_tiers", "rerate_price_tiers_frozen"))
    for table, function in tables:
        for suffix, verb, which in _PG_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {table}_frozen_{suffix} AFTER {verb} ON {table} "
                f"REFERENCING {which} TABLE AS changed_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {function}()"
            )


def _create_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_guards()
    else:
        _pg_guards()


def _drop_guards() -> None:
    tables = (*_ENTRY_TABLES, "price_tiers")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS price_book_versions_frozen_update")
        op.execute("DROP TRIGGER IF EXISTS price_book_versions_frozen_delete")
        for table in tables:
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_frozen_{verb}")
        return
    op.execute("DROP TRIGGER IF EXISTS price_book_versions_frozen ON price_book_versions")
    for table in tables:
        for suffix, _verb, _which in _PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_frozen_{suffix} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS rerate_price_tiers_frozen()")
    op.execute("DROP FUNCTION IF EXISTS rerate_version_entries_frozen()")
