"""contracts, timetables and profiles: versions

Timetables and consumption profiles get versions effective from an instant
(what they say moves from the parent row into `timetable_versions` and
`profile_versions`; rules, holidays and tiers hang off a version); both get an
owner node. Contracts get payment terms and `contract_rule_sets` (one row per
rules version). Account-profile intervals of one account never overlap: a
trigger refuses an overlapping row on both databases.

Existing rows become version 1, effective from 1970-01-01 (in force for every
period ever billed), owned by the platform node.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rerate.models.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _epoch() -> str:
    """1970-01-01 UTC as each dialect stores a UTCDateTime."""
    if op.get_bind().dialect.name == "postgresql":
        return "timestamptz '1970-01-01 00:00:00+00'"
    return "'1970-01-01 00:00:00.000000'"


_PLATFORM = "(select min(id) from nodes where kind = 'platform')"
_TIER_MODES = "tier_mode in ('none','graduated','volume')"

# Refuses an account-profile row overlapping another of the same account.
_OVERLAP = (
    "select 1 from account_profiles o where o.account_id = NEW.account_id and o.id <> NEW.id"
    " and o.valid_from < coalesce(NEW.valid_to, '9999-12-31')"
    " and coalesce(o.valid_to, '9999-12-31') > NEW.valid_from"
)
_PG_OVERLAP = (
    "select 1 from account_profiles o where o.account_id = NEW.account_id and o.id <> NEW.id"
    " and o.valid_from < coalesce(NEW.valid_to, 'infinity'::timestamptz)"
    " and coalesce(o.valid_to, 'infinity'::timestamptz) > NEW.valid_from"
)
_MESSAGE = "account_profiles_overlap: an account has one profile assignment at a time"


def _utc() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return rerate.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    _timetables()
    _profiles()
    _contracts()
    _overlap_trigger()


def _timetables() -> None:
    op.create_table(
        "timetable_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timetable_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", _utc(), nullable=False),
        sa.Column("default_band", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=400), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["timetable_id"],
            ["timetables.id"],
            name=op.f("fk_timetable_versions_timetable_id_timetables"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timetable_versions")),
        sa.UniqueConstraint(
            "timetable_id",
            "effective_from",
            name=op.f("uq_timetable_versions_timetable_id_effective_from"),
        ),
        sa.UniqueConstraint(
            "timetable_id", "version", name=op.f("uq_timetable_versions_timetable_id_version")
        ),
    )
    with op.batch_alter_table("timetable_versions") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_timetable_versions_timetable_id"), ["timetable_id"], unique=False
        )
    op.execute(
        "insert into timetable_versions"
        " (timetable_id, version, effective_from, default_band, note, created_at)"
        f" select id, 1, {_epoch()}, default_band, '', {_epoch()} from timetables"
    )
    with op.batch_alter_table("timetables") as batch_op:
        batch_op.add_column(sa.Column("owner_node_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_at", _utc(), nullable=True))
    op.execute(f"update timetables set owner_node_id = {_PLATFORM}, created_at = {_epoch()}")
    with op.batch_alter_table("timetables") as batch_op:
        batch_op.alter_column("owner_node_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("created_at", existing_type=_utc(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_timetables_owner_node_id_nodes"), "nodes", ["owner_node_id"], ["id"]
        )
        batch_op.create_index(
            batch_op.f("ix_timetables_owner_node_id"), ["owner_node_id"], unique=False
        )
        batch_op.drop_column("default_band")

    for table in ("timetable_rules", "holidays"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("version_id", sa.Integer(), nullable=True))
            if table == "timetable_rules":
                batch_op.add_column(sa.Column("position", sa.Integer(), nullable=True))
        op.execute(
            f"update {table} set version_id = (select v.id from timetable_versions v"
            f" where v.timetable_id = {table}.timetable_id and v.version = 1)"
        )
    op.execute("update timetable_rules set position = id")
    with op.batch_alter_table("timetable_rules") as batch_op:
        batch_op.alter_column("version_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("position", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index(op.f("ix_timetable_rules_timetable_id"))
        batch_op.drop_constraint(
            op.f("fk_timetable_rules_timetable_id_timetables"), type_="foreignkey"
        )
        batch_op.drop_column("timetable_id")
        batch_op.create_foreign_key(
            batch_op.f("fk_timetable_rules_version_id_timetable_versions"),
            "timetable_versions",
            ["version_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_timetable_rules_version_id"), ["version_id"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_timetable_rules_version_id_position"), ["version_id", "position"]
        )
        batch_op.create_check_constraint("weekdays", "length(weekdays) between 1 and 7")
    with op.batch_alter_table("holidays") as batch_op:
        batch_op.alter_column("version_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index(op.f("ix_holidays_timetable_id"))
        batch_op.drop_constraint(op.f("uq_holidays_timetable_id_day"), type_="unique")
        batch_op.drop_constraint(op.f("fk_holidays_timetable_id_timetables"), type_="foreignkey")
        batch_op.drop_column("timetable_id")
        batch_op.create_foreign_key(
            batch_op.f("fk_holidays_version_id_timetable_versions"),
            "timetable_versions",
            ["version_id"],
            ["id"],
        )
        batch_op.create_index(batch_op.f("ix_holidays_version_id"), ["version_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_holidays_version_id_day"), ["version_id", "day"]
        )


def _profiles() -> None:
    op.create_table(
        "profile_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", _utc(), nullable=False),
        sa.Column("included_quantity", rerate.models.base.DecimalType(38, 10), nullable=False),
        sa.Column("tier_mode", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=400), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint("included_quantity >= 0", name=op.f("ck_profile_versions_included")),
        sa.CheckConstraint(_TIER_MODES, name=op.f("ck_profile_versions_tier_mode")),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["consumption_profiles.id"],
            name=op.f("fk_profile_versions_profile_id_consumption_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_versions")),
        sa.UniqueConstraint(
            "profile_id",
            "effective_from",
            name=op.f("uq_profile_versions_profile_id_effective_from"),
        ),
        sa.UniqueConstraint(
            "profile_id", "version", name=op.f("uq_profile_versions_profile_id_version")
        ),
    )
    with op.batch_alter_table("profile_versions") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_versions_profile_id"), ["profile_id"], unique=False
        )
    op.execute(
        "insert into profile_versions (profile_id, version, effective_from, included_quantity,"
        " tier_mode, scope, note, created_at)"
        f" select id, 1, {_epoch()}, included_quantity, tier_mode, scope, '', {_epoch()}"
        " from consumption_profiles"
    )
    with op.batch_alter_table("consumption_profiles") as batch_op:
        batch_op.add_column(sa.Column("owner_node_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_at", _utc(), nullable=True))
    op.execute(
        f"update consumption_profiles set owner_node_id = {_PLATFORM}, created_at = {_epoch()}"
    )
    with op.batch_alter_table("consumption_profiles") as batch_op:
        batch_op.alter_column("owner_node_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("created_at", existing_type=_utc(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_consumption_profiles_owner_node_id_nodes"),
            "nodes",
            ["owner_node_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_consumption_profiles_owner_node_id"), ["owner_node_id"], unique=False
        )
        batch_op.drop_constraint(op.f("ck_consumption_profiles_tier_mode"), type_="check")
        batch_op.drop_constraint(op.f("ck_consumption_profiles_included"), type_="check")
        batch_op.drop_column("included_quantity")
        batch_op.drop_column("tier_mode")
        batch_op.drop_column("scope")

    with op.batch_alter_table("profile_tiers") as batch_op:
        batch_op.add_column(sa.Column("version_id", sa.Integer(), nullable=True))
    op.execute(
        "update profile_tiers set version_id = (select v.id from profile_versions v"
        " where v.profile_id = profile_tiers.profile_id and v.version = 1)"
    )
    with op.batch_alter_table("profile_tiers") as batch_op:
        batch_op.alter_column("version_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index(op.f("ix_profile_tiers_profile_id"))
        batch_op.drop_constraint(op.f("uq_profile_tiers_profile_id_from_quantity"), type_="unique")
        batch_op.drop_constraint(
            op.f("fk_profile_tiers_profile_id_consumption_profiles"), type_="foreignkey"
        )
        batch_op.drop_column("profile_id")
        batch_op.create_foreign_key(
            batch_op.f("fk_profile_tiers_version_id_profile_versions"),
            "profile_versions",
            ["version_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_profile_tiers_version_id"), ["version_id"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_profile_tiers_version_id_from_quantity"),
            ["version_id", "from_quantity"],
        )
        batch_op.create_check_constraint("non_negative", "from_quantity >= 0 and rate >= 0")


def _contracts() -> None:
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.add_column(
            sa.Column("payment_terms_days", sa.Integer(), nullable=False, server_default="30")
        )
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.alter_column("payment_terms_days", existing_type=sa.Integer(), server_default=None)
        batch_op.create_check_constraint("payment_terms", "payment_terms_days between 0 and 365")
    op.create_table(
        "contract_rule_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("created_by", sa.String(length=400), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_rule_sets_contract_id_contracts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_rule_sets")),
        sa.UniqueConstraint(
            "contract_id", "version", name=op.f("uq_contract_rule_sets_contract_id_version")
        ),
    )
    with op.batch_alter_table("contract_rule_sets") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_rule_sets_contract_id"), ["contract_id"], unique=False
        )
    # Every rules version already written gets its row.
    op.execute(
        "insert into contract_rule_sets (contract_id, version, reason, created_by, created_at)"
        " select distinct contract_id, version, '', '', " + _epoch() + " from contract_rules"
    )
    op.execute(
        "insert into contract_rule_sets (contract_id, version, reason, created_by, created_at)"
        " select c.id, c.rules_version, '', '', " + _epoch() + " from contracts c"
        " where not exists (select 1 from contract_rule_sets s"
        " where s.contract_id = c.id and s.version = c.rules_version)"
    )


def _overlap_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The account row lock serialises two assignments of one account made
        # at once, so neither can miss the other's row.
        op.execute(
            "create function account_profiles_no_overlap() returns trigger as $$\n"
            "begin\n"
            "  perform 1 from accounts where id = NEW.account_id for update;\n"
            f"  if exists ({_PG_OVERLAP}) then\n"
            f"    raise exception '{_MESSAGE}' using errcode = '23P01';\n"
            "  end if;\n"
            "  return NEW;\n"
            "end $$ language plpgsql"
        )
        op.execute(
            "create trigger account_profiles_no_overlap before insert or update"
            " on account_profiles for each row execute function account_profiles_no_overlap()"
        )
        return
    # SQLite serialises writers, so a plain check is enough there.
    for verb in ("insert", "update"):
        op.execute(
            f"create trigger account_profiles_no_overlap_{verb} before {verb}"
            f" on account_profiles for each row when exists ({_OVERLAP})"
            f" begin select raise(abort, '{_MESSAGE}'); end"
        )


def downgrade() -> None:
    raise NotImplementedError("0012 moves data into versions; restore a backup to go back")
