"""Asterisk `cdr_csv` Master.csv (no header).

Field order as `cdr_csv.c` writes it: accountcode, src, dst, dcontext, clid,
channel, dstchannel, lastapp, lastdata, start, answer, end, duration,
billsec, disposition, amaflags, then `uniqueid` if `loguniqueid`, then
`userfield` if `loguserfield`, then peeraccount, linkedid, sequence if
`newcdrcolumns`. The layout is recognised by the field count of the first
record (16, 17 = +uniqueid, 18 = +uniqueid,userfield, 21 = all); pass
`ImportOptions.columns` for any other configuration.

Times are local (`usegmtime=no` is Asterisk's default): `source_tz` says
which zone. Account = accountcode (the peer).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from rerate.usage.errors import ImportRejected
from rerate.usage.importers._cdr import CdrFields, parse_cdrs
from rerate.usage.importers.base import (
    ImportOptions,
    ParseResult,
    clean,
    duck,
    first_record,
    read_csv_raw,
)
from rerate.usage.schema import UsageSource

BASE = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
)  # fmt: skip
LAYOUTS: dict[int, tuple[str, ...]] = {
    16: BASE,
    17: (*BASE, "uniqueid"),
    18: (*BASE, "uniqueid", "userfield"),
    21: (*BASE, "uniqueid", "userfield", "peeraccount", "linkedid", "sequence"),
}
REQUIRED = ("accountcode", "src", "dst", "start", "end", "duration", "billsec", "disposition")
FIELDS = CdrFields(
    account="accountcode",
    calling="src",
    called="dst",
    start="start",
    end="end",
    duration="duration",
    billsec="billsec",
    disposition="disposition",
)
# Identity of a call without uniqueid. The account is left out so a CDR
# re-sent with a corrected accountcode supersedes the first one.
IDENTITY = ("src", "dst", "dcontext", "channel", "dstchannel", "start")


def parse(path: Path, options: ImportOptions) -> ParseResult:
    file = options.label(path)
    names = options.columns
    if names is None:
        first = first_record(path)
        if not first:
            names = LAYOUTS[16]
        elif len(first) not in LAYOUTS:
            raise ImportRejected(
                file,
                1,
                None,
                f"unexpected number of fields {len(first)} (Asterisk writes 16, 17, 18 or 21;"
                " pass the field order in the import options)",
            )
        else:
            names = LAYOUTS[len(first)]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ImportRejected(file, 1, missing[0], "missing column")
    raw = read_csv_raw(path, header=False, names=names, progress=options.progress)
    source_id = None
    if "uniqueid" in names:
        uid = clean(raw.table.column("uniqueid"))
        # Since Asterisk 12 one channel can log several CDRs under one
        # uniqueid; `sequence` tells them apart, else the start time does.
        tag, other = ("/", "sequence") if "sequence" in names else ("@", "start")
        suffix = pc.coalesce(clean(raw.table.column(other)), "")
        source_id = pc.binary_join_element_wise(uid, tag, suffix, "")
    con = duck()
    try:
        return parse_cdrs(
            con,
            raw,
            FIELDS,
            options,
            file=file,
            source=UsageSource.ASTERISK,
            default_tz=options.source_tz,
            identity=IDENTITY,
            source_id=source_id,
        )
    finally:
        con.close()
