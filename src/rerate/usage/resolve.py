"""Map each row's external account reference to a rerate account id.

Importers leave `account_id` at -1 because accounts live in the database;
the service loads `{account_ref: accounts.id}` for the source and calls
`resolve_accounts`. `unknown_refs` lists what is missing, so the service can
create the accounts first when the user asked for `--create-accounts`.

Tenant isolation happens here too. A row is accepted only from a caller whose
subtree owned the row's account at the row's `usage_start` (`windows`, built
by the service from the ownership history; platform roles pass `None`), and
the record's identity is scoped to its account (`scope_record_ids`): two
tenants sending the same source id for their own accounts hold two records,
so neither can supersede, hide or correct the other's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rerate.usage.errors import ImportRejected, RejectedRow
from rerate.usage.importers.base import ParseResult, arrow_of, duck, mask_np

UNKNOWN_ACCOUNT = "unknown account"
AMBIGUOUS_ACCOUNT = "ambiguous account"
NOT_OWNED = "not owned by a customer in your scope at"

Window = tuple[datetime, datetime | None]
"""A half-open ownership interval `[valid_from, valid_to)`; `None` = still open."""


def _account_ids(result: ParseResult, lookup: Mapping[str, int]) -> pa.Array:
    """`account_id` per row (null where the ref is unknown), vectorised:
    Python touches each distinct ref once, never each row."""
    refs = result.table.column("account_ref")
    distinct = pc.unique(refs).to_pylist()
    known = [r for r in distinct if r in lookup]
    positions = pc.index_in(refs, value_set=pa.array(known, pa.string()))
    ids = pa.array([lookup[r] for r in known], pa.int64())
    taken = ids.take(positions)
    return taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken


def resolve_accounts(
    result: ParseResult,
    lookup: Mapping[str, int],
    *,
    file: str,
    skip_bad_rows: bool,
    windows: Mapping[int, Sequence[Window]] | None = None,
    ambiguous: Mapping[str, Sequence[int]] | None = None,
) -> tuple[pa.Table, list[RejectedRow]]:
    """Fill `account_id` from `lookup` (account_ref -> accounts.id).

    An unknown ref rejects the file at the first line where it appears,
    naming the account column; with `skip_bad_rows` its rows become rejects
    (reason `unknown account`) and the rest is returned. With `windows`
    (account id -> the intervals in which the caller's subtree owned it), a
    row whose `usage_start` lies in none of its account's windows is bad in
    the same way (reason `not owned by a customer in your scope at ...`).
    A ref in `ambiguous` (several accounts in the caller's scope use it, under
    different sellers) is bad too: rerate will not guess whose usage it is.
    """
    ids = _account_ids(result, lookup)
    bad = mask_np(pc.is_null(ids)).copy()
    reasons: dict[int, str] = {}
    table = result.table
    refs = table.column("account_ref")
    if bad.any():
        for i in np.flatnonzero(bad):
            ref = refs[int(i)].as_py()
            if ambiguous and ref in ambiguous:
                reasons[int(i)] = (
                    f"{AMBIGUOUS_ACCOUNT} {ref!r}: {len(ambiguous[ref])} accounts in your scope "
                    "use this ref (under different sellers); import it as a user of the "
                    "account's seller"
                )
            else:
                reasons[int(i)] = f"{UNKNOWN_ACCOUNT} {ref!r}"
    if windows is not None:
        for i in outside_windows(ids, table.column("usage_start"), windows):
            if not bad[i]:
                bad[i] = True
                start = table.column("usage_start")[int(i)].as_py()
                reasons[int(i)] = (
                    f"account {refs[int(i)].as_py()!r} was {NOT_OWNED} {start.isoformat()}"
                )
    rejects: list[RejectedRow] = []
    if bad.any():
        idx = np.flatnonzero(bad)
        lines = result.line_numbers[idx]
        if not skip_bad_rows:
            first = int(idx[np.argmin(lines)])
            raise ImportRejected(
                file, int(result.line_numbers[first]), result.account_column, reasons[first]
            )
        order = np.argsort(lines, kind="stable")
        texts = result.raw_lines([int(n) for n in lines])
        rejects = [
            RejectedRow(
                file,
                int(result.line_numbers[i]),
                result.account_column,
                reasons[int(i)],
                texts.get(int(result.line_numbers[i]), ""),
            )
            for i in idx[order]
        ]
        keep = pa.array(~bad)
        table = table.filter(keep)
        ids = ids.filter(keep)
    column = table.schema.get_field_index("account_id")
    table = table.set_column(column, table.schema.field(column), ids.cast(pa.int64()))
    return table, rejects


def outside_windows(
    ids: pa.Array, starts: pa.ChunkedArray | pa.Array, windows: Mapping[int, Sequence[Window]]
) -> npt.NDArray[np.int64]:
    """Positions of rows (with a known account) whose start lies in no window
    of their account, ascending. A range join in DuckDB: accounts have a
    handful of intervals each, so this is one hash join and a filter."""
    intervals = [(a, f, t) for a, spans in windows.items() for f, t in spans]
    rows = pa.table(
        {
            "pos": pa.array(np.arange(len(ids), dtype=np.int64)),
            "account_id": ids,
            "usage_start": starts,
        }
    )
    iv = pa.table(
        {
            "account_id": pa.array([a for a, _, _ in intervals], pa.int64()),
            "f": pa.array([f for _, f, _ in intervals], pa.timestamp("us", tz="UTC")),
            "t": pa.array([t for _, _, t in intervals], pa.timestamp("us", tz="UTC")),
        }
    )
    con = duck()
    try:
        con.register("rows_in", rows)
        con.register("iv", iv)
        found = arrow_of(
            con.execute(
                """
                SELECT r.pos FROM rows_in r
                WHERE r.account_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM iv
                    WHERE iv.account_id = r.account_id AND iv.f <= r.usage_start
                      AND (iv.t IS NULL OR r.usage_start < iv.t))
                ORDER BY r.pos
                """
            )
        )
    finally:
        con.close()
    return np.asarray(found.column("pos").to_numpy(), dtype=np.int64)


def scope_record_ids(table: pa.Table) -> pa.Table:
    """Record ids scoped to their account: `a<account_id>:<source record id>`.

    The store de-duplicates and corrects by record id; with the account in the
    id, a record can only ever be corrected through its own account, and an id
    sent by another tenant for its own account is another record.
    """
    if table.num_rows == 0:
        return table
    # One prefix string per distinct account, taken per row: a batch has few
    # accounts and many rows.
    accounts = table.column("account_id")
    distinct = pc.unique(accounts)
    prefixes = pa.array([f"a{a}:" for a in distinct.to_pylist()], pa.string())
    per_row = prefixes.take(pc.index_in(accounts, value_set=distinct))
    scoped = pc.binary_join_element_wise(per_row, table.column("record_id"), "")
    column = table.schema.get_field_index("record_id")
    return table.set_column(column, table.schema.field(column), scoped)


def scoped_record_id(account_id: int, record_id: str) -> str:
    """The stored id of a source record id sent for `account_id` (see above)."""
    prefix = f"a{account_id}:"
    return record_id if record_id.startswith(prefix) else prefix + record_id


def unknown_refs(result: ParseResult, lookup: Mapping[str, int]) -> dict[str, int]:
    """Refs missing from `lookup`, each with the first line it appears on."""
    refs = result.table.column("account_ref")
    distinct = [r for r in pc.unique(refs).to_pylist() if r not in lookup]
    if not distinct:
        return {}
    mask = pc.is_in(refs, value_set=pa.array(distinct, pa.string()))
    sub = pa.table(
        {
            "ref": refs.filter(mask),
            "line": pa.array(result.line_numbers).filter(
                mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask
            ),
        }
    )
    firsts = sub.group_by("ref").aggregate([("line", "min")])
    pairs = zip(
        firsts.column("ref").to_pylist(), firsts.column("line_min").to_pylist(), strict=True
    )
    return {ref: int(line) for ref, line in sorted(pairs, key=lambda p: p[1])}
