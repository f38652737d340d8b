"""What every importer shares: options, the parse result, reading, validation.

The shape of an importer:

1. read the source into a table of *strings* (`RawTable`), one row per
   record, with the source line of each row;
2. parse and check columns vectorised (pyarrow.compute / DuckDB) and record
   every failing row with a `Checker`; row-level Python runs only over the
   few bad rows, to word their messages;
3. `assemble` the canonical table (USAGE_SCHEMA) from the good rows,
   computing `record_id` (sha256, hashlib over Arrow buffers) and
   `content_hash` (md5, DuckDB).

Reading is fast on the common case (pyarrow.csv, multi-threaded, one record
per physical line). When the file is irregular (blank lines, quoted
newlines, rows with the wrong number of fields, bad UTF-8) the line numbers
pyarrow cannot give are recovered by re-reading the file with the `csv`
module: slow, but only bad files pay for it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from rerate.kit.bounds import USAGE_FROM, USAGE_UNTIL
from rerate.kit.money import ROW_QUANTUM, ROW_SCALE
from rerate.kit.numbering import DEFAULT, NumberingRules, rules_from_options
from rerate.usage.errors import ImportRejected, RejectedRow
from rerate.usage.schema import DECIMAL, TIMESTAMP, USAGE_SCHEMA, UsageKind, UsageSource

Progress = Callable[[int, int], None]
"""`progress(done, total)`: bytes (or records) done out of total."""

LineArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
AnyArray: TypeAlias = pa.Array | pa.ChunkedArray


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read one source file. Every field has a safe default."""

    skip_bad_rows: bool = False
    """False: the first bad row rejects the file. True: bad rows become rejects."""
    source_tz: str = "UTC"
    """Zone of timestamps written without a UTC offset (Asterisk, FreeSWITCH)."""
    country_code: str | None = None
    """Replaces the trunk prefix (`0`, or the preset's) when normalising called numbers."""
    numbering: str | None = None
    """Numbering preset of the source (`NANP`/`US`, `GB`, `DE`, `FR`, `RU`, `DEFAULT`;
    rerate.kit.numbering); `country_code` and the two prefixes override it."""
    international_prefix: str | None = None
    """International access prefix(es), comma-separated (e.g. `011`)."""
    trunk_prefix: str | None = None
    """National trunk prefix (e.g. `1` in NANP); `none` when there is none."""
    tag_key: str | None = None
    """Azure: the tag whose value extends the account (`subscription/value`)."""
    namespace: str = ""
    """Prefixes record ids, to keep apart sources whose ids may collide
    (two switches both numbering calls from 1)."""
    id_column: str | None = None
    """FOCUS: the column holding a stable row id (default: `RecordId` or
    `x_RecordId` when present)."""
    columns: tuple[str, ...] | None = None
    """Headerless CSV (Asterisk, FreeSWITCH): the field order, when the
    switch does not use the default one (`-` names a column to ignore)."""
    account_from: str | None = None
    """Asterisk, FreeSWITCH: where the account comes from (default: the
    accountcode); a column name, or `channel-peer` / `dstchannel-peer`."""
    progress: Progress | None = None
    file_label: str | None = None
    """The file name used in messages (default: the path's final component)."""

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.source_tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.source_tz!r}") from None
        self.numbering_rules()  # invalid numbering settings: one-line ValueError now
        if ":" in self.namespace:
            raise ValueError("namespace must not contain ':'")

    def numbering_rules(self) -> NumberingRules:
        """The rules called numbers of this source are normalised with."""
        rules = rules_from_options(
            self.numbering,
            country_code=self.country_code,
            international_prefix=self.international_prefix,
            trunk_prefix=self.trunk_prefix,
        )
        return rules or DEFAULT

    def label(self, path: Path) -> str:
        return self.file_label or path.name


RawLookup = Callable[[Sequence[int]], Mapping[int, str]]
"""Given source line numbers, the raw text of those records (for rejects)."""


