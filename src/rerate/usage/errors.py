"""Errors and rejects of usage imports.

A bad file is rejected whole with the file, the line and the column that made
it bad (`ImportRejected`); with `skip_bad_rows` the bad rows are set aside as
`RejectedRow`s instead, and can be written to a rejects CSV
(`file,line,column,reason,raw`) for the user to fix and re-send.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rerate.kit import csvout


class UsageImportError(Exception):
    """Base of every error an import reports to its caller."""


class ImportRejected(UsageImportError):
    """The file is rejected whole; nothing of it is imported.

    `line` is the 1-based line in the source file (the header is line 1 for CSV
    files with a header). For formats without lines it is the 1-based position
    of the record (CloudStack JSON: index in `usagerecord`; Parquet: row
    number, 0 for the file's schema; API batches: index in the batch).
    """

    def __init__(self, file: str, line: int, column: str | None, message: str) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        where = f"{file}:{line}"
        super().__init__(f"{where}: {column}: {message}" if column else f"{where}: {message}")


class StoreBusy(UsageImportError):
    """Another process holds the usage store's import lock."""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """One row set aside under `skip_bad_rows`.

    `raw` is the source line as written (CSV formats: the record's first
    physical line), or the record as JSON for JSON sources.
    """

    file: str
    line: int
    column: str | None
    reason: str
    raw: str


REJECTS_HEADER = ("file", "line", "column", "reason", "raw")


def write_rejects_csv(path: Path, rejects: Iterable[RejectedRow]) -> int:
    """Write rejects as CSV (`file,line,column,reason,raw`); return the row count."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csvout.Writer(fh, lineterminator="\r\n")
        writer.writerow(REJECTS_HEADER)
        for r in rejects:
            writer.writerow((r.file, r.line, r.column or "", r.reason, r.raw))
            count += 1
    return count
