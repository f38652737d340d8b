"""Usage import over HTTP: a file upload, or a JSON batch of records."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from rerate.api.deps import SessionDep, UsageImporter
from rerate.kit.errors import Invalid
from rerate.models import UsageImport
from rerate.usage import service
from rerate.usage.errors import ImportRejected
from rerate.usage.importers import UnknownFormat
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
    rejects: list[dict[str, object]] = Field(default_factory=list)


@router.post("/usage/imports", status_code=201)
def upload_import(
    request: Request,
    session: SessionDep,
    principal: UsageImporter,
    file: Annotated[UploadFile, File(description="The source file.")],
    format: Annotated[
        str, Form(description="focus, azure, cloudstack, asterisk, freeswitch, generic_cdr")
    ],
    skip_bad_rows: Annotated[bool, Form()] = False,
    create_accounts: Annotated[bool, Form()] = False,
    owner_customer_id: Annotated[int | None, Form()] = None,
    source_tz: Annotated[str, Form()] = "UTC",
    country_code: Annotated[str | None, Form()] = None,
    tag_key: Annotated[str | None, Form()] = None,
) -> ImportReportOut:
    """Import one file, all or nothing (or, with `skip_bad_rows`, the good rows)."""
    name = Path(file.filename or "upload").name
    # Nothing read so far is needed: end the transaction the caller's check
    # began, so that on SQLite (a POST begins IMMEDIATE) the write lock is not
    # held while the file is copied and parsed; the import takes it again
    # only for its own short writes.
    session.rollback()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        rejects_path = Path(tmp) / "rejects.csv"
        try:
            options = ImportOptions(
                skip_bad_rows=skip_bad_rows,
                source_tz=source_tz,
                country_code=country_code,
                tag_key=tag_key,
                file_label=name,
            )
            report = service.import_file(
                session,
                _store(request),
                principal,
                path,
                format_name=format,
                options=options,
                create_accounts=create_accounts,
                owner_id=owner_customer_id,
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
    import csv

    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return [dict(row) for row in csv.DictReader(fh)]


class RecordsIn(BaseModel):
    records: list[UsageRecordIn] = Field(min_length=1, max_length=100_000)
    namespace: str = ""
    country_code: str | None = None


@router.post("/usage/records", status_code=201)
def post_records(
    body: RecordsIn,
    request: Request,
    session: SessionDep,
    principal: UsageImporter,
) -> ImportReportOut:
    """A JSON batch, idempotent by `record_id`: sending it twice adds nothing."""
    try:
        parsed = records_to_table(
            body.records, namespace=body.namespace, country_code=body.country_code
        )
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
    offset: int = Query(0, ge=0),
) -> dict[str, object]:
    """Imports made by the caller (platform roles: every import)."""
    stmt = select(UsageImport)
    if not principal.is_platform():
        stmt = stmt.where(UsageImport.actor_id == principal.user_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(UsageImport.id.desc()).limit(limit).offset(offset))
    items = [ImportOut.model_validate(r, from_attributes=True) for r in rows]
    return {"items": items, "total": total}
