"""Asterisk `cdr_csv` Master.csv (no header).

Field order as `cdr_csv.c` writes it: accountcode, src, dst, dcontext, clid,
channel, dstchannel, lastapp, lastdata, start, answer, end, duration,
billsec, disposition, amaflags, then `uniqueid` if `loguniqueid`, then
`userfield` if `loguserfield`, then peeraccount, linkedid, sequence if
`newcdrcolumns`. The layout is recognised by the field count of the first
record (16, 17 = +uniqueid, 18 = +uniqueid,userfield, 21 = all); pass
`ImportOptions.columns` for any other configuration.

Times are local (`usegmtime=no` is Asterisk's default): `source_tz` says
which zone. Account = accountcode, or the field `account_from` names (most
PBXs leave accountcode empty): a column, or `channel-peer` /
`dstchannel-peer`, the peer in the channel's name. Only an ANSWERED leg
carries billable seconds (see `parse_cdrs(answered_only)`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc

from rerate.usage.errors import ImportRejected
from rerate.usage.importers._cdr import CdrFields, channel_peer, layout, parse_cdrs
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
KNOWN = LAYOUTS[21]
REQUIRED = ("src", "dst", "start", "end", "duration", "billsec", "disposition")
# account_from values that take the peer out of a channel name.
PEER_OF = {"channel-peer": "channel", "dstchannel-peer": "dstchannel"}
NO_ACCOUNTCODE = "missing value (set account_from to read the account elsewhere, e.g. channel-peer)"
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
    if options.columns is not None:
        names = layout(options.columns, KNOWN, format_name="asterisk")
    else:
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
    account_column = _account_column(options.account_from)
    missing = [c for c in (account_column, *REQUIRED) if c not in names]
    if missing:
        raise ImportRejected(file, 1, missing[0], "missing column")
    identity = [c for c in IDENTITY if c in names]
    used = {account_column, *REQUIRED, *identity}
    source_id_from = (
        ("sequence" if "sequence" in names else "start") if "uniqueid" in names else None
    )
    if source_id_from:
        used |= {"uniqueid", source_id_from}
    raw = read_csv_raw(
        path,
        header=False,
        names=names,
        include=[c for c in names if c in used],
        progress=options.progress,
    )
    source_id = None
    if source_id_from:
        uid = clean(raw.table.column("uniqueid"))
        # Since Asterisk 12 one channel can log several CDRs under one
        # uniqueid; `sequence` tells them apart, else the start time does.
        tag = "/" if source_id_from == "sequence" else "@"
        suffix = pc.coalesce(clean(raw.table.column(source_id_from)), "")
        source_id = pc.binary_join_element_wise(uid, tag, suffix, "")
    account = None
    reason = NO_ACCOUNTCODE if account_column == "accountcode" else "missing value"
    if options.account_from in PEER_OF:
        account = channel_peer(raw.table.column(account_column))
        reason = "no peer in the channel name"
    con = duck()
    try:
        return parse_cdrs(
            con,
            raw,
            replace(FIELDS, account=account_column),
            options,
            file=file,
            source=UsageSource.ASTERISK,
            default_tz=options.source_tz,
            identity=identity,
            source_id=source_id,
            account=account,
            account_reason=reason,
            answered_only=True,
        )
    finally:
        con.close()


def _account_column(account_from: str | None) -> str:
    """The column the account is read from (a peer is then taken out of it)."""
    if account_from is None:
        return "accountcode"
    if account_from in PEER_OF:
        return PEER_OF[account_from]
    if account_from in KNOWN:
        return account_from
    choices = ", ".join((*PEER_OF, *KNOWN))
    raise ValueError(f"asterisk account_from: unknown {account_from!r} (choose one of: {choices})")
