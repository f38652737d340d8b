"""`Idempotency-Key` on the API's POSTs: the same key and request replay the
first answer; the same key with another request is a 409.

How it holds under crashes and concurrency:
1. Before the handler runs, the key is *reserved* in its own short, committed
   transaction (unique per user and key). A second request with the key
   waits on that unique index (PostgreSQL) or the write lock (SQLite), then
   finds the reservation: another request body is refused (409), a finished
   one is replayed, one still running gets 409 with `Retry-After`.
2. The handler commits its effect before answering (api/deps.py).
3. The middleware stores the answer on the reservation: a 2xx is kept for
   replays; any other answer releases the key (nothing was committed, so the
   client may retry with the same key).
A crash between 2 and 3 leaves a reservation without an answer: the effect
happened once, and retries get a 409 that says so rather than a second effect.
Keys are scoped to their user and kept for `RETENTION`.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Annotated

import anyio
from fastapi import Header, Request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rerate.api.deps import get_db, principal_of
from rerate.kit.db import Database
from rerate.kit.errors import Conflict, Invalid, RerateError
from rerate.models import IdempotencyKey
from rerate.models.base import utcnow

RETENTION = timedelta(hours=24)
MAX_STORED_BODY = 1 << 20
_STATE = "idempotency_key_id"
NOT_KEPT = "application/x-rerate-not-kept"
"""Stored instead of an answer that held a secret shown once (a new API key)."""
log = logging.getLogger(__name__)


class Replay(RerateError):
    """Not an error: the stored first answer, raised out of the dependency so
    the handler does not run again (rendered by `replay_response`)."""

    def __init__(self, status_code: int, media_type: str | None, body: bytes) -> None:
        super().__init__("replayed")
        self.status_code = status_code
        self.media_type = media_type
        self.body = body


async def _fingerprint(request: Request) -> str:
    """sha256 of what makes two requests "the same": method, path, query and
    body. Multipart uploads are not read into memory for this: their length
    and content type stand for the body (imports are idempotent by record id)."""
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode())
        digest.update(b"\0")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/"):
        digest.update(f"{content_type}\0{request.headers.get('content-length', '')}".encode())
    else:
        digest.update(await request.body())
    return digest.hexdigest()


async def idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        # No alias: FastAPI reads `idempotency_key` from the `idempotency-key`
        # header (names are case-insensitive), and pydantic warns that a
        # Field alias has no effect where FastAPI builds its adapters.
        Header(
            description="`Idempotency-Key`, POST only: the same key and request replay the "
            "first answer (24 h); the same key with another request is a 409.",
        ),
    ] = None,
) -> None:
    """Router dependency: reserve the key (or replay / refuse) before the handler."""
    key = idempotency_key
    if request.method != "POST" or key is None:
        return
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise Invalid("Idempotency-Key must be 1 to 255 printable characters")
    fingerprint = await _fingerprint(request)
    await anyio.to_thread.run_sync(_reserve, request, key, fingerprint)


def _reserve(request: Request, key: str, fingerprint: str) -> None:
    db = get_db(request)
    try:
        principal = principal_of(request)
    except RerateError:
        return  # not authenticated: the route's own declaration answers 401
    with db.write_session() as session:
        session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - RETENTION)
        )
        try:
            with session.begin_nested():
                row = IdempotencyKey(
                    user_id=principal.user_id,
                    key=key,
                    method=request.method,
                    path=request.url.path,
                    request_hash=fingerprint,
                )
                session.add(row)
        except IntegrityError:
            found = session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.user_id == principal.user_id, IdempotencyKey.key == key
                )
            )
            if found is None:  # pragma: no cover - released between insert and read
                raise Conflict("this Idempotency-Key is being released; retry") from None
            _answer_existing(found, fingerprint)
        setattr(request.state, _STATE, row.id)


def _answer_existing(found: IdempotencyKey, fingerprint: str) -> None:
    if found.request_hash != fingerprint:
        raise Conflict(
            "this Idempotency-Key was used for a different request; use a new key",
            idempotency_key=found.key,
        )
    if found.status_code is None:
        raise Conflict(
            "a request with this Idempotency-Key is in progress, or its answer was lost "
            "after its effect committed; look the result up before sending a new key",
            retry_after_s=1,
        )
    if found.media_type == NOT_KEPT:
        raise Conflict(
            "the request with this Idempotency-Key succeeded and its answer held a secret "
            "shown only once, which is not kept; list your API keys to find it"
        )
    raise Replay(found.status_code, found.media_type, found.response_body or b"")


def keep_no_answer(request: Request) -> None:
    """Called by a handler whose answer holds a secret: the key still guards
    against a second effect, but the answer is not stored for replays."""
    request.state.idempotency_not_kept = True


def _finish(
    db: Database, row_id: int, status: int, media_type: str | None, body: bytes, keep: bool
) -> None:
    with db.write_session() as session:
        row = session.get(IdempotencyKey, row_id)
        if row is None:
            return
        if 200 <= status < 300 and (not keep or len(body) > MAX_STORED_BODY):
            row.status_code = status
            row.media_type = NOT_KEPT
        elif 200 <= status < 300:
            row.status_code = status
            row.media_type = media_type
            row.response_body = body
        else:
            session.delete(row)  # nothing committed (or too big to keep): the key is free


class IdempotencyMiddleware:
    """Stores the answer of a request whose key was reserved, before sending it."""

    def __init__(self, app: ASGIApp, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            state = scope.get("state", {})
            if _STATE not in state:
                await send(message)  # no key reserved: pass through untouched
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                start = held[0]
                body = b"".join(m.get("body", b"") for m in held[1:])
                headers = dict(start.get("headers", []))
                media = headers.get(b"content-type", b"").decode() or None
                try:
                    await anyio.to_thread.run_sync(
                        _finish,
                        self.db,
                        state[_STATE],
                        start["status"],
                        media,
                        body,
                        not state.get("idempotency_not_kept", False),
                    )
                except Exception:  # the effect stands; the key then answers 409, logged here
                    log.exception("could not store the answer of an idempotent request")
                for m in held:
                    await send(m)

        await self.app(scope, receive, hold)
