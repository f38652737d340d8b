"""rerate's generic CDR CSV, for switches without a dedicated importer.

UTF-8, comma-separated, one header line; column names are matched without
regard to case and may come in any order; other columns are ignored.

    column            required  meaning
    record_id         no        the switch's call id; else a hash (see docs)
    account           yes       the peer / trunk / customer account code
    start             yes       ISO 8601 *with* UTC offset: 2026-08-01T09:30:00+02:00
    calling           yes       calling number as sent (may be empty)
    called            yes       called number as dialled
    duration_seconds  yes       whole call, ringing included (whole seconds)
    billable_seconds  yes       answered time (whole seconds)
    disposition       yes       ANSWERED, NO ANSWER, BUSY, FAILED ...

`usage_end` = start + duration_seconds. A start without an offset is
rejected: a CDR file moves between systems, and a guessed zone bills the
wrong peak band.
"""

from __future__ import annotations

from pathlib import Path

from rerate.usage.importers._cdr import CdrFields, parse_cdrs
from rerate.usage.importers.base import (
    ImportOptions,
    ParseResult,
    duck,
    match_columns,
    read_csv_raw,
    read_header,
)
from rerate.usage.schema import UsageSource

SPEC: dict[str, tuple[str, ...]] = {
    "record_id": ("record_id",),
    "account": ("account",),
    "start": ("start",),
    "calling": ("calling",),
    "called": ("called",),
    "duration": ("duration_seconds",),
    "billsec": ("billable_seconds",),
    "disposition": ("disposition",),
}
REQUIRED = ("account", "start", "calling", "called", "duration", "billsec", "disposition")


def parse(path: Path, options: ImportOptions) -> ParseResult:
    file = options.label(path)
    cols = match_columns(read_header(path), SPEC, REQUIRED, file=file)
    present = {k: v for k, v in cols.items() if v is not None}
    raw = read_csv_raw(path, header=True, include=list(present.values()), progress=options.progress)
    fields = CdrFields(
        account=present["account"],
        calling=present["calling"],
        called=present["called"],
        start=present["start"],
        end=None,
        duration=present["duration"],
        billsec=present["billsec"],
        disposition=present["disposition"],
    )
    record_id = present.get("record_id")
    con = duck()
    try:
        return parse_cdrs(
            con,
            raw,
            fields,
            options,
            file=file,
            source=UsageSource.GENERIC_CDR,
            default_tz=None,
            # Identity without record_id: who called whom, when (as an
            # instant: offsets are explicit here, so the text may vary).
            identity=(fields.calling, fields.called, fields.start),
            source_id=raw.table.column(record_id) if record_id else None,
            local_identity=False,
        )
    finally:
        con.close()
