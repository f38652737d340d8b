"""Console: price books and tariff decks.

The list (search, pages, create), a book (its versions, a CSV upload as a new
version, export links, a comparison of two versions) and a version (a page
of its entries; a draft is edited entry by entry, replaced by a CSV upload,
or published with a reason). Thin shells over the services the API calls;
uploads stream through the API's own upload code (endpoints.upload_version),
so a 200,000-prefix deck is never held in memory. A published version shows
no edit controls and its edit routes answer 409 with the page.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.auth.permissions import Permission, Principal
from rerate.kit import bounds
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Conflict, Invalid, NotFound, RerateError
from rerate.models import PriceEntry, TariffEntry, User
from rerate.models.enums import NodeKind, PriceBookKind, VersionStatus
from rerate.pricebooks import cgrates_upload, endpoints, listing, service
from rerate.pricebooks import compare as comparing
from rerate.tenancy.service import list_nodes
from rerate.web.console import PAGE_SIZE, int_or_none, page_router, render, sentence

router = page_router()

# A comparison of two 200,000-prefix decks may differ everywhere: the page
# shows this many of each list (the counts are complete; the API gives more).
COMPARE_SHOWN = 200
MAX_TEXT = 400


def _id(*values: int) -> int:
    """The first of `values`, after checking each is an id (404 otherwise)."""
    if not all(1 <= v <= bounds.MAX_ID for v in values):
        raise NotFound("not found")
    return values[0]


def _pages(total: int, page: int) -> tuple[int, int]:
    pages = max(1, -(-total // PAGE_SIZE))
    return min(max(1, page), pages), pages


def _error(exc: RequestValidationError) -> str:
    fields = ", ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
    )
    return f"The form is incomplete or wrong ({fields})."


# --------------------------------------------------------------------- books


def _owners(session: Session, principal: Principal) -> list[Any]:
    return [
        n
        for n in list_nodes(session, principal, permission=Permission.MANAGE_CATALOG)
        if n.kind != NodeKind.CUSTOMER
    ]


def _list_context(session: Session, principal: Principal, q: str, page: int) -> dict[str, Any]:
    query = q.strip()[:200]
    total = service.list_books(session, principal, q=query, limit=1).total
    page, pages = _pages(total, page)
    books = service.list_books(
        session, principal, q=query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    can_manage = principal.has(Permission.MANAGE_CATALOG)
    return {
        "active": "pricebooks",
        "books": books.items,
        "q": query,
        "page": page,
        "pages": pages,
        "total": books.total,
        "base_query": urlencode({"q": query}) if query else "",
        "kinds": [k.value for k in PriceBookKind],
        "owners": _owners(session, principal) if can_manage else [],
        "can_manage": can_manage,
        "form": {},
        "error": None,
    }


@router.get("/price-books")
def books_page(
    request: Request, session: SessionDep, principal: Viewer, q: str = "", page: str = ""
) -> Response:
    """Price books and tariff decks in your scope: search by name or owner."""
    ctx = _list_context(session, principal, q, int_or_none(page) or 1)
    return render(request, "pricebooks/books.html", ctx)


@router.post("/price-books")
def books_create(
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "",
    owner_node_id: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "kind": kind, "currency": currency, "owner_node_id": owner_node_id}
    try:
        try:
            book_kind = PriceBookKind(kind)
        except ValueError:
            raise Invalid("kind: choose cloud (SKU prices) or voip (a tariff deck)") from None
        owner = int_or_none(owner_node_id)
        if owner is None:
            raise Invalid("owner_node_id: choose the node that owns the book")
        if len(name) > service.MAX_NAME or len(currency) > 3:
            raise Invalid(f"name holds at most {service.MAX_NAME} characters, currency 3")
        set_session_actor(
            session, Actor(principal.user_id, principal.email), "created in the console"
        )
        book = service.create_book(
            session, principal, name=name, kind=book_kind, currency=currency, owner_node_id=owner
        )
    except (Invalid, Conflict, NotFound) as exc:
        session.rollback()
        ctx = _list_context(session, principal, "", 1)
        ctx.update(form=form, error=sentence(exc.detail))
        return render(request, "pricebooks/books.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/price-books/{book.id}?created=1", status_code=303)


def _with_publisher(session: Session, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each version view with `published_by_email`: people read names, not ids."""
    ids = {v["published_by"] for v in views if v["published_by"] is not None}
    emails: dict[int, str] = {}
    if ids:
        for user_id, email in session.execute(select(User.id, User.email).where(User.id.in_(ids))):
            emails[user_id] = email
    return [{**v, "published_by_email": emails.get(v["published_by"])} for v in views]


