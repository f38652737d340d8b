"""Usage import: parse, resolve accounts, de-duplicate, write, commit — all or nothing.

The store's files and the `usage_imports` row become visible together: the
import holds the store's lock from planning until the row commits, and on any
failure the files written so far are removed. A killed process leaves files
whose import id never committed; readers ignore them (`visible_import_ids`)
and `sweep_orphans` removes them later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts.service import (
    all_ownerships,
    create_account,
    import_lookup,
    link_account,
    ownership_windows,
)
from rerate.auth.permissions import Permission, Principal
from rerate.kit import crash
from rerate.kit.errors import Invalid
from rerate.models import UsageImport
from rerate.models.enums import AccountKind
from rerate.tenancy.service import get_customer
from rerate.usage.errors import ImportRejected, RejectedRow, write_rejects_csv
from rerate.usage.importers import get_importer
from rerate.usage.importers.base import ImportOptions, ParseResult
from rerate.usage.resolve import (
    Window,
    outside_windows,
    resolve_accounts,
    scope_record_ids,
    unknown_refs,
)
from rerate.usage.schema import UsageKind
from rerate.usage.store import ImportPlan, UsageStore


@dataclass(frozen=True, slots=True)
class ImportReport:
    import_id: int | None
    file: str
    format: str
    rows_read: int
    new: int
    corrected: int
    unchanged: int
    duplicates_in_file: int
    rejected: int
    accounts_created: int
    rejects_file: str | None
    # Rows stored for an instant at which their account had no owner: kept,
    # and billed once the account is linked to a customer from then on.
    unowned_rows: int = 0
    unowned_accounts: tuple[str, ...] = ()
    # Rows of the file left out on purpose (not rejected, not stored): a
    # FreeSWITCH B-leg whose A-leg is in the same file, per reason.
    skipped: tuple[tuple[str, int], ...] = ()

    @property
    def skipped_rows(self) -> int:
        return sum(n for _, n in self.skipped)

    @property
    def notice(self) -> str:
        """Skipped and unowned rows in plain words ("" when there are none)."""
        parts = [f"{n} row{'s' if n != 1 else ''} left out: {why}" for why, n in self.skipped]
        parts.append(unowned_notice(self.unowned_rows, self.unowned_accounts))
        return "; ".join(p for p in parts if p)

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "unowned_accounts": list(self.unowned_accounts),
            "skipped": [{"reason": why, "rows": n} for why, n in self.skipped],
            "skipped_rows": self.skipped_rows,
            "notice": self.notice,
        }


def unowned_notice(rows: int, accounts: tuple[str, ...] | list[str]) -> str:
    if not rows:
        return ""
    names = ", ".join(accounts[:5]) + (
        f" and {len(accounts) - 5} more" if len(accounts) > 5 else ""
    )
    return (
        f"{rows} row{'s' if rows != 1 else ''} will not be billed until "
        f"{'its account has' if len(accounts) == 1 else 'their accounts have'} an owner "
        f"({names}): link the account to a customer from the usage's first instant "
        "(rerate accounts link) and recalculate"
    )


def visible_import_ids(session: Session) -> set[int]:
    """Imports whose rows readers may see: exactly the committed ones."""
    return set(session.scalars(select(UsageImport.id)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _create_missing_accounts(
    session: Session,
    principal: Principal,
    parsed: ParseResult,
    lookup: dict[str, int],
    *,
    kind: UsageKind,
    owner_id: int | None,
) -> int:
    missing = unknown_refs(parsed, lookup)
    if not missing:
        return 0
    if owner_id is None:
        # An account without an owner bills nobody: creating it silently
        # would store usage that no invoice ever shows.
        raise Invalid(
            "owner_customer_id: creating accounts needs the customer who owns them "
            "(--owner CUSTOMER_ID); they are linked to it from the first imported instant",
            field="owner_customer_id",
        )
    owner = get_customer(session, principal, owner_id, Permission.IMPORT_USAGE)
    seller_id = owner.parent_id if owner.parent_id is not None else None
    starts = parsed.table.column("usage_start")
    first_use: datetime = pc.min(starts).as_py() if len(starts) else datetime.now().astimezone()
    account_kind = (
        AccountKind.VOIP_PEER if kind == UsageKind.CDR else AccountKind.MANAGEMENT_ACCOUNT
    )
    for ref in sorted(missing):
        account = create_account(
            session, account_kind, external_ref=ref, owner_node_id=seller_id, platform=parsed.file
        )
        link_account(session, account, customer=owner, valid_from=first_use)
        lookup[ref] = account.id
    return len(missing)


def _check_corrections(
    parsed: ParseResult, plan: ImportPlan, windows: dict[int, list[Window]]
) -> None:
    """A correction may only replace a version the caller owned too: the
    record's account is the same (ids are scoped to it), but its old
    `usage_start` may lie in another owner's time, and moving it would take
    the row off that owner's bill."""
    previous = plan.previous_starts
    if previous is None or previous.num_rows == 0:
        return
    accounts = dict(
        zip(
            plan.table.column("record_id").to_pylist(),
            plan.table.column("account_id").to_pylist(),
            strict=True,
        )
    )
    record_ids = previous.column("record_id").to_pylist()
    ids = pa.array([accounts[r] for r in record_ids], pa.int64())
    outside = outside_windows(ids, previous.column("usage_start"), windows)
    if not len(outside):
        return
    scoped = record_ids[int(outside[0])]
    source_id = scoped.split(":", 1)[1]
    sent = parsed.table.column("record_id").to_pylist()
    line = int(parsed.line_numbers[sent.index(source_id)]) if source_id in sent else 0
    start = previous.column("usage_start")[int(outside[0])].as_py()
    raise ImportRejected(
        parsed.file,
        line,
        "record_id",
        f"record {source_id!r} was stored for {start.isoformat()}, when the account was "
        "not owned by a customer in your scope; a correction can only change your own records",
    )


