"""accounts: ownership history without overlaps, external refs per seller

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:00:00

- `accounts.owner_node_id`: the seller under which an account was created;
  `external_ref` becomes unique per seller (it was global: one tenant could
  learn or block the ids of another). Existing accounts go to the seller of
  their first owner (the customer's parent), else to the platform root.
- Ownership intervals of one account never overlap: an exclusion constraint
  on PostgreSQL, triggers on SQLite.
- `audit_log.node_path`: the node an entry is about, so that callers below
  the platform read only their subtree's trail.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SELLER_OF = (
    "COALESCE(("
    "SELECT n.parent_id FROM account_ownerships o JOIN nodes n ON n.id = o.customer_id "
    "WHERE o.account_id = accounts.id ORDER BY o.valid_from LIMIT 1"
    "), (SELECT MIN(id) FROM nodes WHERE parent_id IS NULL))"
)

# SQLite stores instants as 'YYYY-MM-DD HH:MM:SS.ffffff' text, so text order is
# time order; an open interval ends at the end of time.
_END_OF_TIME = "'9999-12-31 23:59:59.999999'"
_OVERLAP_MESSAGE = "account ownership intervals overlap"


def _sqlite_overlap_condition(exclude_self: bool) -> str:
    return (
        "EXISTS (SELECT 1 FROM account_ownerships o WHERE o.account_id = NEW.account_id"
        + (" AND o.id <> NEW.id" if exclude_self else "")
        + f" AND o.valid_from < COALESCE(NEW.valid_to, {_END_OF_TIME})"
        + f" AND NEW.valid_from < COALESCE(o.valid_to, {_END_OF_TIME}))"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # The audit trail's scope. A plain ADD COLUMN: audit_log must never be
    # copied and re-created (its append-only triggers would go with it).
    op.add_column("audit_log", sa.Column("node_path", sa.String(length=400), nullable=True))
    op.create_index(op.f("ix_audit_log_node_path"), "audit_log", ["node_path"], unique=False)

    if sqlite:
        _accounts_sqlite()
        for verb, exclude_self in (("INSERT", False), ("UPDATE", True)):
            op.execute(
                f"CREATE TRIGGER account_ownerships_no_overlap_{verb.lower()} "
                f"BEFORE {verb} ON account_ownerships "
                f"WHEN {_sqlite_overlap_condition(exclude_self)} "
                f"BEGIN SELECT RAISE(ABORT, '{_OVERLAP_MESSAGE}'); END"
            )
        return
    op.add_column("accounts", sa.Column("owner_node_id", sa.Integer(), nullable=True))
    op.execute(f"UPDATE accounts SET owner_node_id = {_SELLER_OF}")
    op.alter_column("accounts", "owner_node_id", nullable=False)
    op.create_foreign_key(
        op.f("fk_accounts_owner_node_id_nodes"), "accounts", "nodes", ["owner_node_id"], ["id"]
    )
    op.create_index(op.f("ix_accounts_owner_node_id"), "accounts", ["owner_node_id"])
    op.drop_constraint(op.f("uq_accounts_external_ref"), "accounts", type_="unique")
    op.create_unique_constraint(
        op.f("uq_accounts_owner_node_id_external_ref"),
        "accounts",
        ["owner_node_id", "external_ref"],
    )
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        "ALTER TABLE account_ownerships ADD CONSTRAINT account_ownerships_no_overlap "
        "EXCLUDE USING gist (account_id WITH =, "
        "tstzrange(valid_from, COALESCE(valid_to, 'infinity')) WITH &&)"
    )


def _accounts_sqlite() -> None:
    """SQLite cannot drop a table constraint: the table is re-created. With
    foreign keys on (and no way to turn them off inside the migration's
    transaction), dropping `accounts` while ownerships point at its rows would
    fail; so its rows wait in a temporary table, the emptied table is
    re-created, and the rows come back before the (deferred) check at commit."""
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute(
        "CREATE TEMP TABLE accounts_0010 AS "
        f"SELECT id, kind, external_ref, name, platform, created_at, {_SELLER_OF} AS owner "
        "FROM accounts"
    )
    op.execute("DELETE FROM accounts")
    with op.batch_alter_table("accounts", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("owner_node_id", sa.Integer(), nullable=False))
        batch_op.drop_constraint(batch_op.f("uq_accounts_external_ref"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_accounts_owner_node_id_external_ref"), ["owner_node_id", "external_ref"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_accounts_owner_node_id_nodes"), "nodes", ["owner_node_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_accounts_owner_node_id"), ["owner_node_id"])
    op.execute(
        "INSERT INTO accounts (id, kind, external_ref, name, platform, created_at, owner_node_id) "
        "SELECT id, kind, external_ref, name, platform, created_at, owner FROM accounts_0010"
    )
    op.execute("DROP TABLE accounts_0010")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for verb in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS account_ownerships_no_overlap_{verb}")
        op.execute("PRAGMA defer_foreign_keys = ON")
        op.execute("CREATE TEMP TABLE accounts_0010 AS SELECT * FROM accounts")
        op.execute("DELETE FROM accounts")
        with op.batch_alter_table("accounts", recreate="always") as batch_op:
            batch_op.drop_index(batch_op.f("ix_accounts_owner_node_id"))
            batch_op.drop_constraint(
                batch_op.f("uq_accounts_owner_node_id_external_ref"), type_="unique"
            )
            batch_op.drop_constraint(
                batch_op.f("fk_accounts_owner_node_id_nodes"), type_="foreignkey"
            )
            batch_op.drop_column("owner_node_id")
            batch_op.create_unique_constraint(
                batch_op.f("uq_accounts_external_ref"), ["external_ref"]
            )
        op.execute(
            "INSERT INTO accounts (id, kind, external_ref, name, platform, created_at) "
            "SELECT id, kind, external_ref, name, platform, created_at FROM accounts_0010"
        )
        op.execute("DROP TABLE accounts_0010")
    else:
        op.execute(
            "ALTER TABLE account_ownerships DROP CONSTRAINT IF EXISTS account_ownerships_no_overlap"
        )
        op.drop_constraint(
            op.f("uq_accounts_owner_node_id_external_ref"), "accounts", type_="unique"
        )
        op.create_unique_constraint(op.f("uq_accounts_external_ref"), "accounts", ["external_ref"])
        op.drop_index(op.f("ix_accounts_owner_node_id"), table_name="accounts")
        op.drop_constraint(op.f("fk_accounts_owner_node_id_nodes"), "accounts", type_="foreignkey")
        op.drop_column("accounts", "owner_node_id")
    op.drop_index(op.f("ix_audit_log_node_path"), table_name="audit_log")
    op.drop_column("audit_log", "node_path")
