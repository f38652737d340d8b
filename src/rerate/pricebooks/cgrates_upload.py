"""The API's CGRateS plan upload (`POST /price-books/{id}/imports?format=cgrates`):
the plan's CSV files as several multipart `files` parts (named by their file
names), or one zip of them; the choice of plan as form fields. The body is
bounded by `RERATE_MAX_UPLOAD_BYTES` (api/limits.py), so the files are read
into memory: a tariff plan is kilobytes, not a 200,000-prefix deck."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from rerate.api.deps import get_db
from rerate.api.fields import Instant
from rerate.auth.permissions import Principal
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Invalid
from rerate.pricebooks import cgrates, csv_io, service
from rerate.pricebooks.cgrates_files import COLUMNS

MAX_FILES = 20
_KNOWN = {name.lower() for name in COLUMNS}


class CgratesForm(BaseModel):
    """The form fields sent with a CGRateS plan's files."""

    model_config = ConfigDict(extra="forbid")

    effective_from: Instant = Field(description="the version's instant (the files carry none)")
    plan: str = Field("", max_length=200, description="a RatingPlans.csv id")
    subject: str = Field("", max_length=200, description="a RatingProfiles.csv subject")
    tenant: str = Field("", max_length=200)
    category: str = Field(cgrates.DEFAULT_CATEGORY, max_length=200)
    increment_decimals: int = Field(cgrates.DEFAULT_INCREMENT_DECIMALS, ge=0, le=10)
    note: str = Field("", max_length=service.MAX_NOTE)
    publish: bool = False
    reason: str = Field("", max_length=service.MAX_NOTE)


def _unzipped(name: str, data: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        return {
            PurePosixPath(info.filename).name: archive.read(info)
            for info in archive.infolist()
            if not info.is_dir() and PurePosixPath(info.filename).name.lower() in _KNOWN
        }
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Invalid(f"{name}: not a readable zip ({exc})", file=name) from None


async def received_files(request: Request) -> tuple[dict[str, bytes], dict[str, str]]:
    """({file name: content}, form fields) of the multipart body."""
    form = await request.form(max_files=MAX_FILES, max_fields=len(CgratesForm.model_fields) + 1)
    files: dict[str, bytes] = {}
    fields: dict[str, str] = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key not in ("files", "file"):
                    raise Invalid(
                        f"send the plan's CSV files in the multipart field 'files', not {key!r}"
                    )
                name = PurePosixPath(value.filename or "upload").name
                data = await value.read()
                if name.lower().endswith(".zip"):
                    files.update(_unzipped(name, data))
                else:
                    files[name] = data
            else:
                fields[key] = value
    finally:
        await form.close()  # the spooled temporary files
    if not files:
        raise Invalid("no files: send the plan's CSV files (or a zip) in the field 'files'")
    return files, fields


def import_files(
    request: Request,
    principal: Principal,
    book_id: int,
    files: dict[str, bytes],
    form: CgratesForm,
) -> dict[str, Any]:
    with get_db(request).write_session() as session:
        set_session_actor(session, Actor(principal.user_id, principal.email))
        version, imported = csv_io.import_cgrates(
            session,
            principal,
            book_id,
            files,
            name="CGRateS plan",
            effective_from=form.effective_from,
            plan=form.plan,
            subject=form.subject,
            tenant=form.tenant,
            category=form.category,
            increment_decimals=form.increment_decimals,
            note=form.note,
            publish=form.publish,
            reason=form.reason,
        )
        return {
            **service.version_view(session, version),
            "cgrates": {
                "plans": list(imported.plans),
                "warnings": imported.warnings,
                "notes": imported.notes,
            },
        }


async def upload(
    request: Request, session: Session, principal: Principal, book_id: int, form_model: Any
) -> dict[str, Any]:
    """Receive the files, validate the fields (`form_model` parses them, as
    the CSV upload's do), import."""
    await run_in_threadpool(session.rollback)
    files, fields = await received_files(request)
    form = form_model(CgratesForm, {k: v for k, v in fields.items() if v != ""})
    return await run_in_threadpool(import_files, request, principal, book_id, files, form)
