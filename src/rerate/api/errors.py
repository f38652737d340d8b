"""The error envelope in the OpenAPI schema, and the last-resort handlers.

Every API error is `{"error": "<Name>", "detail": "<message>"}` (kit.errors),
plus `errors` for a validation error and `file`/`line`/`column` for a
rejected import. `ERROR_RESPONSES` declares it on every API route, so a client
generated from `/openapi.json` (and schemathesis) knows the real answers.

Two handlers complete the ones in `rerate.app`: Starlette's own HTTP errors
(an unparsable body, an unknown path, a wrong method) get the envelope too,
and any unexpected exception becomes a 500 envelope that names a request id
(logged with the traceback) and nothing else: no path, no traceback.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='Where, e.g. ["body", "periods", 0].')
    msg: str
    type: str


class ErrorOut(BaseModel):
    """The one error envelope."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="The error's name, e.g. NotFound, ValidationError, Conflict.")
    detail: str = Field(description="What is wrong, for a person.")
    errors: list[FieldError] | None = Field(
        None, description="ValidationError: one entry per refused field."
    )
    file: str | None = Field(None, description="A rejected import: the file (or 'request').")
    line: int | None = Field(None, description="A rejected import: the line (1-based).")
    column: str | None = Field(None, description="A rejected import: the column, when known.")


_DESCRIPTIONS = {
    400: "The body could not be read (not JSON, not a form).",
    401: "No valid session or API key.",
    403: "The caller's role does not grant the permission.",
    404: "Not found, or outside the caller's scope (the same answer).",
    409: "The change conflicts with the current state.",
    413: "The body is larger than the configured limit.",
    422: "A value is invalid; `errors` or `detail` names it.",
    500: "An unexpected error; `detail` names a request id found in the log.",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in _DESCRIPTIONS.items()
}
"""For every API route (api.router): FastAPI registers ErrorOut and documents
it under the route's media type, JSON for all but the few below."""

JSON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for status, text in _DESCRIPTIONS.items()
}
"""For a route whose success is not JSON (CSV, PDF): its errors still are, which
`model` would document under the route's own media type."""


# Names for Starlette's HTTP errors, matching kit.errors where one exists.
_NAMES = {
    401: "Unauthenticated",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    422: "Invalid",
}


def _name(status: int) -> str:
    if status in _NAMES:
        return _NAMES[status]
    try:
        return "".join(HTTPStatus(status).phrase.title().split())
    except ValueError:
        return "Error"


def install(app: FastAPI) -> None:
    """Register the envelope for Starlette's HTTP errors and the 500 catch-all."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _name(exc.status_code)
        return JSONResponse(
            {"error": _name(exc.status_code), "detail": detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex
        log.error(
            "unexpected error, request id %s: %s %s",
            request_id,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return JSONResponse(
            {
                "error": "InternalError",
                "detail": f"an unexpected error; request id {request_id}",
            },
            status_code=500,
            headers={"X-Request-ID": request_id},
        )