def import_parsed(
    session: Session,
    store: UsageStore,
    principal: Principal,
    parsed: ParseResult,
    *,
    source: str,
    kind: UsageKind,
    sha256: str,
    skip_bad_rows: bool = False,
    create_accounts: bool = False,
    owner_id: int | None = None,
    rejects_path: Path | None = None,
) -> ImportReport:
    """Import an already parsed batch. Commits the session (see module doc)."""
    found = import_lookup(session, principal)
    lookup = dict(found.refs)
    # An ambiguous ref is neither known nor missing: never created again.
    taken = {**lookup, **dict.fromkeys(found.ambiguous, 0)}
    created = 0
    if create_accounts:
        created = _create_missing_accounts(
            session, principal, parsed, taken, kind=kind, owner_id=owner_id
        )
        lookup.update({r: i for r, i in taken.items() if r not in found.ambiguous})
    # Tenant isolation: below the platform, a row is taken only for an instant
    # at which the caller's subtree owned its account (see usage/resolve.py).
    windows = (
        None
        if principal.is_platform()
        else ownership_windows(session, principal, Permission.IMPORT_USAGE)
    )
    table, account_rejects = resolve_accounts(
        parsed,
        lookup,
        file=parsed.file,
        skip_bad_rows=skip_bad_rows,
        windows=windows,
        ambiguous=found.ambiguous,
    )
    table = scope_record_ids(table)
    rejects: list[RejectedRow] = [*parsed.rejects, *account_rejects]
    with store.import_lock():
        plan = store.plan_import(table, visible_import_ids(session))
        if windows is not None:
            _check_corrections(parsed, plan, windows)
        unowned_rows, unowned_accounts = _unowned(session, table, lookup)
        starts = plan.table.column("usage_start")
        record = UsageImport(
            source=source,
            file_name=parsed.file,
            sha256=sha256,
            rows_read=parsed.rows_read,
            rows_new=plan.new,
            rows_corrected=plan.corrected,
            rows_unchanged=plan.unchanged,
            rows_rejected=len(rejects),
            first_usage_at=pc.min(starts).as_py() if len(starts) else None,
            last_usage_at=pc.max(starts).as_py() if len(starts) else None,
            actor_id=principal.user_id,
        )
        session.add(record)
        session.flush()
        # An id from a rolled-back attempt can be handed out again (SQLite);
        # files a crashed attempt left under it must not become visible now.
        store.discard_import(record.id)
        try:
            if plan.table.num_rows:
                store.write_import(plan, record.id)
            crash.point("import.after_files")
            # Commit here, under the lock: the files and the row that makes
            # them visible must appear together.
            session.commit()
        except BaseException:
            session.rollback()
            store.discard_import(record.id)
            raise
    rejects_file = None
    if rejects and rejects_path is not None:
        write_rejects_csv(rejects_path, rejects)
        rejects_file = str(rejects_path)
    return ImportReport(
        import_id=record.id,
        file=parsed.file,
        format=source,
        rows_read=parsed.rows_read,
        new=plan.new,
        corrected=plan.corrected,
        unchanged=plan.unchanged,
        duplicates_in_file=plan.duplicates_in_batch,
        rejected=len(rejects),
        accounts_created=created,
        rejects_file=rejects_file,
        unowned_rows=unowned_rows,
        unowned_accounts=unowned_accounts,
        skipped=parsed.skipped,
    )


