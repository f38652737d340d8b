"""The FastAPI application: API under /api/v1, the web console, /health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from rerate import __version__
from rerate.api import deps
from rerate.api import errors as api_errors
from rerate.api.csrf import CrossSiteGuard
from rerate.api.docs import install_docs, install_openapi_security
from rerate.api.gate import SessionGate
from rerate.api.headers import SecurityHeaders
from rerate.api.idempotency import IdempotencyMiddleware, Replay
from rerate.api.limits import BodyLimit
from rerate.auth.cache import PrincipalCache
from rerate.kit.db import Database, is_busy
from rerate.kit.errors import DatabaseBusy, RerateError
from rerate.kit.redact import scrub
from rerate.kit.settings import Settings, get_settings
from rerate.usage import uploads


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    *,
    in_process_worker: bool = False,
) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database(settings.resolved_database_url, **settings.database_options())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Uploads a killed or crashed process of this host left behind.
        uploads.sweep(settings.data_dir, at_startup=True)
        stop = None
        if in_process_worker:
            from rerate.billing.tasks import batch_handlers, expand_schedule, handlers
            from rerate.jobs.worker import Worker, start_in_thread

            worker = Worker(
                db,
                handlers=handlers(settings.data_dir),
                lease_s=settings.worker_lease_s,
                poll_s=settings.worker_poll_s,
                expand=expand_schedule,
                batch_handlers=batch_handlers(settings.data_dir),
                batch_size=settings.worker_batch_size,
            )
            thread, stop = start_in_thread(worker)
        yield
        if stop is not None:
            stop.set()
            thread.join(timeout=30)
        db.dispose()

    app = FastAPI(
        title="rerate",
        version=__version__,
        description="Billing engine: usage import, rating, recalculation, invoices.",
        lifespan=lifespan,
        # /docs is served from vendored assets (rerate.api.docs); no ReDoc.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    reads, writes = settings.session_slots
    app.state.session_gate = SessionGate(reads=reads, writes=writes)
    app.state.principal_cache = PrincipalCache(settings.auth_cache_s)

    @app.exception_handler(Replay)
    async def _replay(_request: Request, exc: Replay) -> Response:
        return Response(
            exc.body,
            status_code=exc.status_code,
            media_type=exc.media_type,
            headers={"Idempotent-Replayed": "true"},
        )

    @app.exception_handler(RerateError)
    async def _rerate_error(_request: Request, exc: RerateError) -> JSONResponse:
        body = scrub({"error": exc.code, "detail": exc.detail, **exc.extra})
        headers: dict[str, str] = {}
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if "retry_after_s" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after_s"])
        return JSONResponse(body, status_code=exc.status_code, headers=headers or None)

    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        # Busy outside a request's session (get_session turns those into
        # DatabaseBusy itself): still 503, never a bare 500. Anything else is
        # a real failure and goes on to the server-error handling.
        if not is_busy(exc):
            raise exc
        return await _rerate_error(request, DatabaseBusy())

    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(OperationalError, _database_error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return JSONResponse(
            {"error": "ValidationError", "detail": detail, "errors": errors}, status_code=422
        )

    api_errors.install(app)

    @app.get("/health", dependencies=[Depends(deps.Public())], tags=["operations"])
    def health(request: Request) -> JSONResponse:
        """Checks the database answers and the data directory is writable."""
        checks: dict[str, str] = {}
        try:
            with request.app.state.db.engine.connect() as conn:
                conn.execute(text("select 1"))
            checks["database"] = "ok"
        except Exception as exc:  # a health check reports, it does not raise
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            data_dir = Path(request.app.state.settings.data_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
            probe = data_dir / ".health"
            probe.write_text("ok")
            probe.unlink()
            checks["data_dir"] = "ok"
        except OSError as exc:
            checks["data_dir"] = f"error: {exc.strerror}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "error", "checks": checks}, status_code=200 if ok else 503
        )

    from rerate.api.router import api_router

    app.add_middleware(IdempotencyMiddleware, db=db)

    app.include_router(api_router, prefix="/api/v1")

    from rerate.web.console import static_files
    from rerate.web.routers import PAGE_ROUTERS

    for pages in PAGE_ROUTERS:
        app.include_router(pages)
    app.mount("/static", static_files(), name="static")

    install_docs(app)
    install_openapi_security(app)
    # The last added is the outermost: headers go on everything, including
    # the guard's refusals.
    # Added last = outermost: security headers on every answer (413s too),
    # then the body limit before anything reads a byte.
    app.add_middleware(CrossSiteGuard, prefix="/api/")
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(SecurityHeaders)
    return app


def app_from_environment() -> FastAPI:
    """The app as `rerate serve --workers N` starts it in each server process."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_app(settings, in_process_worker=settings.in_process_worker)
