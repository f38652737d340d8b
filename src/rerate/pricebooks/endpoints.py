"""Price books and tariff decks over HTTP: `view` to read, `manage_catalog` to change."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from rerate.api.deps import CatalogManager, SessionDep, Viewer, get_db
from rerate.api.errors import JSON_ERROR_RESPONSES
from rerate.api.fields import Id, Instant, Offset
from rerate.api.media import CSVResponse
from rerate.auth.permissions import Permission, Principal
from rerate.kit import bounds
from rerate.kit.audit import Actor, set_session_actor
from rerate.models.enums import PriceBookKind
from rerate.pricebooks import cgrates_upload, csv_io, listing, service
from rerate.pricebooks import compare as comparing
from rerate.usage import uploads

router = APIRouter(tags=["price books"])

Limit = Annotated[int, Query(ge=1, le=500)]
Search = Annotated[str, Query(max_length=200)]


def _within_row_bound(text: str) -> str:
    # The bound every stored amount shares (kit/bounds.py): a price beyond it
    # could not be rated, so it is refused here, as the CSV import refuses it.
    if Decimal(text) > bounds.MAX_ROW_AMOUNT:
        raise ValueError(f"at most {bounds.MAX_ROW_AMOUNT}")
    return text


DecimalText = Annotated[
    str,
    Field(max_length=20, pattern=r"^[0-9]{1,9}(\.[0-9]{1,10})?$", examples=["0.0200"]),
    AfterValidator(_within_row_bound),
]


class BookIn(BaseModel):
    name: str = Field(min_length=1, max_length=service.MAX_NAME)
    kind: PriceBookKind = Field(description="cloud: SKU/meter prices; voip: a tariff deck")
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    owner_node_id: Id = Field(description="a platform, distributor or reseller node")


class DraftIn(BaseModel):
    effective_from: Instant
    note: str = Field("", max_length=service.MAX_NOTE)
    copy_latest: bool = Field(False, description="start from the latest published version")


class DraftChange(BaseModel):
    effective_from: Instant | None = None
    note: str | None = Field(None, max_length=service.MAX_NOTE)


class PublishIn(BaseModel):
    reason: str = Field(min_length=1, max_length=service.MAX_NOTE)


class TariffIn(BaseModel):
    prefix: str = Field(
        min_length=1,
        max_length=15,
        pattern=r"^([0-9]+|\*any)$",
        examples=["336"],
        description="digits, or *any for every number",
    )
    destination_group: str = Field(min_length=1, max_length=200)
    rate_per_minute: DecimalText
    connect_fee: DecimalText = "0"
    min_seconds: int = Field(0, ge=0, le=2**31 - 1)
    initial_increment: int = Field(1, ge=1, le=2**31 - 1)
    subsequent_increment: int = Field(1, ge=1, le=2**31 - 1)
    band: str | None = Field(None, max_length=32)
    charge_unanswered: bool = False
    # Carrier terms (docs/formats.md, "Tariff CSV columns for carrier terms").
    rate_groups: str = Field(
        "",
        max_length=2000,
        description="later rate groups, FROM:RATE:INCREMENT items (seconds, per minute, "
        "seconds) separated by spaces",
        examples=["60:0.1:1"],
    )
    increment_decimals: int | None = Field(None, ge=0, le=10)
    call_decimals: int | None = Field(None, ge=0, le=10)
    call_rounding: str = Field("", description="ROUND_HALF_UP (default), ROUND_CEILING ...")
    max_cost: DecimalText | None = Field(None, description="cap on a call's list amount")
    timing: str = Field(
        "",
        max_length=500,
        description="[NAME=]YEARS|MONTHS|MONTHDAYS|WEEKDAYS|HH:MM:SS (weekdays 1=Mon..7=Sun)",
        examples=["PEAK=*any|*any|*any|1;2;3;4;5|08:00:00"],
    )
    weight: int = Field(0, ge=-(2**31), le=2**31 - 1)


class PriceIn(BaseModel):
    sku: str = Field(min_length=1, max_length=200)
    unit_price: DecimalText
    region: str | None = Field(None, max_length=64)
    unit: str = Field("", max_length=64)
    tier_mode: str = Field("none", pattern="^(none|graduated|volume)$")
    tiers: list[tuple[DecimalText, DecimalText]] = Field(
        default_factory=list, max_length=100, description="[from_quantity, unit_price] pairs"
    )


def _book_out(session: Any, book: Any) -> dict[str, Any]:
    return service.book_view(session, book)


@router.get("/price-books")
def list_books(
    session: SessionDep,
    principal: Viewer,
    q: Search = "",
    kind: PriceBookKind | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The books owned in the caller's subtrees (a customer's users see none)."""
    page = service.list_books(session, principal, q=q, kind=kind, limit=limit, offset=offset)
    return {"items": page.items, "total": page.total, "limit": limit, "offset": offset}


