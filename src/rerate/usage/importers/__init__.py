"""Usage importers: one module per source format, behind one registry.

    from rerate.usage.importers import ImportOptions, parse
    result = parse("focus", Path("export.csv"), ImportOptions(skip_bad_rows=True))

Every importer has the signature `parse(path, options) -> ParseResult` and
produces rows in USAGE_SCHEMA (see docs/formats.md for each format).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import asterisk, azure, cloudstack, focus, freeswitch, generic_cdr
from rerate.usage.importers.base import ImportOptions, ParseResult, Progress, SourceLineError
from rerate.usage.schema import UsageKind, UsageSource

Parser = Callable[[Path, ImportOptions], ParseResult]


@dataclass(frozen=True, slots=True)
class Importer:
    name: str
    source: UsageSource
    kind: UsageKind
    parse: Parser
    description: str


# The formats whose field order and account field an import option may set.
HEADERLESS = ("asterisk", "freeswitch")


def split_columns(text: str | None) -> tuple[str, ...] | None:
    """A `columns` option as typed (`"clid,src,dst,..."`); None when blank."""
    if text is None or not text.strip():
        return None
    return tuple(name.strip() for name in text.split(","))


def _naming_the_file(importer: Importer) -> Importer:
    """`importer` whose line errors from the shared CSV reader name the file."""
    parse = importer.parse

    def guarded(path: Path, options: ImportOptions) -> ParseResult:
        if importer.name not in HEADERLESS and (options.columns or options.account_from):
            # Said rather than ignored: the user meant it to change the import.
            raise ValueError(
                f"{importer.name}: the columns and account_from options apply to"
                f" {' and '.join(HEADERLESS)} only"
            )
        try:
            return parse(path, options)
        except SourceLineError as exc:
            raise ImportRejected(options.label(path), exc.line, None, exc.reason) from None

    return replace(importer, parse=guarded)


IMPORTERS: dict[str, Importer] = {
    i.name: _naming_the_file(i)
    for i in (
        Importer(
            "focus", UsageSource.FOCUS, UsageKind.CLOUD, focus.parse,
            "FOCUS 1.x cost and usage export, CSV or Parquet",
        ),
        Importer(
            "azure", UsageSource.AZURE, UsageKind.CLOUD, azure.parse,
            "Azure cost details CSV (EA or MCA)",
        ),
        Importer(
            "cloudstack", UsageSource.CLOUDSTACK, UsageKind.CLOUD, cloudstack.parse,
            "CloudStack listUsageRecords JSON",
        ),
        Importer(
            "asterisk", UsageSource.ASTERISK, UsageKind.CDR, asterisk.parse,
            "Asterisk cdr_csv Master.csv",
        ),
        Importer(
            "freeswitch", UsageSource.FREESWITCH, UsageKind.CDR, freeswitch.parse,
            "FreeSWITCH mod_cdr_csv, default template",
        ),
        Importer(
            "generic_cdr", UsageSource.GENERIC_CDR, UsageKind.CDR, generic_cdr.parse,
            "rerate's generic CDR CSV (with header)",
        ),
    )
}  # fmt: skip


class UnknownFormat(ValueError):
    pass


def get_importer(name: str) -> Importer:
    try:
        return IMPORTERS[name]
    except KeyError:
        known = ", ".join(sorted(IMPORTERS))
        raise UnknownFormat(f"unknown usage format {name!r} (known: {known})") from None


def parse(format_name: str, path: Path, options: ImportOptions | None = None) -> ParseResult:
    """Parse `path` with the importer registered as `format_name`."""
    return get_importer(format_name).parse(Path(path), options or ImportOptions())


__all__ = [
    "IMPORTERS",
    "ImportOptions",
    "Importer",
    "ParseResult",
    "Parser",
    "Progress",
    "UnknownFormat",
    "get_importer",
    "parse",
    "split_columns",
]