def _unowned(
    session: Session, table: pa.Table, lookup: dict[str, int]
) -> tuple[int, tuple[str, ...]]:
    """How many rows of the batch fall at an instant when their account had
    no owner, and the refs of those accounts."""
    if table.num_rows == 0:
        return 0, ()
    ids = table.column("account_id")
    ownerships = all_ownerships(session, pc.unique(ids).to_pylist())
    positions = outside_windows(
        ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids,
        table.column("usage_start"),
        ownerships,
    )
    if not len(positions):
        return 0, ()
    by_id = {v: k for k, v in lookup.items()}
    accounts = sorted(
        {by_id.get(int(a), str(a)) for a in pc.unique(ids.take(pa.array(positions))).to_pylist()}
    )
    return len(positions), tuple(accounts)


def import_file(
    session: Session,
    store: UsageStore,
    principal: Principal,
    path: Path,
    *,
    format_name: str,
    options: ImportOptions | None = None,
    create_accounts: bool = False,
    owner_id: int | None = None,
    rejects_path: Path | None = None,
) -> ImportReport:
    principal.require(Permission.IMPORT_USAGE)
    importer = get_importer(format_name)
    options = options or ImportOptions()
    parsed = importer.parse(Path(path), options)
    return import_parsed(
        session,
        store,
        principal,
        parsed,
        source=importer.source.value,
        kind=importer.kind,
        sha256=_sha256(Path(path)),
        skip_bad_rows=options.skip_bad_rows,
        create_accounts=create_accounts,
        owner_id=owner_id,
        rejects_path=rejects_path,
    )


def scan_usage(
    session: Session,
    store: UsageStore,
    *,
    start_utc: datetime,
    end_utc: datetime,
    account_ids: list[int],
    kind: UsageKind | None = None,
    columns: Sequence[str] | None = None,
    ordered: bool = True,
    skip_null_columns: bool = False,
) -> pa.Table:
    return store.scan(
        visible_import_ids(session),
        start_utc=start_utc,
        end_utc=end_utc,
        account_ids=account_ids,
        kind=kind,
        columns=columns,
        ordered=ordered,
        skip_null_columns=skip_null_columns,
    )


__all__ = ["ImportRejected", "ImportReport", "import_file", "import_parsed", "scan_usage"]
