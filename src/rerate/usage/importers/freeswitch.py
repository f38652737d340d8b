"""FreeSWITCH `mod_cdr_csv` Master.csv with the default template.

The template FreeSWITCH ships as its default (`default-template` =
`example` in `cdr_csv.conf.xml`):

    caller_id_name, caller_id_number, destination_number, context,
    start_stamp, answer_stamp, end_stamp, duration, billsec, hangup_cause,
    uuid, bleg_uuid, accountcode, read_codec, write_codec

Timestamps (`YYYY-MM-DD hh:mm:ss`) are the switch's local time: `source_tz`.
Account = accountcode, which must be set on the call (e.g. on the user or
gateway). Log only A-legs (`legs="a"`, the default): a B-leg is the same call.
Pass `ImportOptions.columns` for another template (same variable names).

`hangup_cause` is mapped to the disposition vocabulary the other switches
use: answered (answer_stamp set) -> ANSWERED; USER_BUSY -> BUSY;
NO_ANSWER, NO_USER_RESPONSE, ORIGINATOR_CANCEL, ALLOTTED_TIMEOUT ->
NO ANSWER; anything else -> FAILED.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rerate.usage.errors import ImportRejected
from rerate.usage.importers._cdr import CdrFields, parse_cdrs
from rerate.usage.importers.base import ImportOptions, ParseResult, clean, duck, read_csv_raw
from rerate.usage.schema import UsageSource

DEFAULT_TEMPLATE = (
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp",
    "answer_stamp", "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid",
    "accountcode", "read_codec", "write_codec",
)  # fmt: skip
REQUIRED = (
    "caller_id_number", "destination_number", "start_stamp", "answer_stamp", "end_stamp",
    "duration", "billsec", "hangup_cause", "accountcode",
)  # fmt: skip
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


def parse(path: Path, options: ImportOptions) -> ParseResult:
    file = options.label(path)
    names = options.columns or DEFAULT_TEMPLATE
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ImportRejected(file, 1, missing[0], "missing column")
    raw = read_csv_raw(path, header=False, names=names, progress=options.progress)
    t = raw.table
    source_id = clean(t.column("uuid")) if "uuid" in names else None
    con = duck()
    try:
        return parse_cdrs(
            con,
            raw,
            FIELDS,
            options,
            file=file,
            source=UsageSource.FREESWITCH,
            default_tz=options.source_tz,
            disposition=disposition(
                t.column("answer_stamp").combine_chunks(), t.column("hangup_cause").combine_chunks()
            ),
            identity=[c for c in IDENTITY if c in names],
            source_id=source_id,
        )
    finally:
        con.close()
