"""A version whole from CSV, and back: the formats of `rerate rate`
(docs/rating.md, "Tariffs CSV" for decks, "Prices CSV" for SKU prices),
read by the same parser (rating/formats.py), so each format has one definition.
A deck version may also come from a CGRateS tariff plan (pricebooks/cgrates.py).

All or nothing: the file is parsed and checked completely before anything is
written, and the writes share the caller's transaction. A file holds one
version; its `effective_from` is the version's effective instant (a given
instant must agree with it); its `version` number is the file's own (the book
numbers its versions itself).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit import audit, csvout
from rerate.kit.errors import Invalid
from rerate.models import PriceBook, PriceBookVersion
from rerate.models.enums import PriceBookKind
from rerate.pricebooks import bulk, cgrates, entries, service
from rerate.rating import formats
from rerate.rating.formats import FormatError, ParsedFile, ParsedVersion


def _parse(book: PriceBook, path: Path, name: str) -> ParsedFile[Any]:
    try:
        if book.kind == PriceBookKind.VOIP:
            return formats.read_tariffs(path, name=name)
        return formats.read_prices(path, name=name)
    except FormatError as exc:
        raise Invalid(str(exc), file=name) from None
    except UnicodeDecodeError:
        raise Invalid(f"{name}: not UTF-8 text", file=name) from None


def _one_version(
    book: PriceBook, parsed: ParsedFile[Any], effective: datetime | None
) -> ParsedVersion[Any]:
    name = parsed.name
    if not parsed.versions:
        raise Invalid(f"{name}: no entries", file=name)
    if len(parsed.versions) > 1:
        second = parsed.versions[1]
        raise Invalid(
            f"{name} line {second.first_line}, field version: one version per file; this "
            f"file holds versions {', '.join(str(v.version_no) for v in parsed.versions)}",
            file=name,
            line=second.first_line,
        )
    version = parsed.versions[0]
    if effective is not None and version.effective_from != effective:
        raise Invalid(
            f"{name} line {version.first_line}, field effective_from: "
            f"{formats.format_instant(version.effective_from)} is not the version's effective "
            f"instant {formats.format_instant(effective)}",
            file=name,
            line=version.first_line,
        )
    if parsed.currency and parsed.currency != book.currency:
        raise Invalid(
            f"{name} line {parsed.currency_line}, field currency: {parsed.currency!r} is not "
            f"the book's currency {book.currency}",
            file=name,
            line=parsed.currency_line,
        )
    return version


def _write(session: Session, book: PriceBook, version_id: int, parsed: ParsedVersion[Any]) -> int:
    items = [e for _, e in parsed.entries]
    if book.kind == PriceBookKind.VOIP:
        bulk.insert_tariffs(session, version_id, items)
    else:
        bulk.insert_prices(session, version_id, items)
    return len(items)


def import_version(
    session: Session,
    principal: Principal,
    book_id: int,
    path: Path,
    *,
    name: str,
    effective_from: datetime | None = None,
    note: str = "",
    publish: bool = False,
    reason: str = "",
) -> PriceBookVersion:
    """A new version from a file (a draft, or published with `publish`)."""
    book = service.get_book(session, principal, book_id, Permission.MANAGE_CATALOG)
    if effective_from is not None:
        effective_from = service.check_effective(effective_from)
    parsed = _one_version(book, _parse(book, path, name), effective_from)
    version = service.create_draft(
        session, principal, book.id, effective_from=parsed.effective_from, note=note
    )
    count = _write(session, book, version.id, parsed)
    audit.record(session, "import", "price_book_versions", version.id, file=name, entries=count)
    if publish:
        service.publish(
            session, principal, book.id, version.id, reason=reason or f"imported from {name}"
        )
    return version


def replace_entries(
    session: Session, principal: Principal, book_id: int, version_id: int, path: Path, *, name: str
) -> PriceBookVersion:
    """Replace every entry of a draft with the file's."""
    book, version = service.draft_of(session, principal, book_id, version_id)
    parsed = _one_version(book, _parse(book, path, name), version.effective_from)
    bulk.clear_entries(session, version.id)
    count = _write(session, book, version.id, parsed)
    audit.record(
        session, "replace_entries", "price_book_versions", version.id, file=name, entries=count
    )
    return version


def export_version(
    session: Session, principal: Principal, book_id: int, version_id: int
) -> tuple[str, str]:
    """(file name, CSV text) of a version, in the format it is imported in."""
    book, version = service.get_version(session, principal, book_id, version_id, Permission.VIEW)
    out = io.StringIO()
    writer = csvout.Writer(out)
    if book.kind == PriceBookKind.VOIP:
        tariffs = entries.tariffs_of(session, [version.id]).get(version.id, [])
        columns = formats.tariff_columns_for(tariffs)
        writer.writerow(columns)
        terms = columns != formats.TARIFF_COLUMNS
        for t in tariffs:
            writer.writerow(
                formats.tariff_line(
                    version.version, version.effective_from, book.currency, t, terms=terms
                )
            )
        stem = "tariffs"
    else:
        writer.writerow(formats.PRICE_COLUMNS)
        for e in entries.prices_of(session, [version.id]).get(version.id, []):
            writer.writerow(
                formats.price_line(version.version, version.effective_from, book.currency, e)
            )
        stem = "prices"
    return f"{stem}-book{book.id}-v{version.version}.csv", out.getvalue()


def import_cgrates(
    session: Session,
    principal: Principal,
    book_id: int,
    source: Path | Mapping[str, bytes],
    *,
    name: str,
    effective_from: datetime,
    plan: str | None = None,
    subject: str | None = None,
    tenant: str | None = None,
    category: str = cgrates.DEFAULT_CATEGORY,
    increment_decimals: int = cgrates.DEFAULT_INCREMENT_DECIMALS,
    note: str = "",
    publish: bool = False,
    reason: str = "",
) -> tuple[PriceBookVersion, cgrates.Imported]:
    """A new version of a tariff deck from a CGRateS tariff plan (a
    directory, or {file name: bytes}), as `import_version` does for a CSV:
    checked whole first, then one draft (published with `publish`) and one
    audit entry. The files carry no effective instant: it is given."""
    book = service.get_book(session, principal, book_id, Permission.MANAGE_CATALOG)
    if book.kind != PriceBookKind.VOIP:
        raise Invalid(f"{book.name!r} is a {book.kind} book: a CGRateS plan is a tariff deck")
    effective_from = service.check_effective(effective_from)
    try:
        imported = cgrates.import_plan(
            source,
            plan=plan or None,
            subject=subject or None,
            tenant=tenant or None,
            category=category,
            increment_decimals=increment_decimals,
        )
    except FormatError as exc:
        raise Invalid(str(exc), file=name) from None
    version = service.create_draft(
        session, principal, book.id, effective_from=effective_from, note=note
    )
    bulk.insert_tariffs(session, version.id, imported.entries)
    audit.record(
        session,
        "import",
        "price_book_versions",
        version.id,
        file=name,
        format="cgrates",
        plans=list(imported.plans),
        entries=len(imported.entries),
    )
    if publish:
        service.publish(
            session, principal, book.id, version.id, reason=reason or f"imported from {name}"
        )
    return version, imported