@dataclass(frozen=True, slots=True)
class ParseResult:
    """A parsed source: canonical rows plus where each came from.

    `table` follows USAGE_SCHEMA with `account_id` = -1 and `import_id` = 0
    (the service fills both). `line_numbers[i]` is the source line of row i.
    """

    table: pa.Table
    line_numbers: LineArray
    rejects: list[RejectedRow]
    rows_read: int
    file: str
    account_column: str
    """The source column holding `account_ref`, for messages."""
    raw_lookup: RawLookup | None = field(default=None, repr=False, compare=False)
    skipped: tuple[tuple[str, int], ...] = ()
    """Rows of the file left out on purpose, not rejected: (reason, count)."""

    def raw_lines(self, lines: Sequence[int]) -> Mapping[int, str]:
        return self.raw_lookup(lines) if self.raw_lookup and lines else {}


# --------------------------------------------------------------------------- reading


@dataclass(slots=True)
class Structural:
    """A record that could not even be split into the expected fields."""

    line: int
    column: str | None
    reason: str
    raw: str | None  # None: the physical line, looked up when needed


@dataclass(slots=True)
class RawTable:
    table: pa.Table  # every column a string column
    lines: LineArray
    structural: list[Structural] = field(default_factory=list)
    raw_lookup: RawLookup | None = None

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    @property
    def rows_read(self) -> int:
        return self.num_rows + len(self.structural)


class _CountingReader(io.RawIOBase):
    """A file wrapper that reports progress and counts newlines as pyarrow reads.

    Counting here costs nothing extra (the bytes pass through anyway) and
    tells us whether every record sat on exactly one line.
    """

    def __init__(self, fh: BinaryIO, total: int, progress: Progress | None) -> None:
        self._fh = fh
        self._total = total
        self._progress = progress
        self.done = 0
        self.newlines = 0
        self.last_byte = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._fh.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._account(data)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._account(data)
        return data

    def _account(self, data: bytes) -> None:
        if not data:
            return
        self.done += len(data)
        self.newlines += data.count(b"\n")
        self.last_byte = data[-1:]
        if self._progress is not None:
            self._progress(self.done, self._total)

    def physical_lines(self) -> int:
        extra = 1 if self.last_byte not in (b"", b"\n") else 0
        return self.newlines + extra


# A physical CSV line longer than this rejects the file at that line: the
# `csv` module would hold the whole line (a 20 MB line, or a 1 GB file with no
# newline) in memory, and no usage record needs more than a few hundred bytes.
MAX_LINE_CHARS = 1 << 20


class SourceLineError(ValueError):
    """A line the CSV reader cannot take (too long, a NUL byte, a field over
    the `csv` module's limit). The registry (`importers.Importer`) turns it
    into `ImportRejected` naming the file, which only it knows here."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _bounded_lines(fh: io.TextIOBase) -> Iterator[str]:
    """The physical lines of `fh`, refusing one longer than MAX_LINE_CHARS
    before it is read whole."""
    number = 0
    while text := fh.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(text.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise SourceLineError(number, f"line longer than {MAX_LINE_CHARS} characters")
        yield text


def csv_records(fh: io.TextIOBase) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each CSV record of `fh`, as `csv.reader`
    reads them, with line errors raised as `SourceLineError`."""
    reader = csv.reader(_bounded_lines(fh))
    end = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceLineError(reader.line_num, str(exc)) from None
        yield end + 1, record
        end = reader.line_num


def read_header(path: Path) -> list[str]:
    """The first CSV record of `path` (a UTF-8 BOM is skipped); [] when empty."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        for _line, row in csv_records(fh):
            if row:
                return row
            break
    return []


def first_record(path: Path) -> list[str]:
    """The first non-empty record of a headerless CSV file; [] when empty."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        for _line, row in csv_records(fh):
            if row:
                return row
    return []


def match_columns(
    header: Sequence[str],
    spec: Mapping[str, Sequence[str]],
    required: Sequence[str],
    *,
    file: str,
) -> dict[str, str | None]:
    """Map each key of `spec` to the header column that carries it.

    `spec[key]` lists accepted names, preferred first; matching ignores case
    (Azure exports spell the same column `SubscriptionId` or `subscriptionId`).
    A missing required key rejects the file at line 1, naming the column.
    """
    by_lower = {name.strip().lower(): name for name in reversed(header)}
    found: dict[str, str | None] = {}
    for key, names in spec.items():
        found[key] = next((by_lower[n.lower()] for n in names if n.lower() in by_lower), None)
    for key in required:
        if found.get(key) is None:
            raise ImportRejected(file, 1, spec[key][0], "missing column")
    return found


