"""Map each row's external account reference to a rerate account id.

Importers leave `account_id` at -1 because accounts live in the database;
the service loads `{account_ref: accounts.id}` for the source and calls
`resolve_accounts`. `unknown_refs` lists what is missing, so the service can
create the accounts first when the user asked for `--create-accounts`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rerate.usage.errors import ImportRejected, RejectedRow
from rerate.usage.importers.base import ParseResult, mask_np

UNKNOWN_ACCOUNT = "unknown account"


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
) -> tuple[pa.Table, list[RejectedRow]]:
    """Fill `account_id` from `lookup` (account_ref -> accounts.id).

    An unknown ref rejects the file at the first line where it appears,
    naming the account column; with `skip_bad_rows` its rows become rejects
    (reason `unknown account`) and the rest is returned.
    """
    ids = _account_ids(result, lookup)
    unknown = mask_np(pc.is_null(ids))
    table = result.table
    rejects: list[RejectedRow] = []
    if unknown.any():
        idx = np.flatnonzero(unknown)
        lines = result.line_numbers[idx]
        if not skip_bad_rows:
            first = int(idx[np.argmin(lines)])
            ref = table.column("account_ref")[first].as_py()
            raise ImportRejected(
                file,
                int(result.line_numbers[first]),
                result.account_column,
                f"{UNKNOWN_ACCOUNT} {ref!r}",
            )
        order = np.argsort(lines, kind="stable")
        texts = result.raw_lines([int(n) for n in lines])
        refs = table.column("account_ref").take(pa.array(idx[order])).to_pylist()
        rejects = [
            RejectedRow(
                file,
                int(line),
                result.account_column,
                f"{UNKNOWN_ACCOUNT} {ref!r}",
                texts.get(int(line), ""),
            )
            for line, ref in zip(lines[order], refs, strict=True)
        ]
        keep = pa.array(~unknown)
        table = table.filter(keep)
        ids = ids.filter(keep)
    column = table.schema.get_field_index("account_id")
    table = table.set_column(column, table.schema.field(column), ids.cast(pa.int64()))
    return table, rejects


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
