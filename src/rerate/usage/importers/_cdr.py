"""What the CDR importers share: the checks and the canonical CDR columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from rerate.usage.e164 import normalize_array
from rerate.usage.importers.base import (
    AnyArray,
    BoolArray,
    Checker,
    ImportOptions,
    ParseResult,
    RawTable,
    assemble,
    clean,
    parse_int,
    parse_timestamp,
    result,
)
from rerate.usage.schema import TIMESTAMP, UsageKind, UsageSource

# A call longer than this is a stuck channel or a corrupt record.
MAX_DURATION_S = 7 * 86_400

IGNORED = "-"
"""In a `columns` option: a field rerate does not read (a `cdr_custom`
variable of its own)."""


def layout(columns: Sequence[str], known: Sequence[str], *, format_name: str) -> tuple[str, ...]:
    """The field names of a `columns` option, checked against `known`.

    Each `-` becomes a distinct placeholder (the reader needs unique names).
    An unknown or repeated name is a `ValueError` listing the known ones: a
    typo must not silently drop the column it meant.
    """
    out: list[str] = []
    for i, name in enumerate(columns, start=1):
        name = name.strip()
        if name == IGNORED:
            out.append(f"{IGNORED}{i}")
        elif name not in known:
            raise ValueError(
                f"{format_name} columns: unknown name {name!r}"
                f" (known: {', '.join(known)}; '{IGNORED}' skips a column)"
            )
        elif name in out:
            raise ValueError(f"{format_name} columns: {name!r} given twice")
        else:
            out.append(name)
    return tuple(out)


# An Asterisk channel name: technology/resource-sequence, plus `;1`/`;2` for
# the two halves of a Local channel. The peer is the resource.
_CHANNEL = r"^[^/]+/(?P<peer>.+)-[0-9A-Fa-f]+(?:;\d+)?$"


def channel_peer(channels: AnyArray) -> pa.Array:
    """The peer of each Asterisk channel name (`SIP/alice-00000012` ->
    `alice`, `PJSIP/100-0000ab` -> `100`); null when the name has no peer."""
    c = clean(channels)
    if isinstance(c, pa.ChunkedArray):
        c = c.combine_chunks()
    matched = pc.extract_regex(c, _CHANNEL)
    peer: pa.Array = pc.struct_field(matched, "peer")
    return clean(peer)


@dataclass(frozen=True, slots=True)
class CdrFields:
    """Source column names of the canonical CDR fields (None: not in the format)."""

    account: str
    calling: str
    called: str
    start: str
    end: str | None  # None: end = start + duration
    duration: str
    billsec: str
    disposition: str | None


def parse_cdrs(
    con: duckdb.DuckDBPyConnection,
    raw: RawTable,
    fields: CdrFields,
    options: ImportOptions,
    *,
    file: str,
    source: UsageSource,
    default_tz: str | None,
    disposition: AnyArray | None = None,
    identity: Sequence[str] = (),
    source_id: AnyArray | None = None,
    local_identity: bool = True,
    account: AnyArray | None = None,
    account_reason: str = "missing value",
    answered_only: bool = False,
) -> ParseResult:
    """Check and convert CDR rows.

    `identity` names source columns hashed into the record id of rows
    without a source id. With `local_identity` the start time enters the
    identity as written (local time), so re-importing with a corrected
    `source_tz` yields the same ids (a correction, not new calls); otherwise
    as the UTC instant.

    `account`: the account of each row when it is not the `fields.account`
    column as written (a peer taken from a channel name); a null one fails
    the row with `account_reason`, quoting `fields.account`.
    `answered_only`: a row whose disposition is not `ANSWERED` gets
    billable seconds 0, whatever billsec says (Asterisk writes billsec > 0
    on NO ANSWER legs of a forked dial): rating then treats it as
    unanswered (`charge_unanswered`).
    """
    t = raw.table

    def col(name: str) -> pa.Array:
        return t.column(name).combine_chunks()

    check = Checker(raw, file=file, skip_bad_rows=options.skip_bad_rows)
    account_ref = clean(col(fields.account)) if account is None else account
    check.fail(
        pc.is_null(account_ref),
        fields.account,
        account_reason,
        None if account is None else col(fields.account),
    )
    start, bad_start, no_offset = parse_timestamp(con, col(fields.start), default_tz=default_tz)
    check.required(col(fields.start), fields.start)
    check.fail(bad_start, fields.start, "unparsable timestamp", col(fields.start))
    if default_tz is None:
        check.fail(no_offset, fields.start, "timestamp without UTC offset", col(fields.start))
    duration, bad_duration = parse_int(col(fields.duration))
    billsec, bad_billsec = parse_int(col(fields.billsec))
    if fields.end is not None:
        end, bad_end, _ = parse_timestamp(con, col(fields.end), default_tz=default_tz)
        check.required(col(fields.end), fields.end)
        check.fail(bad_end, fields.end, "unparsable timestamp", col(fields.end))
        check.fail(pc.less(end, start), fields.end, "end before start", col(fields.end))
    check.required(col(fields.duration), fields.duration)
    check.fail(bad_duration, fields.duration, "unparsable whole number", col(fields.duration))
    check.fail(pc.less(duration, 0), fields.duration, "negative duration", col(fields.duration))
    check.fail(
        pc.greater(duration, MAX_DURATION_S),
        fields.duration,
        "duration over 7 days",
        col(fields.duration),
    )
    check.required(col(fields.billsec), fields.billsec)
    check.fail(bad_billsec, fields.billsec, "unparsable whole number", col(fields.billsec))
    check.fail(pc.less(billsec, 0), fields.billsec, "negative duration", col(fields.billsec))
    check.fail(
        pc.greater(billsec, MAX_DURATION_S),
        fields.billsec,
        "duration over 7 days",
        col(fields.billsec),
    )
    if fields.end is None:
        safe = pc.if_else(pa.array(check.good), duration, 0)
        end = pc.add(start, pc.cast(pc.multiply(safe, 1_000_000), pa.duration("us"))).cast(
            TIMESTAMP
        )
    if disposition is None:
        disposition = (
            pc.utf8_upper(clean(col(fields.disposition)))
            if fields.disposition
            else pa.nulls(raw.num_rows, pa.string())
        )
    called = clean(col(fields.called))
    if answered_only:
        answered = pc.fill_null(pc.equal(disposition, "ANSWERED"), False)
        billsec = pc.if_else(answered, billsec, 0)

    def table_of(good: BoolArray) -> pa.Table:
        columns = {
            "account_ref": account_ref,
            "usage_start": start,
            "usage_end": end,
            "calling_number": clean(col(fields.calling)),
            "called_number": called,
            "destination": normalize_array(called, rules=options.numbering_rules()),
            "duration_seconds": duration,
            "billable_seconds": billsec,
            "disposition": disposition,
        }
        ident: list[AnyArray] = []
        for name in identity:
            if name == fields.start and not local_identity:
                ident.append(start)
            else:
                ident.append(clean(col(name)))
        return assemble(
            con,
            columns,
            good=good,
            source=source,
            kind=UsageKind.CDR,
            namespace=options.namespace,
            identity=ident,
            source_id=source_id,
        )

    return result(raw, check, table_of, account_column=fields.account)