def read_csv_raw(
    path: Path,
    *,
    header: bool,
    include: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    null_text: str | None = None,
) -> RawTable:
    """Read a CSV file as strings.

    With `header`, `include` names the header columns to keep. Without,
    `names` gives the field names, and every record must have exactly that
    many fields; other records become `Structural` rejects; `include` then
    names the fields to keep (default: all).

    Only the kept columns must be valid UTF-8: a byte of another encoding in
    a field rerate does not read (a caller name in Latin-1) does not cost
    the row.

    `null_text` (FOCUS: `NULL`): an *unquoted* field with exactly that text,
    or an unquoted empty field, is read as null; a quoted `"NULL"` stays
    text. Writers that mark nulls this way quote text that happens to spell
    the marker, so the quotes are what tells the two apart.
    """
    total = path.stat().st_size
    invalid: list[int] = []

    def on_invalid(row: Any) -> str:
        invalid.append(1)
        return "skip"

    read_opts = pv.ReadOptions(
        use_threads=True,
        block_size=8 << 20,
        column_names=None if header else list(names or ()),
    )
    parse_opts = pv.ParseOptions(invalid_row_handler=on_invalid)
    keep = list(include) if include is not None else (list(names or ()) or None)
    convert_opts = pv.ConvertOptions(
        column_types={c: pa.string() for c in keep} if keep else None,
        include_columns=keep,
        strings_can_be_null=null_text is not None,
        quoted_strings_can_be_null=False,
        null_values=["", null_text] if null_text is not None else None,
    )
    try:
        with path.open("rb") as raw_fh:
            reader = _CountingReader(raw_fh, total, progress)
            table = pv.read_csv(
                io.BufferedReader(reader, buffer_size=8 << 20),
                read_options=read_opts,
                parse_options=parse_opts,
                convert_options=convert_opts,
            )
        expected_lines = table.num_rows + (1 if header else 0)
        regular = not invalid and reader.physical_lines() == expected_lines
    except (pa.ArrowInvalid, UnicodeDecodeError):
        regular = False  # bad UTF-8, bad quoting...: the slow path says where
    if progress is not None:
        progress(total, total)
    lookup = _csv_line_lookup(path)
    if regular:
        first = 2 if header else 1
        lines = np.arange(first, first + table.num_rows, dtype=np.int64)
        return RawTable(table.combine_chunks(), lines, raw_lookup=lookup)
    return _read_csv_slow(path, include=keep, names=names, lookup=lookup, null_text=null_text)


def _read_csv_slow(
    path: Path,
    *,
    include: Sequence[str] | None,
    names: Sequence[str] | None,
    lookup: RawLookup,
    null_text: str | None = None,
) -> RawTable:
    """Exact line numbers for irregular files, with the `csv` module."""
    structural: list[Structural] = []
    lines: list[int] = []
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        field_names: list[str] | None = list(names) if names is not None else None
        columns: list[list[str | None]] = []
        picks: list[int] = []
        records: Iterator[tuple[int, Sequence[str | None]]] = (
            _csv_records_with_nulls(fh, null_text) if null_text is not None else csv_records(fh)
        )
        for start, record in records:
            if not record:
                continue  # blank line; pyarrow skips them too
            if field_names is None:  # the header
                field_names = [f or "" for f in record]
                wanted = include if include is not None else field_names
                picks = [field_names.index(c) for c in wanted]
                columns = [[] for _ in picks]
                continue
            if not columns:
                wanted = include if include is not None else field_names
                picks = [field_names.index(c) for c in wanted]
                columns = [[] for _ in picks]
            if len(record) != len(field_names):
                if len(record) < len(field_names):
                    column: str | None = field_names[len(record)]
                    reason = (
                        f"missing column: expected {len(field_names)} fields, got {len(record)}"
                    )
                else:
                    column = None
                    reason = f"expected {len(field_names)} fields, got {len(record)}"
                structural.append(Structural(start, column, reason, None))
                continue
            bad_utf8 = next((i for i in picks if _has_surrogate(record[i] or "")), None)
            if bad_utf8 is not None:
                structural.append(Structural(start, field_names[bad_utf8], "invalid UTF-8", None))
                continue
            for out, i in zip(columns, picks, strict=True):
                out.append(record[i])
            lines.append(start)
    if field_names is None:
        field_names = []
    kept = include if include is not None else field_names
    if not columns:
        columns = [[] for _ in kept]
    table = pa.table(
        {name: pa.array(col, pa.string()) for name, col in zip(kept, columns, strict=True)}
    )
    return RawTable(table, np.asarray(lines, dtype=np.int64), structural, lookup)