@router.post("/price-books", status_code=201)
def create_book(body: BookIn, session: SessionDep, principal: CatalogManager) -> dict[str, Any]:
    book = service.create_book(session, principal, **body.model_dump())
    return _book_out(session, book)


@router.get("/price-books/{book_id}")
def show_book(book_id: Id, session: SessionDep, principal: Viewer) -> dict[str, Any]:
    book = service.get_book(session, principal, book_id, Permission.VIEW)
    return {
        **_book_out(session, book),
        "versions": [service.version_view(session, v) for v in service.versions_of(session, book)],
    }


@router.post("/price-books/{book_id}/versions", status_code=201)
def create_draft(
    book_id: Id, body: DraftIn, session: SessionDep, principal: CatalogManager
) -> dict[str, Any]:
    """A draft version: empty, or a copy of the latest published version."""
    version = service.create_draft(session, principal, book_id, **body.model_dump())
    return service.version_view(session, version)


@router.get("/price-books/{book_id}/versions/{version_id}")
def show_version(
    book_id: Id,
    version_id: Id,
    session: SessionDep,
    principal: Viewer,
    q: Search = "",
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """A version and a page of its entries (`q` searches prefix, group, SKU)."""
    book, version = service.get_version(session, principal, book_id, version_id, Permission.VIEW)
    items, total = listing.entries_page(session, book, version, q=q, limit=limit, offset=offset)
    return {
        **service.version_view(session, version),
        "kind": book.kind,
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.patch("/price-books/{book_id}/versions/{version_id}")
def change_draft(
    book_id: Id, version_id: Id, body: DraftChange, session: SessionDep, principal: CatalogManager
) -> dict[str, Any]:
    version = service.change_draft(
        session, principal, book_id, version_id, **body.model_dump(exclude_unset=True)
    )
    return service.version_view(session, version)


@router.delete("/price-books/{book_id}/versions/{version_id}", status_code=204)
def delete_draft(
    book_id: Id, version_id: Id, session: SessionDep, principal: CatalogManager
) -> Response:
    service.delete_draft(session, principal, book_id, version_id)
    return Response(status_code=204)


@router.post("/price-books/{book_id}/versions/{version_id}/publish")
def publish(
    book_id: Id, version_id: Id, body: PublishIn, session: SessionDep, principal: CatalogManager
) -> dict[str, Any]:
    """Publish a draft: it prices usage from its effective instant and never changes again."""
    version = service.publish(session, principal, book_id, version_id, reason=body.reason)
    return service.version_view(session, version)


@router.post("/price-books/{book_id}/versions/{version_id}/tariffs", status_code=201)
def add_tariff(
    book_id: Id, version_id: Id, body: TariffIn, session: SessionDep, principal: CatalogManager
) -> dict[str, Any]:
    entry = service.add_tariff(
        session, principal, book_id, version_id, service.TariffIn(**body.model_dump())
    )
    return service.tariff_view(entry)


@router.put("/price-books/{book_id}/versions/{version_id}/tariffs/{entry_id}")
def change_tariff(
    book_id: Id,
    version_id: Id,
    entry_id: Id,
    body: TariffIn,
    session: SessionDep,
    principal: CatalogManager,
) -> dict[str, Any]:
    entry = service.change_tariff(
        session, principal, book_id, version_id, entry_id, service.TariffIn(**body.model_dump())
    )
    return service.tariff_view(entry)


@router.delete("/price-books/{book_id}/versions/{version_id}/tariffs/{entry_id}", status_code=204)
def remove_tariff(
    book_id: Id, version_id: Id, entry_id: Id, session: SessionDep, principal: CatalogManager
) -> Response:
    service.remove_tariff(session, principal, book_id, version_id, entry_id)
    return Response(status_code=204)


def _price_in(body: PriceIn) -> service.PriceIn:
    data = body.model_dump()
    data["tiers"] = tuple(tuple(t) for t in data["tiers"])
    return service.PriceIn(**data)


@router.post("/price-books/{book_id}/versions/{version_id}/prices", status_code=201)
def add_price(
    book_id: Id, version_id: Id, body: PriceIn, session: SessionDep, principal: CatalogManager
) -> dict[str, Any]:
    entry = service.add_price(session, principal, book_id, version_id, _price_in(body))
    return service.price_view(entry)


@router.put("/price-books/{book_id}/versions/{version_id}/prices/{entry_id}")
def change_price(
    book_id: Id,
    version_id: Id,
    entry_id: Id,
    body: PriceIn,
    session: SessionDep,
    principal: CatalogManager,
) -> dict[str, Any]:
    entry = service.change_price(session, principal, book_id, version_id, entry_id, _price_in(body))
    return service.price_view(entry)


@router.delete("/price-books/{book_id}/versions/{version_id}/prices/{entry_id}", status_code=204)
def remove_price(
    book_id: Id, version_id: Id, entry_id: Id, session: SessionDep, principal: CatalogManager
) -> Response:
    service.remove_price(session, principal, book_id, version_id, entry_id)
    return Response(status_code=204)


@router.get(
    "/price-books/{book_id}/versions/{version_id}/csv",
    response_class=CSVResponse,
    responses=JSON_ERROR_RESPONSES,
)
def export_version(book_id: Id, version_id: Id, session: SessionDep, principal: Viewer) -> Response:
    """The version in the format it is imported in (tariffs CSV or prices CSV)."""
    name, text = csv_io.export_version(session, principal, book_id, version_id)
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/price-books/{book_id}/compare")
def compare(
    book_id: Id,
    session: SessionDep,
    principal: Viewer,
    old: Annotated[int, Query(ge=1, le=2**31 - 1, description="version id")],
    new: Annotated[int, Query(ge=1, le=2**31 - 1, description="version id")],
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> dict[str, Any]:
    """Entries added, removed and changed from version `old` to `new` (each
    list capped at `limit`; the counts are complete)."""
    return comparing.compare(session, principal, book_id, old, new).as_dict(limit)


# ------------------------------------------------------------------ uploads


class ImportForm(BaseModel):
    """The form fields sent with the file (multipart/form-data)."""

    model_config = ConfigDict(extra="forbid")

    effective_from: Instant | None = Field(
        None, description="must agree with the file's effective_from (default: the file's)"
    )
    note: str = Field("", max_length=service.MAX_NOTE)
    publish: bool = False
    reason: str = Field("", max_length=service.MAX_NOTE, description="audited when publishing")


def _body(form_model: type[BaseModel] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "tariffs CSV (voip book) or prices CSV (cloud book), docs/rating.md",
        }
    }
    if form_model is not None:
        properties.update(form_model.model_json_schema()["properties"])
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": properties}
            }
        },
    }


