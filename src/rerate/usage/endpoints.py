"""Usage import over HTTP: a file upload, or a JSON batch of records."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rerate.api.deps import SessionDep, UsageImporter, get_db
from rerate.api.fields import Id, Offset
from rerate.auth.permissions import Principal
from rerate.kit import csvout
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Invalid
from rerate.kit.numbering import rules_from_options
from rerate.kit.runtime import release_memory
from rerate.models import UsageImport
from rerate.usage import service, uploads
from rerate.usage.errors import ImportRejected
from rerate.usage.importers import IMPORTERS, UnknownFormat, split_columns
from rerate.usage.importers.base import ImportOptions
from rerate.usage.records import UsageRecordIn, records_to_table
from rerate.usage.schema import UsageKind, UsageSource
from rerate.usage.store import UsageStore

router = APIRouter(tags=["usage"])

MAX_REJECTS_IN_RESPONSE = 1000


def _store(request: Request) -> UsageStore:
    return UsageStore(Path(request.app.state.settings.data_dir))


def _rejected(exc: ImportRejected) -> Invalid:
    return Invalid(str(exc), file=exc.file, line=exc.line, column=exc.column)


class ImportReportOut(BaseModel):
    import_id: int | None
    file: str
    format: str
    rows_read: int
    new: int
    corrected: int
    unchanged: int
    duplicates_in_file: int
    rejected: int
    accounts_created: int
    unowned_rows: int = Field(
        0,
        description="Rows at an instant when their account had no owner: not billed until "
        "the account is linked to a customer from then on.",
    )
    unowned_accounts: list[str] = Field(default_factory=list)
    skipped_rows: int = Field(
        0,
        description="Rows of the file left out on purpose, neither stored nor rejected "
        "(a FreeSWITCH B-leg whose A-leg is in the same file).",
    )
    skipped: list[dict[str, object]] = Field(
        default_factory=list, description="Skipped rows per reason: {reason, rows}."
    )
    notice: str = Field("", description="Skipped and unowned rows in plain words, or empty.")
    rejects: list[dict[str, object]] = Field(default_factory=list)


_FORMATS: list[JsonValue] = [*sorted(IMPORTERS)]


class UploadForm(BaseModel):
    """The form fields sent with the file (multipart/form-data)."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(
        max_length=32,
        description="The source format (docs/formats.md).",
        json_schema_extra={"enum": _FORMATS},
    )
    skip_bad_rows: bool = False
    create_accounts: bool = False
    owner_customer_id: Id | None = None
    source_tz: str = Field("UTC", max_length=64)
    country_code: str | None = Field(None, max_length=3)
    numbering: str | None = Field(
        None,
        max_length=16,
        description="Numbering preset: NANP (US, CA), GB, DE, FR, RU, DEFAULT.",
    )
    international_prefix: str | None = Field(None, max_length=32)
    trunk_prefix: str | None = Field(None, max_length=8)
    tag_key: str | None = Field(None, max_length=200)
    columns: str | None = Field(
        None,
        max_length=2000,
        description="Asterisk, FreeSWITCH: the file's fields in order, comma-separated;"
        " '-' skips a field.",
    )
    account_from: str | None = Field(
        None,
        max_length=64,
        description="Asterisk, FreeSWITCH: the field holding the account (default"
        " accountcode), e.g. channel-peer.",
    )


_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "format"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The source file (at most RERATE_MAX_UPLOAD_BYTES).",
                    },
                    **UploadForm.model_json_schema()["properties"],
                },
            }
        }
    },
}


@router.post("/usage/imports", status_code=201, openapi_extra={"requestBody": _UPLOAD_BODY})
async def upload_import(
    request: Request, session: SessionDep, principal: UsageImporter
) -> ImportReportOut:
    """Import one file, all or nothing (or, with `skip_bad_rows`, the good rows).

    The body streams to a file under the data directory as it arrives (never
    whole in memory); the file is removed when the request ends."""
    return await import_upload(request, session, principal)