def _csv_records_with_nulls(
    fh: io.TextIOBase, null_text: str
) -> Iterator[tuple[int, list[str | None]]]:
    """`csv_records`, with unquoted `null_text` and unquoted empty fields as None.

    The `csv` module drops the quotes before we see a field, so the record's
    own text is re-split here (only for records holding a candidate field)
    to learn which fields were quoted.
    """
    raw_lines: list[str] = []

    def tee() -> Iterator[str]:
        for text in _bounded_lines(fh):
            raw_lines.append(text)
            yield text

    reader = csv.reader(tee())
    end = 0
    while True:
        try:
            record: list[str | None] = list(next(reader))
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceLineError(reader.line_num, str(exc)) from None
        # The reader pulls lines only until its record is complete, so the
        # lines seen since the last record are exactly this record's text.
        text = "".join(raw_lines)
        raw_lines.clear()
        if any(f in ("", null_text) for f in record):
            quoted = _quoted_fields(text)
            if len(quoted) == len(record):
                record = [
                    None if f in ("", null_text) and not q else f
                    for f, q in zip(record, quoted, strict=True)
                ]
        yield end + 1, record
        end = reader.line_num


def _quoted_fields(text: str) -> list[bool]:
    """Whether each field of one CSV record (its raw text, default dialect) was quoted."""
    flags: list[bool] = []
    at_start = True
    in_quotes = False
    quoted = False
    i = 0
    body = text.rstrip("\r\n")
    while i < len(body):
        ch = body[i]
        if in_quotes:
            if ch == '"':
                if i + 1 < len(body) and body[i + 1] == '"':
                    i += 1
                else:
                    in_quotes = False
        elif ch == '"' and at_start:
            in_quotes = quoted = True
        elif ch == ",":
            flags.append(quoted)
            quoted = False
            at_start = True
            i += 1
            continue
        at_start = False
        i += 1
    flags.append(quoted)
    return flags


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _csv_line_lookup(path: Path) -> RawLookup:
    def lookup(lines: Sequence[int]) -> Mapping[int, str]:
        wanted = set(lines)
        out: dict[int, str] = {}
        if not wanted:
            return out
        last = max(wanted)
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            for number, text in enumerate(fh, start=1):
                if number in wanted:
                    out[number] = text.rstrip("\r\n")
                if number >= last:
                    break
        return out

    return lookup


def json_lookup(records: Sequence[Mapping[str, Any]]) -> RawLookup:
    """Raw text of JSON records by 1-based position."""

    def lookup(lines: Sequence[int]) -> Mapping[int, str]:
        return {
            n: json.dumps(records[n - 1], default=str, sort_keys=True)
            for n in lines
            if 0 < n <= len(records)
        }

    return lookup


# --------------------------------------------------------------------------- parsing

_PLAIN_DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)$"
# 38 digits of precision minus the 11 fractional ones we parse at
_MAX_INT_DIGITS = 27
_WIDE = Context(prec=60)
_OFFSET_RE = r"[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?|\s*UTC|\s*GMT)$"
# Usage before 1970 or after 2200 is a broken clock or a typo, never billable.
_MIN_US = int(USAGE_FROM.timestamp()) * 1_000_000
_MAX_US = int(USAGE_UNTIL.timestamp()) * 1_000_000  # 2200-01-01T00:00:00Z


def duck() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads timestamps in UTC."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    return con


