"""The FastAPI application: API under /api/v1, the web console, /health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from rerate import __version__
from rerate.api import deps
from rerate.api.gate import SessionGate
from rerate.auth.cache import PrincipalCache
from rerate.kit.db import Database, is_busy
from rerate.kit.errors import DatabaseBusy, RerateError
from rerate.kit.settings import Settings, get_settings


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
        stop = None
        if in_process_worker:
            from rerate.billing.tasks import expand_schedule, handlers
            from rerate.jobs.worker import Worker, start_in_thread

            worker = Worker(
                db,
                handlers=handlers(settings.data_dir),
                lease_s=settings.worker_lease_s,
                poll_s=settings.worker_poll_s,
                expand=expand_schedule,
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
    )
    app.state.settings = settings
    app.state.db = db
    reads, writes = settings.session_slots
    app.state.session_gate = SessionGate(reads=reads, writes=writes)
    app.state.principal_cache = PrincipalCache(settings.auth_cache_s)

    @app.exception_handler(RerateError)
    async def _rerate_error(_request: Request, exc: RerateError) -> JSONResponse:
        body = {"error": exc.code, "detail": exc.detail, **exc.extra}
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if isinstance(exc, DatabaseBusy):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

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

    app.include_router(api_router, prefix="/api/v1")

    from rerate.web.pages import router as web_router
    from rerate.web.pages import static_files

    app.include_router(web_router)
    app.mount("/static", static_files(), name="static")
    return app


def app_from_environment() -> FastAPI:
    """The app as `rerate serve --workers N` starts it in each server process."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_app(settings, in_process_worker=settings.in_process_worker)
