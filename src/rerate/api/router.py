"""All API routers under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from rerate.accounts.endpoints import router as accounts
from rerate.api.errors import ERROR_RESPONSES
from rerate.auth.endpoints import router as auth
from rerate.billing.endpoints import router as billing
from rerate.catalog.endpoints import router as catalog
from rerate.invoicing.endpoints import router as invoices
from rerate.settings.endpoints import router as settings
from rerate.tenancy.endpoints import router as tenancy
from rerate.usage.endpoints import router as usage

api_router = APIRouter()
for router in (auth, tenancy, accounts, settings, usage, billing, catalog, invoices):
    # Every API route declares the error envelope (and FastAPI then documents
    # our 422 instead of its own validation-error shape).
    api_router.include_router(router, responses=ERROR_RESPONSES)