def arrow_of(rel: duckdb.DuckDBPyConnection) -> pa.Table:
    """Fetch a result as an Arrow table across DuckDB 1.x versions."""
    fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
    table: pa.Table = fetch()
    return table


def mask_np(mask: AnyArray | BoolArray) -> BoolArray:
    """A boolean mask as numpy, nulls read as False."""
    if isinstance(mask, np.ndarray):
        return mask.astype(np.bool_, copy=False)
    filled = pc.fill_null(mask, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.bool_)


def clean(values: AnyArray) -> AnyArray:
    """Trim whitespace; blank strings become null."""
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def parse_decimal(values: AnyArray, *, is_clean: bool = False) -> tuple[pa.Array, BoolArray]:
    """Parse decimal strings to DECIMAL(38, 10); return (values, bad mask).

    Null/blank input gives null and is not bad (the caller decides whether
    a value is required). More than 10 decimal places are rounded half away
    from zero (Python's ROUND_HALF_UP, as `to_row_scale`). NaN, infinities,
    thousands separators and more than 27 integer digits are bad.

    Plain notation is parsed by Arrow (fast; DuckDB's text-to-DECIMAL(38)
    cast is ~50x slower). The rare exponent notation (`1.5E-05`, seen in
    Azure exports) and over-long values go through `Decimal` one by one.
    `is_clean`: the input already went through `clean` (saves a pass).
    """
    s = values if is_clean else clean(values)
    if isinstance(s, pa.ChunkedArray):
        s = s.combine_chunks()
    present = mask_np(pc.is_valid(s))
    plain = mask_np(pc.match_substring_regex(s, _PLAIN_DECIMAL))
    length = np.asarray(pc.fill_null(pc.utf8_length(s), 0).to_numpy(zero_copy_only=False))
    slow = present & (~plain | (length > _MAX_INT_DIGITS))
    bad = np.zeros(len(s), dtype=np.bool_)
    if slow.any():
        fixed = s.to_pylist()
        for i in np.flatnonzero(slow):
            text = _to_plain(fixed[i])
            if text is None:
                bad[i] = True
            fixed[i] = text
        s = pa.array(fixed, pa.string())
    ok = present & ~bad
    dot = np.asarray(pc.fill_null(pc.find_substring(s, "."), -1).to_numpy(zero_copy_only=False))
    length = np.asarray(pc.fill_null(pc.utf8_length(s), 0).to_numpy(zero_copy_only=False))
    frac = np.where(dot >= 0, length - dot - 1, 0)
    masked = pc.if_else(pa.array(ok), s, pa.scalar(None, pa.string()))
    if not (ok & (frac > ROW_SCALE)).any():
        return pc.cast(masked, DECIMAL), bad
    # Keep 11 fractional digits: half-up rounding to 10 only looks at the 11th.
    cut = masked
    if (ok & (frac > ROW_SCALE + 1)).any():
        cut = pc.replace_substring_regex(masked, r"^([+-]?\d*\.\d{11})\d+$", r"\1")
    d11 = pc.cast(cut, pa.decimal128(38, ROW_SCALE + 1))
    d10 = pc.cast(pc.round(d11, ROW_SCALE, round_mode="half_towards_infinity"), DECIMAL)
    return d10, bad


def _to_plain(text: str | None) -> str | None:
    """Exponent or over-long notation as plain text at 10 places; None if bad."""
    if text is None or not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return None
    value = Decimal(text)
    if value.adjusted() >= _MAX_INT_DIGITS:
        return None
    try:
        # Wide enough for 27 integer digits plus 10 places.
        value = value.quantize(ROW_QUANTUM, rounding=ROUND_HALF_UP, context=_WIDE)
    except InvalidOperation:
        return None
    return format(value, "f")


def parse_int(values: AnyArray, *, is_clean: bool = False) -> tuple[pa.Array, BoolArray]:
    """Parse whole numbers (durations); `12.5` or `1e3` are bad, not rounded."""
    s = values if is_clean else clean(values)
    if isinstance(s, pa.ChunkedArray):
        s = s.combine_chunks()
    ok = mask_np(pc.match_substring_regex(s, r"^[+-]?\d{1,15}$"))
    present = mask_np(pc.is_valid(s))
    bad = present & ~ok
    masked = pc.if_else(pa.array(ok), s, pa.scalar(None, pa.string()))
    return pc.cast(masked, pa.int64()), bad


