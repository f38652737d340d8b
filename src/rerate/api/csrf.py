"""Cross-site request refusal, shared by the API and the web console.

The session cookie is SameSite=Lax, which stops other *sites* but not a
sibling origin of the same site (another port, another subdomain): to the
browser that is "same-site" and the cookie goes along. So every
state-changing request a browser could have been made to send is checked
for coming from this very origin. Requests carrying a Bearer key are not
checked: a browser never adds that header by itself, so it cannot be forged
from another page.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED = "cross-site requests are refused: this request came from another origin"


def same_origin(request: HTTPConnection) -> bool:
    """Browsers say where a request comes from: `Sec-Fetch-Site` (all current ones),
    else `Origin`. Neither header (curl, scripts) is not a cross-site browser request.

    `same-site` is refused on purpose: it is exactly the sibling-origin case.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if not origin:
        return True
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def has_bearer(headers: Headers) -> bool:
    return headers.get("authorization", "").lower().startswith("bearer ")


class CrossSiteGuard:
    """ASGI middleware: refuses unsafe requests under `prefix` that a browser could
    have sent on its own (no Bearer key) from another origin, with the API's
    error envelope, before any handler (or upload parsing) runs."""

    def __init__(self, app: ASGIApp, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and scope["path"].startswith(self.prefix)
        ):
            request = HTTPConnection(scope)
            if not has_bearer(request.headers) and not same_origin(request):
                response = JSONResponse({"error": "Forbidden", "detail": REFUSED}, status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
