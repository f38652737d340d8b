"""The one CSV writer for everything rerate hands out (invoices, diffs, rejects).

A spreadsheet opening a CSV runs a cell that starts with `=`, `+`, `-` or `@`
(or a tab or carriage return before one) as a formula: `=HYPERLINK(...)` in a
custom item's description or in a SKU from imported usage would become a live
link or worse in whoever opens the invoice. Every text cell that could start
a formula is written with a leading `'`, which spreadsheets show as text.

Numbers stay numbers: `Decimal` and `int` values, and text that is a plain
number (`-250.00`, `+4930123`), are written as they are.

The escape is reversible (`restore`): a cell that already starts with `'`
before a formula character gets one more, so reading our own files back
(`read_dicts`: the diff preview, the rejects in an import report) gives the
original text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import IO, Any

# ASCII formula starts, tab and CR, and the full-width forms some spreadsheet
# locales also accept.
_TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def needs_escape(text: str) -> bool:
    """Would a spreadsheet take `text` for a formula (or is it our escape already)?"""
    if _is_number(text):
        return False
    rest = text.lstrip("' ")
    return rest[:1] in _TRIGGERS


def cell(value: object) -> str:
    """One value as CSV text: numbers as plain decimals, text escaped if needed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return "'" + text if needs_escape(text) else text


def restore(text: str) -> str:
    """The original text of a cell written by `cell`."""
    if text.startswith("'") and needs_escape(text[1:]):
        return text[1:]
    return text


class Writer:
    """`csv.writer` whose every cell goes through `cell`."""

    def __init__(self, fh: IO[str], *, lineterminator: str = "\n") -> None:
        self._writer = csv.writer(fh, lineterminator=lineterminator)
        # The csv module quotes a field holding a line break only if the break
        # is in `lineterminator`: a lone CR in a "\n" file would go out bare
        # and split the row in a spreadsheet. Rows with one are fully quoted.
        self._quoting_all = csv.writer(fh, lineterminator=lineterminator, quoting=csv.QUOTE_ALL)

    def writerow(self, values: Iterable[object]) -> None:
        cells = [cell(v) for v in values]
        if any("\r" in c or "\n" in c for c in cells):
            self._quoting_all.writerow(cells)
        else:
            self._writer.writerow(cells)

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for values in rows:
            self.writerow(values)


class DictWriter:
    """`csv.DictWriter` whose every cell goes through `cell`."""

    def __init__(
        self, fh: IO[str], fieldnames: Sequence[str], *, lineterminator: str = "\n"
    ) -> None:
        self.fieldnames = list(fieldnames)
        self._writer = Writer(fh, lineterminator=lineterminator)

    def writeheader(self) -> None:
        self._writer.writerow(self.fieldnames)

    def writerow(self, row: Mapping[str, Any]) -> None:
        unknown = set(row) - set(self.fieldnames)
        if unknown:
            raise ValueError(f"fields not in the header: {sorted(unknown)}")
        self._writer.writerow(row.get(f) for f in self.fieldnames)


def read_dicts(fh: Iterable[str]) -> Iterator[dict[str, str]]:
    """Rows of a CSV written by this module, as their original text."""
    for row in csv.DictReader(fh):
        yield {k: restore(v) if isinstance(v, str) else v for k, v in row.items()}


def escape_arrow(table: Any) -> Any:
    """`table` (a pyarrow Table) with `cell`'s escape applied to every string column,
    vectorised, for CSVs too large to write row by row (rated rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for column in table.columns:
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            columns.append(column)
            continue
        risky = pc.and_not(
            pc.match_substring_regex(column, _ESCAPE_PATTERN),
            pc.match_substring_regex(column, rf"^{_NUMBER.pattern}$"),
        )
        escaped = pc.binary_join_element_wise("'", column, "")
        columns.append(pc.if_else(pc.fill_null(risky, False), escaped, column))
    return pa.table(columns, names=table.column_names)


# `needs_escape` as one regular expression (RE2 syntax, for Arrow).
_ESCAPE_PATTERN = "^[' ]*[=+\\-@\\t\\r\uff1d\uff0b\uff0d\uff20]"