def has_offset(values: AnyArray) -> BoolArray:
    """Which (cleaned) values end with a UTC offset."""
    return mask_np(pc.match_substring_regex(values, _OFFSET_RE))


def parse_timestamp(
    con: duckdb.DuckDBPyConnection,
    values: AnyArray,
    *,
    default_tz: str | None,
    is_clean: bool = False,
) -> tuple[pa.Array, BoolArray, BoolArray]:
    """Parse ISO-8601-ish timestamps to UTC; return (values, bad, no_offset).

    A value with a UTC offset (`Z`, `+01:00`, `+0100`) is exact. A value
    without one is read in `default_tz`; in a DST fold the earlier instant
    is taken (as `fold=0` in Python), and a time inside a DST gap is moved
    to the first instant after the gap. With `default_tz=None` values
    without an offset are flagged in `no_offset` (and parsed as UTC).
    Out-of-range years (before 1970, from 2200) are bad.
    """
    s = values if is_clean else clean(values)
    if isinstance(s, pa.ChunkedArray):
        s = s.combine_chunks()
    offset = has_offset(s)
    con.register("__ts", pa.table({"s": s, "o": pa.array(offset)}))
    parsed = arrow_of(
        con.execute(
            "SELECT epoch_us(TRY_CAST(CASE WHEN o THEN s END AS TIMESTAMPTZ)) AS aware,"
            " TRY_CAST(CASE WHEN NOT o THEN s END AS TIMESTAMP) AS naive FROM __ts"
        )
    )
    con.unregister("__ts")
    aware = pc.cast(parsed.column("aware").combine_chunks(), TIMESTAMP)
    naive = parsed.column("naive").combine_chunks().cast(pa.timestamp("us"))
    tz = default_tz or "UTC"
    if tz == "UTC":
        local = naive.cast(TIMESTAMP)
    else:
        local = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="latest")
        local = local.cast(TIMESTAMP)
    result = pc.if_else(pa.array(offset), aware, local)
    present = mask_np(pc.is_valid(s))
    epoch = pc.cast(result, pa.int64())
    in_range = mask_np(pc.and_(pc.greater_equal(epoch, _MIN_US), pc.less(epoch, _MAX_US)))
    bad = present & ~in_range
    no_offset = present & ~offset if default_tz is None else np.zeros(len(s), dtype=np.bool_)
    result = pc.if_else(pa.array(bad), pa.scalar(None, TIMESTAMP), result)
    return result, bad, no_offset


# --------------------------------------------------------------------------- checking


_QUOTE_MAX = 80


@dataclass(slots=True)
class _Check:
    column: str | None
    reason: str
    values: AnyArray | None


