"""One error hierarchy, rendered as one JSON envelope by the API.

`{"error": "<ClassName>", "detail": "<human message>"}`; expected business
errors never surface as 500.
"""

from __future__ import annotations

from typing import Any


class RerateError(Exception):
    status_code = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def code(self) -> str:
        return type(self).__name__


class NotFound(RerateError):
    """The object does not exist, or the caller may not see it (same answer)."""

    status_code = 404


class Forbidden(RerateError):
    status_code = 403


class Unauthenticated(RerateError):
    status_code = 401


class Conflict(RerateError):
    status_code = 409


class Invalid(RerateError):
    status_code = 422


class TooManyAttempts(RerateError):
    """Refused for now (login throttling); `retry_after_s` says for how long."""

    status_code = 429


class DatabaseBusy(RerateError):
    """The database could not take this request in time (no free connection,
    SQLite's write lock held too long by others); the same request may succeed
    in a moment. Answered 503 with `Retry-After`."""

    status_code = 503

    def __init__(
        self,
        detail: str = "the database is busy right now; please try again in a moment",
        *,
        retry_after_s: int = 2,
    ) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s
