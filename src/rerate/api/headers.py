"""Security headers on every response: API, web console, /docs and static files.

One ASGI middleware, so no route (nor an error answered before any route, such
as a 404 or a refused cross-site request) can go out without them. A route
that needs another value sets the header itself; this only fills in what is
missing.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages (and /docs) load scripts, styles and images from this origin only:
# no inline script, no eval, no CDN.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
)
# API answers are data, never documents to render or frame.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def headers_for(path: str, scheme: str) -> dict[str, str]:
    headers = dict(COMMON)
    if path.startswith("/api/"):
        headers["Content-Security-Policy"] = API_CSP
        # Tenant data: no shared or browser cache keeps a copy.
        headers["Cache-Control"] = "no-store"
    else:
        headers["Content-Security-Policy"] = PAGE_CSP
    if scheme == "https":
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = headers_for(scope["path"], scope.get("scheme", "http"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in wanted.items():
                    if key not in headers:
                        headers[key] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