class Checker:
    """Collects failing rows; each row keeps its first failure (checks run in
    the order they are added, which is the order the columns are read).

    `finish` either raises `ImportRejected` for the earliest bad line (the
    default) or turns the bad rows into `RejectedRow`s (`skip_bad_rows`).
    """

    def __init__(self, raw: RawTable, *, file: str, skip_bad_rows: bool) -> None:
        self.raw = raw
        self.file = file
        self.skip_bad_rows = skip_bad_rows
        self._first = np.full(raw.num_rows, -1, dtype=np.int32)
        self._checks: list[_Check] = []

    def fail(
        self,
        mask: AnyArray | BoolArray,
        column: str | None,
        reason: str,
        values: AnyArray | None = None,
    ) -> None:
        """Mark rows where `mask` is true as bad; `values`, when given, is
        quoted in the message (the raw text the reason refers to)."""
        m = mask_np(mask)
        new = m & (self._first < 0)
        if new.any():
            self._first[new] = len(self._checks)
        self._checks.append(_Check(column, reason, values))

    def required(self, values: AnyArray, column: str, *, is_clean: bool = False) -> None:
        self.fail(pc.is_null(values if is_clean else clean(values)), column, "missing value")

    @property
    def good(self) -> BoolArray:
        ok: BoolArray = self._first < 0
        return ok

    def finish(self) -> tuple[BoolArray, list[RejectedRow]]:
        bad_idx = np.flatnonzero(self._first >= 0)
        if not self.skip_bad_rows and bad_idx.size:
            # Only the earliest bad row is reported: word just that one.
            bad_idx = bad_idx[[int(np.argmin(self.raw.lines[bad_idx]))]]
        items: list[tuple[int, str | None, str, str | None]] = []
        for i in bad_idx:
            check = self._checks[self._first[i]]
            items.append((int(self.raw.lines[i]), check.column, self._reason(check, int(i)), None))
        for s in self.raw.structural:
            items.append((s.line, s.column, s.reason, s.raw))
        if not items:
            return self.good, []
        items.sort(key=lambda item: item[0])
        if not self.skip_bad_rows:
            line, column, reason, _ = items[0]
            raise ImportRejected(self.file, line, column, reason)
        lookup = self.raw.raw_lookup
        need = [line for line, _, _, raw in items if raw is None]
        texts = lookup(need) if lookup is not None and need else {}
        rejects = [
            RejectedRow(
                self.file, line, column, reason, raw if raw is not None else texts.get(line, "")
            )
            for line, column, reason, raw in items
        ]
        return self.good, rejects

    def _reason(self, check: _Check, row: int) -> str:
        if check.values is None:
            return check.reason
        value = check.values[row].as_py()
        if isinstance(value, str) and len(value) > _QUOTE_MAX:
            value = value[:_QUOTE_MAX] + "..."  # a message, not a dump of the row
        return f"{check.reason}: {value!r}"


# --------------------------------------------------------------------------- assembling

_SEP = "\x1f"  # unit separator between fields
_NULL = "\x1e"  # stands for null, so ('a', null) and (null, 'a') differ

# Every canonical column a rater could read: any change in one of them is a
# correction; an identical re-send is a duplicate.
CONTENT_COLUMNS = tuple(
    c
    for c in USAGE_SCHEMA.names
    if c not in ("record_id", "content_hash", "import_id", "account_id")
)


def _as_text(values: pa.Array) -> pa.Array:
    """The text a value is hashed as: timestamps as epoch microseconds,
    decimals at their full scale (`1.5000000000`), integers in decimal.
    Converted by Arrow, which is much faster at it than DuckDB for DECIMAL(38)."""
    if pa.types.is_timestamp(values.type):
        values = values.cast(pa.int64())
    if pa.types.is_string(values.type):
        return values
    return pc.cast(values, pa.string())


def _joined(parts: Sequence[pa.Array]) -> pa.Array:
    out = pc.binary_join_element_wise(
        *[_as_text(p) for p in parts], _SEP, null_handling="replace", null_replacement=_NULL
    )
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def sha256_hex32(texts: pa.Array) -> list[str]:
    """First 32 hex digits of sha256 per string.

    hashlib over slices of the Arrow buffer: measured ~2x faster than
    DuckDB's sha256 on 200-byte keys (which hashes without CPU SHA support).
    """
    if len(texts) == 0:
        return []
    texts = texts.cast(pa.large_string())  # 64-bit offsets, one dtype to read
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[
        texts.offset : texts.offset + len(texts) + 1
    ]
    data = memoryview(texts.buffers()[2] or b"")
    sha = hashlib.sha256
    return [sha(data[a:b]).hexdigest()[:32] for a, b in pairwise(offsets.tolist())]


