"""A limit on request bodies, enforced while they stream.

FastAPI reads a JSON body whole into memory before validating it, and an
upload is as large as the client likes: without a limit one request can take
the server's memory or disk. `BodyLimit` answers 413 (the error envelope) at
once when `Content-Length` says the body is too large, and otherwise counts
the bytes as the application reads them and stops it with a 413 as soon as
they pass the limit, so an over-long chunked body is never read to its end.
Uploads (`multipart/form-data`) get `max_upload_bytes`, any other body
`max_body_bytes` (docs/configuration.md).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


class BodyLimit:
    """Pure ASGI middleware (no buffering of its own)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                if value.lower().startswith(b"multipart/form-data"):
                    return self.max_upload_bytes
                break
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse(
                {"error": "PayloadTooLarge", "detail": _too_large(limit)},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the application's read: FastAPI re-raises
                    # an HTTPException from body parsing as it is, and the
                    # upload endpoint removes its partial file on the way out.
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)
