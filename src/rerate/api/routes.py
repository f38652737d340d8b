"""Walk an application's API routes with their full paths.

FastAPI >= 0.16x keeps included routers as lazy `_IncludedRouter` entries
rather than copying their routes into `app.routes`; this walks both shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute


def iter_api_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            sub_prefix = getattr(getattr(route, "include_context", None), "prefix", "")
            yield from iter_api_routes(route.original_router.routes, prefix + sub_prefix)