def assemble(
    con: duckdb.DuckDBPyConnection,
    columns: Mapping[str, AnyArray],
    *,
    good: BoolArray,
    source: UsageSource,
    kind: UsageKind,
    namespace: str,
    identity: Sequence[AnyArray],
    source_id: AnyArray | None = None,
    optional_identity: Sequence[AnyArray] = (),
) -> pa.Table:
    """Build the canonical table from the good rows.

    `columns` holds canonical columns by name (absent ones are null);
    `identity` the fields hashed into `record_id` when a row has no
    `source_id`. `optional_identity` fields join the hash only on rows where
    they are not null, so a field added to a format's identity leaves the
    ids of rows without it as they were. Ids: `<source>:<namespace>:<source id>` or
    `<source>:<namespace>:#<first 32 hex of sha256(identity)>`;
    `content_hash` is the md5 of every canonical content column.
    """
    everything = bool(good.all())
    keep = pa.array(good)
    n = int(good.sum())

    def take(values: AnyArray) -> pa.Array:
        out = values if everything else pc.filter(values, keep)
        return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out

    arrays: dict[str, pa.Array] = {}
    for f in USAGE_SCHEMA:
        if f.name in ("record_id", "content_hash"):
            continue
        if f.name in columns:
            arrays[f.name] = take(columns[f.name]).cast(f.type)
        elif f.name == "source":
            arrays[f.name] = pa.repeat(pa.scalar(source.value, pa.string()), n)
        elif f.name == "kind":
            arrays[f.name] = pa.repeat(pa.scalar(kind.value, pa.string()), n)
        elif f.name == "import_id":
            arrays[f.name] = pa.array(np.zeros(n, dtype=np.int64))
        elif f.name == "account_id":
            arrays[f.name] = pa.array(np.full(n, -1, dtype=np.int64))
        else:
            arrays[f.name] = pa.nulls(n, f.type)
    # The content hash runs in DuckDB (which releases the GIL) while this
    # thread computes record-id hashes in Python: both cores stay busy.
    content_text = _joined([arrays[c] for c in CONTENT_COLUMNS])
    with ThreadPoolExecutor(max_workers=1) as pool:
        content_future = pool.submit(_md5_hex, con.cursor(), content_text)
        arrays["record_id"] = _record_ids(
            arrays, identity, take, n, source, namespace, source_id, optional_identity
        )
        arrays["content_hash"] = content_future.result()
    return pa.Table.from_arrays([arrays[f.name] for f in USAGE_SCHEMA], schema=USAGE_SCHEMA)


def _md5_hex(con: duckdb.DuckDBPyConnection, texts: pa.Array) -> pa.Array:
    try:
        con.register("__content", pa.table({"t": texts}))
        out = arrow_of(con.execute("SELECT md5(t) AS h FROM __content"))
        return out.column("h").combine_chunks()
    finally:
        con.close()


def _record_ids(
    arrays: Mapping[str, pa.Array],
    identity: Sequence[AnyArray],
    take: Callable[[AnyArray], pa.Array],
    n: int,
    source: UsageSource,
    namespace: str,
    source_id: AnyArray | None,
    optional_identity: Sequence[AnyArray] = (),
) -> pa.Array:
    prefix = f"{source.value}:{namespace}:"
    sid = take(clean(source_id)) if source_id is not None else pa.nulls(n, pa.string())
    need_hash = mask_np(pc.is_null(sid))
    record_id = pc.binary_join_element_wise(prefix, sid, "")
    if need_hash.any():
        rows = pa.array(need_hash)
        key = _joined(
            [
                pa.repeat(pa.scalar(namespace, pa.string()), n),
                arrays["source"],
                *(take(v) for v in identity),
            ]
        )
        for extra in optional_identity:
            part = _as_text(take(extra))
            joined = pc.binary_join_element_wise(key, part, _SEP)
            key = pc.if_else(pc.is_null(part), key, joined)
        digests = pa.array(sha256_hex32(key.filter(rows)), pa.string())
        hashed = pc.binary_join_element_wise(prefix + "#", digests, "")
        record_id = pc.replace_with_mask(record_id, rows, hashed)
    return record_id


def result(
    raw: RawTable,
    checker: Checker,
    table_of: Callable[[BoolArray], pa.Table],
    *,
    account_column: str,
) -> ParseResult:
    """Run the checks, then build the table of the good rows."""
    good, rejects = checker.finish()
    return ParseResult(
        table=table_of(good),
        line_numbers=raw.lines[good],
        rejects=rejects,
        rows_read=raw.rows_read,
        file=checker.file,
        account_column=account_column,
        raw_lookup=raw.raw_lookup,
    )


def content_hashes(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Array:
    """`content_hash` of each canonical row of `table`, as `assemble` computes
    it (for a caller that changed a content column after assembling)."""
    text = _joined([table.column(c).combine_chunks() for c in CONTENT_COLUMNS])
    return _md5_hex(con.cursor(), text)