async def _receive(request: Request, path: Path) -> uploads.Received:
    with path.open("wb") as out:
        return await uploads.receive(request.headers.get("content-type", ""), request.stream(), out)


_F = TypeVar("_F", bound=BaseModel)


def parsed_form(model: type[_F], fields: dict[str, str]) -> _F:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
        ) from None


@router.post(
    "/price-books/{book_id}/imports",
    status_code=201,
    openapi_extra={"requestBody": _body(ImportForm)},
)
async def import_version(
    book_id: Id,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    format: Annotated[
        Literal["rerate", "cgrates"],
        Query(
            description="rerate: one tariffs/prices CSV in `file`. cgrates: a CGRateS tariff "
            "plan's CSV files in several `files` parts (or one zip), with the fields "
            "effective_from, plan or subject (tenant, category), increment_decimals, note, "
            'publish, reason (docs/formats.md, "CGRateS tariff plans")'
        ),
    ] = "rerate",
) -> dict[str, Any]:
    """A new version from a CSV file (or a CGRateS tariff plan), all or nothing;
    errors name file, line and field."""
    if format == "cgrates":
        return await cgrates_upload.upload(request, session, principal, book_id, parsed_form)
    return await upload_version(request, session, principal, book_id)


async def upload_version(
    request: Request,
    session: Session,
    principal: Principal,
    book_id: int,
    *,
    blank_is_unset: bool = False,
) -> dict[str, Any]:
    """Stream the multipart body to a file, import it as a new version, remove
    it: the API's and the console's upload. `blank_is_unset`: an HTML form
    sends "" for an empty field, which means "not given"."""
    data_dir = Path(request.app.state.settings.data_dir)
    # Do not hold a transaction (or SQLite's write lock) while the file arrives.
    await run_in_threadpool(session.rollback)
    await run_in_threadpool(uploads.sweep, data_dir)
    path = uploads.new_upload_path(data_dir)
    try:
        received = await _receive(request, path)
        fields = received.fields
        if blank_is_unset:
            fields = {k: v for k, v in fields.items() if v != ""}
        form = parsed_form(ImportForm, fields)
        return await run_in_threadpool(
            _import, request, principal, book_id, path, received.filename, form
        )
    finally:
        path.unlink(missing_ok=True)