async def import_upload(
    request: Request, session: Session, principal: Principal, *, blank_is_unset: bool = False
) -> ImportReportOut:
    """Stream the multipart body to a file, import it, remove it: the API's and
    the console's upload. `blank_is_unset`: an HTML form sends "" for an empty
    field, which means "not given" (the API's clients omit the field)."""
    data_dir = Path(request.app.state.settings.data_dir)
    # The permission check may have opened a transaction (a session cookie is
    # looked up): do not hold it, nor a write lock, for as long as the upload
    # takes. The import opens its own (see _import_upload).
    await run_in_threadpool(session.rollback)
    await run_in_threadpool(uploads.sweep, data_dir)
    path = uploads.new_upload_path(data_dir)
    rejects_path = path.with_name(path.name + ".rejects.csv")
    try:
        with path.open("wb") as out:
            received = await uploads.receive(
                request.headers.get("content-type", ""), request.stream(), out
            )
        fields = received.fields
        if blank_is_unset:
            fields = {k: v for k, v in fields.items() if v != ""}
        try:
            form = UploadForm.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
            ) from None
        return await run_in_threadpool(
            _import_upload, request, principal, path, received.filename, form, rejects_path
        )
    finally:
        for leftover in (path, rejects_path):
            leftover.unlink(missing_ok=True)
        # An import's Arrow buffers are large: give the memory back.
        await run_in_threadpool(release_memory)


def _import_upload(
    request: Request,
    principal: Principal,
    path: Path,
    name: str,
    form: UploadForm,
    rejects_path: Path,
) -> ImportReportOut:
    try:
        options = ImportOptions(
            skip_bad_rows=form.skip_bad_rows,
            source_tz=form.source_tz,
            country_code=form.country_code,
            numbering=form.numbering,
            international_prefix=form.international_prefix,
            trunk_prefix=form.trunk_prefix,
            tag_key=form.tag_key,
            columns=split_columns(form.columns),
            account_from=form.account_from,
            file_label=name,
        )
        # Its own write transaction, as billing's _submit does: the file is
        # parsed before it touches the database, so the lock is taken (and
        # held) only for writing the import.
        with get_db(request).write_session() as session:
            set_session_actor(session, Actor(principal.user_id, principal.email))
            report = service.import_file(
                session,
                _store(request),
                principal,
                path,
                format_name=form.format,
                options=options,
                create_accounts=form.create_accounts,
                owner_id=form.owner_customer_id,
                rejects_path=rejects_path,
            )
    except ImportRejected as exc:
        raise _rejected(exc) from None
    except (UnknownFormat, ValueError) as exc:
        raise Invalid(str(exc)) from None
    rejects = _read_rejects(rejects_path) if report.rejected else []
    data = report.as_dict()
    data.pop("rejects_file")
    return ImportReportOut(**data, rejects=rejects[:MAX_REJECTS_IN_RESPONSE])


def _read_rejects(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [dict(row) for row in csvout.read_dicts(fh)]


class RecordsIn(BaseModel):
    records: list[UsageRecordIn] = Field(min_length=1, max_length=100_000)
    namespace: str = ""
    country_code: str | None = None
    numbering: str | None = None
    international_prefix: str | None = None
    trunk_prefix: str | None = None


@router.post("/usage/records", status_code=201)
def post_records(
    body: RecordsIn,
    request: Request,
    session: SessionDep,
    principal: UsageImporter,
) -> ImportReportOut:
    """A JSON batch, idempotent by `record_id`: sending it twice adds nothing."""
    try:
        rules = rules_from_options(
            body.numbering,
            country_code=body.country_code,
            international_prefix=body.international_prefix,
            trunk_prefix=body.trunk_prefix,
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    try:
        parsed = records_to_table(body.records, namespace=body.namespace, numbering=rules)
        kind = UsageKind(body.records[0].kind)
        report = service.import_parsed(
            session,
            _store(request),
            principal,
            parsed,
            source=UsageSource.API.value,
            kind=kind,
            sha256=_batch_hash(body),
        )
    except ImportRejected as exc:
        raise _rejected(exc) from None
    data = report.as_dict()
    data.pop("rejects_file")
    return ImportReportOut(**data)


def _batch_hash(body: RecordsIn) -> str:
    import hashlib

    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


class ImportOut(BaseModel):
    id: int
    source: str
    file_name: str
    rows_read: int
    rows_new: int
    rows_corrected: int
    rows_unchanged: int
    rows_rejected: int
    created_at: datetime


@router.get("/usage/imports")
def list_imports(
    session: SessionDep,
    principal: UsageImporter,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> dict[str, object]:
    """Imports made by the caller (platform roles: every import)."""
    items, total = recent_imports(session, principal, limit=limit, offset=offset)
    return {"items": items, "total": total}


def recent_imports(
    session: Session, principal: Principal, *, limit: int, offset: int = 0
) -> tuple[list[ImportOut], int]:
    stmt = select(UsageImport)
    if not principal.is_platform():
        stmt = stmt.where(UsageImport.actor_id == principal.user_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(UsageImport.id.desc()).limit(limit).offset(offset))
    return [ImportOut.model_validate(r, from_attributes=True) for r in rows], total
