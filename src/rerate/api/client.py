"""Who is on the other end of a request, for the login throttle and the audit log."""

from __future__ import annotations

from starlette.requests import HTTPConnection


def client_address(request: HTTPConnection) -> str:
    """The client's address as the server saw it. Behind a reverse proxy this is
    the proxy's, unless uvicorn trusts it to name the real client
    (`FORWARDED_ALLOW_IPS`, see docs/configuration.md)."""
    return request.client.host if request.client else "unknown"