def _book_context(
    session: Session, principal: Principal, book_id: int, *, old: str = "", new: str = ""
) -> dict[str, Any]:
    book = service.get_book(session, principal, book_id, Permission.VIEW)
    versions = _with_publisher(
        session, [service.version_view(session, v) for v in service.versions_of(session, book)]
    )
    comparison = None
    old_id, new_id = int_or_none(old), int_or_none(new)
    if old_id is not None and new_id is not None:
        comparison = comparing.compare(session, principal, book.id, old_id, new_id).as_dict(
            COMPARE_SHOWN
        )
    return {
        "active": "pricebooks",
        "book": service.book_view(session, book),
        "versions": versions,
        "has_draft": any(v["status"] == VersionStatus.DRAFT for v in versions),
        "can_manage": principal.has(Permission.MANAGE_CATALOG),
        "comparison": comparison,
        "compare_shown": COMPARE_SHOWN,
        "old": old_id,
        "new": new_id,
        "form": {},
        "error": None,
        "message": None,
    }


@router.get("/price-books/{book_id}")
def book_page(
    book_id: int,
    request: Request,
    session: SessionDep,
    principal: Viewer,
    created: str = "",
    old: str = "",
    new: str = "",
) -> Response:
    """A book: its versions, an upload form, exports, and a comparison of two versions."""
    ctx = _book_context(session, principal, _id(book_id), old=old, new=new)
    if created:
        ctx["message"] = f"Price book {ctx['book']['name']} created."
    return render(request, "pricebooks/book.html", ctx)


@router.post("/price-books/{book_id}/imports")
async def book_import(
    book_id: int, request: Request, session: SessionDep, principal: CatalogManager
) -> Response:
    """A CSV upload as a new version (a draft, or published with a reason)."""
    _id(book_id)
    try:
        if request.query_params.get("format") == "cgrates":
            # A CGRateS tariff plan's files (docs/formats.md, "CGRateS tariff plans").
            version = await cgrates_upload.upload(
                request, session, principal, book_id, endpoints.parsed_form
            )
        else:
            version = await endpoints.upload_version(
                request, session, principal, book_id, blank_is_unset=True
            )
    except (Invalid, Conflict) as exc:
        # The detail names the file, line and field ("deck.csv line 12, field prefix: ...").
        ctx = _book_context(session, principal, book_id)
        ctx["error"] = exc.detail
        return render(request, "pricebooks/book.html", ctx, status_code=exc.status_code)
    except RequestValidationError as exc:
        ctx = _book_context(session, principal, book_id)
        ctx["error"] = _error(exc)
        return render(request, "pricebooks/book.html", ctx, status_code=422)
    carried = version.get("cgrates") or {}
    said = [*carried.get("warnings", ()), *carried.get("notes", ())]
    if said:
        # What the importer left out or did not take as given must be read
        # before publishing: shown here, since a redirect would lose it.
        ctx = _version_context(session, principal, book_id, version["id"])
        plans = ", ".join(carried.get("plans", ()))
        ctx["message"] = f"Version imported from CGRateS plan {plans}." if plans else None
        ctx["import_notes"] = said
        return render(request, "pricebooks/version.html", ctx, status_code=201)
    return RedirectResponse(
        f"/price-books/{book_id}/versions/{version['id']}?imported=1", status_code=303
    )


# ------------------------------------------------------------------ versions


