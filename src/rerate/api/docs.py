"""Interactive API docs at /docs, served from vendored Swagger UI assets.

FastAPI's default page loads Swagger UI from a CDN and starts it with an
inline script: blank offline, and impossible under a self-only CSP. This page
loads `rerate/web/static/swagger-ui/` (swagger-ui-dist, Apache-2.0) and a small
start script from the same origin. ReDoc is not offered.

The OpenAPI schema declares how to authenticate (a Bearer API key, or the
session cookie of a logged-in browser) so "Authorize" in Swagger UI works; the
public routes say they need neither.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse

from rerate.api.deps import SESSION_COOKIE, Public
from rerate.api.routes import iter_api_routes

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`rr_...`): `rerate apikeys create` or POST /api/v1/api-keys.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The web console's session cookie (POST /api/v1/auth/login).",
    },
}


def _is_public(route: Any) -> bool:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Public):
            return True
        stack.extend(dep.dependencies)
    return False


def install_openapi_security(app: FastAPI) -> None:
    """Wrap `app.openapi` so the schema names the Bearer scheme (and the cookie)."""

    build = app.openapi  # FastAPI's own, which caches in app.openapi_schema

    def openapi() -> dict[str, Any]:
        cached = app.openapi_schema is not None
        schema = build()
        if cached:
            return schema
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        schema["security"] = [{"bearer": []}, {"session": []}]
        public = {path for path, route in iter_api_routes(app.routes) if _is_public(route)}
        for path, operations in schema.get("paths", {}).items():
            if path in public:
                for operation in operations.values():
                    operation["security"] = []
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def docs_page(static_url: Callable[[str], str]) -> HTMLResponse:
    css = html.escape(static_url("swagger-ui/swagger-ui.css"))
    bundle = html.escape(static_url("swagger-ui/swagger-ui-bundle.js"))
    start = html.escape(static_url("swagger-ui/rerate-docs.js"))
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rerate API</title>
<link rel="icon" href="{html.escape(static_url("favicon.svg"))}">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-openapi="/openapi.json"></div>
<script src="{bundle}"></script>
<script src="{start}"></script>
</body>
</html>
""",
        headers={"Cache-Control": "no-store"},
    )


def install_docs(app: FastAPI) -> None:
    """GET /docs (outside the schema, like FastAPI's own page)."""
    from rerate.web.console import static_url

    async def docs(_request: Request) -> HTMLResponse:
        return docs_page(static_url)

    app.add_route("/docs", docs, methods=["GET"], include_in_schema=False)
