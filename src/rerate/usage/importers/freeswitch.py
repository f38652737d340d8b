"""FreeSWITCH `mod_cdr_csv` Master.csv with the default template.

The template FreeSWITCH ships as its default (`default-template` =
`example` in `cdr_csv.conf.xml`):

    caller_id_name, caller_id_number, destination_number, context,
    start_stamp, answer_stamp, end_stamp, duration, billsec, hangup_cause,
    uuid, bleg_uuid, accountcode, read_codec, write_codec

Timestamps (`YYYY-MM-DD hh:mm:ss`) are the switch's local time: `source_tz`.
Account = accountcode, or the column `account_from` names (e.g.
caller_id_number). Pass `ImportOptions.columns` for another template (same
variable names, `-` for a column rerate does not read).

With `legs="ab"` FreeSWITCH writes both legs of a bridged call; the A-leg
names the B-leg in `bleg_uuid`. A row whose `uuid` is another row's
`bleg_uuid` in the same file is that call's B-leg and is left out (see
`b_legs`), so a call is billed once.

`hangup_cause` is mapped to the disposition vocabulary the other switches
use: answered (answer_stamp set) -> ANSWERED; USER_BUSY -> BUSY;
NO_ANSWER, NO_USER_RESPONSE, ORIGINATOR_CANCEL, ALLOTTED_TIMEOUT ->
NO ANSWER; anything else -> FAILED.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rerate.usage.errors import ImportRejected
from rerate.usage.importers._cdr import CdrFields, layout, parse_cdrs
from rerate.usage.importers.base import (
    BoolArray,
    ImportOptions,
    ParseResult,
    RawTable,
    clean,
    duck,
    mask_np,
    read_csv_raw,
)
from rerate.usage.schema import UsageSource

DEFAULT_TEMPLATE = (
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp",
    "answer_stamp", "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid",
    "accountcode", "read_codec", "write_codec",
)  # fmt: skip
REQUIRED = (
    "caller_id_number", "destination_number", "start_stamp", "answer_stamp", "end_stamp",
    "duration", "billsec", "hangup_cause",
)  # fmt: skip
NO_ACCOUNTCODE = (
    "missing value (set account_from to read the account elsewhere, e.g. caller_id_number)"
)
FIELDS = CdrFields(
    account="accountcode",
    calling="caller_id_number",
    called="destination_number",
    start="start_stamp",
    end="end_stamp",
    duration="duration",
    billsec="billsec",
    disposition=None,
)
KNOWN = DEFAULT_TEMPLATE
IDENTITY = ("caller_id_number", "destination_number", "context", "start_stamp")
NO_ANSWER_CAUSES = ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT")


def disposition(answer_stamp: pa.Array, hangup_cause: pa.Array) -> pa.Array:
    cause = pc.utf8_upper(clean(hangup_cause))
    answered = pc.is_valid(clean(answer_stamp))
    busy = pc.fill_null(pc.equal(cause, "USER_BUSY"), False)
    no_answer = pc.fill_null(pc.is_in(cause, value_set=pa.array(NO_ANSWER_CAUSES)), False)
    out = pc.if_else(no_answer, "NO ANSWER", "FAILED")
    out = pc.if_else(busy, "BUSY", out)
    result: pa.Array = pc.if_else(answered, "ANSWERED", out)
    return result


B_LEG_REASON = 'B-leg of a call whose A-leg is in the file (legs="ab"): billed once, on its A-leg'


def b_legs(raw: RawTable) -> BoolArray:
    """Rows that are the B-leg of another row of the file (`legs="ab"`).

    A row is a B-leg when its uuid is another row's bleg_uuid. Should two
    rows name each other, the one that started later (else the later line)
    is the B-leg: FreeSWITCH creates the A-leg first.
    """
    n = raw.num_rows
    if "uuid" not in raw.table.column_names or "bleg_uuid" not in raw.table.column_names:
        return np.zeros(n, dtype=np.bool_)
    uuid = clean(raw.table.column("uuid").combine_chunks())
    bleg = clean(raw.table.column("bleg_uuid").combine_chunks())
    named = pc.drop_null(bleg).unique()
    candidate = mask_np(pc.is_in(uuid, value_set=named))
    if not candidate.any():
        return candidate
    uuids, blegs = uuid.to_pylist(), bleg.to_pylist()
    starts = raw.table.column("start_stamp").to_pylist()
    row_of = {u: i for i, u in enumerate(uuids) if u is not None}
    out = np.zeros(n, dtype=np.bool_)
    for a, b_uuid in enumerate(blegs):
        b = row_of.get(b_uuid) if b_uuid is not None else None
        if b is None or b == a:
            continue
        mutual = blegs[b] is not None and blegs[b] == uuids[a]
        if mutual and (starts[b], int(raw.lines[b])) < (starts[a], int(raw.lines[a])):
            continue  # `a` is the later of the two: it is the B-leg, seen from `b`
        out[b] = True
    return out


def parse(path: Path, options: ImportOptions) -> ParseResult:
    file = options.label(path)
    names = (
        layout(options.columns, KNOWN, format_name="freeswitch")
        if options.columns is not None
        else DEFAULT_TEMPLATE
    )
    account_column = options.account_from or "accountcode"
    if account_column not in KNOWN:
        raise ValueError(
            f"freeswitch account_from: unknown {account_column!r}"
            f" (choose one of: {', '.join(KNOWN)})"
        )
    missing = [c for c in (account_column, *REQUIRED) if c not in names]
    if missing:
        raise ImportRejected(file, 1, missing[0], "missing column")
    identity = [c for c in IDENTITY if c in names]
    used = {account_column, *REQUIRED, *identity, "uuid", "bleg_uuid"}
    raw = read_csv_raw(
        path,
        header=False,
        names=names,
        include=[c for c in names if c in used],
        progress=options.progress,
    )
    drop = b_legs(raw)
    if drop.any():
        raw = RawTable(
            raw.table.filter(pa.array(~drop)), raw.lines[~drop], raw.structural, raw.raw_lookup
        )
    t = raw.table
    source_id = clean(t.column("uuid")) if "uuid" in names else None
    con = duck()
    try:
        parsed = parse_cdrs(
            con,
            raw,
            replace(FIELDS, account=account_column),
            options,
            file=file,
            source=UsageSource.FREESWITCH,
            default_tz=options.source_tz,
            disposition=disposition(
                t.column("answer_stamp").combine_chunks(), t.column("hangup_cause").combine_chunks()
            ),
            identity=identity,
            source_id=source_id,
            account_reason=NO_ACCOUNTCODE if account_column == "accountcode" else "missing value",
            answered_only=True,
        )
    finally:
        con.close()
    legs = int(drop.sum())
    if not legs:
        return parsed
    # rows_read counts every row of the file; the B-legs are reported apart.
    return replace(parsed, rows_read=parsed.rows_read + legs, skipped=((B_LEG_REASON, legs),))