def _version_context(
    session: Session,
    principal: Principal,
    book_id: int,
    version_id: int,
    *,
    q: str = "",
    page: int = 1,
    edit: str = "",
) -> dict[str, Any]:
    book, version = service.get_version(session, principal, book_id, version_id, Permission.VIEW)
    query = q.strip()[:200]
    _items, total = listing.entries_page(session, book, version, q=query, limit=1)
    page, pages = _pages(total, page)
    items, total = listing.entries_page(
        session, book, version, q=query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    is_draft = version.status == VersionStatus.DRAFT
    can_edit = is_draft and principal.has(Permission.MANAGE_CATALOG)
    editing = None
    edit_id = int_or_none(edit)
    if can_edit and edit_id is not None:
        editing = next((e for e in items if e["id"] == edit_id), None) or _entry_view(
            session, book, version.id, edit_id
        )
    return {
        "active": "pricebooks",
        "book": service.book_view(session, book),
        "version": _with_publisher(session, [service.version_view(session, version)])[0],
        "voip": book.kind == PriceBookKind.VOIP,
        "items": items,
        "q": query,
        "page": page,
        "pages": pages,
        "total": total,
        "base_query": urlencode({"q": query}) if query else "",
        "is_draft": is_draft,
        "can_edit": can_edit,
        "editing": editing,
        "form": {},
        "error": None,
        "message": None,
    }


def _entry_view(session: Session, book: Any, version_id: int, entry_id: int) -> dict[str, Any]:
    if book.kind == PriceBookKind.VOIP:
        tariff = session.get(TariffEntry, entry_id)
        if tariff is None or tariff.version_id != version_id:
            raise NotFound("not found")
        return service.tariff_view(tariff)
    price = session.get(PriceEntry, entry_id)
    if price is None or price.version_id != version_id:
        raise NotFound("not found")
    return service.price_view(price)


_MESSAGES = {
    "imported": "Version imported.",
    "replaced": "Entries replaced from the file.",
    "added": "Entry added.",
    "changed": "Entry changed.",
    "removed": "Entry removed.",
    "published": "Version published: it prices usage from its effective instant.",
}


@router.get("/price-books/{book_id}/versions/{version_id}")
def version_page(
    book_id: int,
    version_id: int,
    request: Request,
    session: SessionDep,
    principal: Viewer,
    q: str = "",
    page: str = "",
    edit: str = "",
    done: str = "",
    imported: str = "",
) -> Response:
    """A version's entries, a page at a time; a draft's edit controls."""
    ctx = _version_context(
        session,
        principal,
        _id(book_id, version_id),
        version_id,
        q=q,
        page=int_or_none(page) or 1,
        edit=edit,
    )
    ctx["message"] = _MESSAGES.get("imported" if imported else done)
    return render(request, "pricebooks/version.html", ctx)


def _version_error(
    request: Request,
    session: Session,
    principal: Principal,
    book_id: int,
    version_id: int,
    exc: RerateError,
    form: dict[str, str] | None = None,
) -> Response:
    session.rollback()
    ctx = _version_context(session, principal, book_id, version_id)
    ctx.update(error=sentence(exc.detail), form=form or {})
    return render(request, "pricebooks/version.html", ctx, status_code=exc.status_code)


def _done(book_id: int, version_id: int, what: str) -> Response:
    return RedirectResponse(
        f"/price-books/{book_id}/versions/{version_id}?done={what}", status_code=303
    )


def _count(form: dict[str, str], field: str, default: int) -> int:
    text = form.get(field, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise Invalid(f"{field}: a whole number of seconds, 0 or more")
    return int(text)


def _places(form: dict[str, str], field: str) -> int | None:
    text = form.get(field, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > 10:
        raise Invalid(f"{field}: a number of decimals, 0 to 10")
    return int(text)


def _weight(form: dict[str, str]) -> int:
    text = form.get("weight", "").strip() or "0"
    try:
        value = int(text)
    except ValueError:
        raise Invalid("weight: a whole number") from None
    if not -(2**31) <= value <= 2**31 - 1:
        raise Invalid("weight: out of range")
    return value


def _tiers(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in text.split(";"):
        if not part.strip():
            continue
        frm, sep, price = part.partition(":")
        if not sep:
            raise Invalid("tiers: like '0:0.10;1000:0.08' (from quantity:unit price)")
        pairs.append((frm.strip(), price.strip()))
    return tuple(pairs)


def _entry_in(voip: bool, form: dict[str, str]) -> service.TariffIn | service.PriceIn:
    if any(len(v) > MAX_TEXT for v in form.values()):
        raise Invalid(f"each field holds at most {MAX_TEXT} characters")
    if voip:
        return service.TariffIn(
            prefix=form["prefix"],
            destination_group=form["destination_group"],
            rate_per_minute=form["rate_per_minute"],
            connect_fee=form["connect_fee"] or "0",
            min_seconds=_count(form, "min_seconds", 0),
            initial_increment=_count(form, "initial_increment", 1),
            subsequent_increment=_count(form, "subsequent_increment", 1),
            band=form["band"] or None,
            charge_unanswered=form["charge_unanswered"] in ("on", "true", "1"),
            rate_groups=form["rate_groups"],
            increment_decimals=_places(form, "increment_decimals"),
            call_decimals=_places(form, "call_decimals"),
            call_rounding=form["call_rounding"],
            max_cost=form["max_cost"] or None,
            timing=form["timing"],
            weight=_weight(form),
        )
    return service.PriceIn(
        sku=form["sku"],
        unit_price=form["unit_price"] or "0",
        region=form["region"] or None,
        unit=form["unit"],
        tier_mode=form["tier_mode"] or "none",
        tiers=_tiers(form["tiers"]),
    )


_ENTRY_FIELDS = (
    "prefix",
    "destination_group",
    "rate_per_minute",
    "connect_fee",
    "min_seconds",
    "initial_increment",
    "subsequent_increment",
    "band",
    "charge_unanswered",
    "rate_groups",
    "increment_decimals",
    "call_decimals",
    "call_rounding",
    "max_cost",
    "timing",
    "weight",
    "sku",
    "unit_price",
    "region",
    "unit",
    "tier_mode",
    "tiers",
)


async def _entry_form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {f: str(data.get(f) or "") for f in _ENTRY_FIELDS}


@router.post("/price-books/{book_id}/versions/{version_id}/entries")
async def entry_add(
    book_id: int,
    version_id: int,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
) -> Response:
    """Add an entry to a draft (a tariff to a deck, a price to a cloud book)."""
    _id(book_id, version_id)
    form = await _entry_form(request)
    try:
        book = service.get_book(session, principal, book_id, Permission.MANAGE_CATALOG)
        set_session_actor(session, Actor(principal.user_id, principal.email), "console edit")
        data = _entry_in(book.kind == PriceBookKind.VOIP, form)
        if isinstance(data, service.TariffIn):
            service.add_tariff(session, principal, book_id, version_id, data)
        else:
            service.add_price(session, principal, book_id, version_id, data)
    except (Invalid, Conflict) as exc:
        return _version_error(request, session, principal, book_id, version_id, exc, form)
    return _done(book_id, version_id, "added")


@router.post("/price-books/{book_id}/versions/{version_id}/entries/{entry_id}")
async def entry_change(
    book_id: int,
    version_id: int,
    entry_id: int,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
) -> Response:
    """Change one entry of a draft."""
    _id(book_id, version_id, entry_id)
    form = await _entry_form(request)
    try:
        book = service.get_book(session, principal, book_id, Permission.MANAGE_CATALOG)
        set_session_actor(session, Actor(principal.user_id, principal.email), "console edit")
        data = _entry_in(book.kind == PriceBookKind.VOIP, form)
        if isinstance(data, service.TariffIn):
            service.change_tariff(session, principal, book_id, version_id, entry_id, data)
        else:
            service.change_price(session, principal, book_id, version_id, entry_id, data)
    except (Invalid, Conflict) as exc:
        return _version_error(request, session, principal, book_id, version_id, exc, form)
    return _done(book_id, version_id, "changed")


@router.post("/price-books/{book_id}/versions/{version_id}/entries/{entry_id}/remove")
def entry_remove(
    book_id: int,
    version_id: int,
    entry_id: int,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
) -> Response:
    """Remove one entry of a draft."""
    _id(book_id, version_id, entry_id)
    try:
        book = service.get_book(session, principal, book_id, Permission.MANAGE_CATALOG)
        set_session_actor(session, Actor(principal.user_id, principal.email), "console edit")
        if book.kind == PriceBookKind.VOIP:
            service.remove_tariff(session, principal, book_id, version_id, entry_id)
        else:
            service.remove_price(session, principal, book_id, version_id, entry_id)
    except (Invalid, Conflict) as exc:
        return _version_error(request, session, principal, book_id, version_id, exc)
    return _done(book_id, version_id, "removed")


@router.post("/price-books/{book_id}/versions/{version_id}/csv")
async def version_replace(
    book_id: int, version_id: int, request: Request, session: SessionDep, principal: CatalogManager
) -> Response:
    """Replace every entry of a draft with a CSV file's, all or nothing."""
    _id(book_id, version_id)
    try:
        await endpoints.upload_replacement(request, session, principal, book_id, version_id)
    except (Invalid, Conflict) as exc:
        ctx = _version_context(session, principal, book_id, version_id)
        ctx["error"] = exc.detail
        return render(request, "pricebooks/version.html", ctx, status_code=exc.status_code)
    return _done(book_id, version_id, "replaced")


@router.post("/price-books/{book_id}/versions/{version_id}/publish")
def version_publish(
    book_id: int,
    version_id: int,
    request: Request,
    session: SessionDep,
    principal: CatalogManager,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Publish a draft with a reason (kept in the audit log)."""
    _id(book_id, version_id)
    try:
        set_session_actor(session, Actor(principal.user_id, principal.email), reason.strip())
        service.publish(session, principal, book_id, version_id, reason=reason)
    except (Invalid, Conflict) as exc:
        return _version_error(
            request, session, principal, book_id, version_id, exc, {"reason": reason}
        )
    return _done(book_id, version_id, "published")