def _import(
    request: Request, principal: Principal, book_id: int, path: Path, name: str, form: ImportForm
) -> dict[str, Any]:
    with get_db(request).write_session() as session:
        set_session_actor(session, Actor(principal.user_id, principal.email))
        version = csv_io.import_version(
            session, principal, book_id, path, name=name, **form.model_dump()
        )
        return service.version_view(session, version)


@router.put(
    "/price-books/{book_id}/versions/{version_id}/csv",
    openapi_extra={"requestBody": _body(None)},
)
async def replace_entries(
    book_id: Id, version_id: Id, request: Request, session: SessionDep, principal: CatalogManager
) -> dict[str, Any]:
    """Replace every entry of a draft with a CSV file's, all or nothing."""
    return await upload_replacement(request, session, principal, book_id, version_id)


async def upload_replacement(
    request: Request, session: Session, principal: Principal, book_id: int, version_id: int
) -> dict[str, Any]:
    """Stream the multipart body to a file and replace a draft's entries with it."""
    data_dir = Path(request.app.state.settings.data_dir)
    await run_in_threadpool(session.rollback)
    await run_in_threadpool(uploads.sweep, data_dir)
    path = uploads.new_upload_path(data_dir)
    try:
        received = await _receive(request, path)
        return await run_in_threadpool(
            _replace, request, principal, book_id, version_id, path, received.filename
        )
    finally:
        path.unlink(missing_ok=True)


def _replace(
    request: Request, principal: Principal, book_id: int, version_id: int, path: Path, name: str
) -> dict[str, Any]:
    with get_db(request).write_session() as session:
        set_session_actor(session, Actor(principal.user_id, principal.email))
        version = csv_io.replace_entries(session, principal, book_id, version_id, path, name=name)
        return service.version_view(session, version)
