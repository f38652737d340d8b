"""All API routers under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from rerate.accounts.endpoints import router as accounts
from rerate.api.errors import ERROR_RESPONSES
from rerate.api.idempotency import idempotency
from rerate.audit.endpoints import router as audit
from rerate.auth.endpoints import router as auth
from rerate.billing.backfill_endpoints import router as backfill
from rerate.billing.bulk_endpoints import router as bulk_recalculations
from rerate.billing.daily_endpoints import router as billing_rows
from rerate.billing.endpoints import router as billing
from rerate.billing.grid_endpoints import router as billing_grid
from rerate.billing.stale_endpoints import router as stale
from rerate.billing_status.endpoints import router as billing_status
from rerate.catalog.endpoints import router as catalog
from rerate.collection.endpoints import router as regions
from rerate.commissions.endpoints import router as commissions
from rerate.contracts.endpoints import router as contracts
from rerate.invoicing.endpoints import router as invoices
from rerate.invoicing.payment_endpoints import router as payments
from rerate.operations.endpoints import router as operations
from rerate.pricebooks.endpoints import router as pricebooks
from rerate.profiles.endpoints import router as profiles
from rerate.settings.endpoints import router as settings
from rerate.tenancy.endpoints import router as tenancy
from rerate.tenancy.people_endpoints import router as people
from rerate.timetables.endpoints import router as timetables
from rerate.usage.endpoints import router as usage

# Every POST accepts an Idempotency-Key (api/idempotency.py).
api_router = APIRouter(dependencies=[Depends(idempotency)])
for router in (
    auth,
    tenancy,
    people,
    accounts,
    settings,
    usage,
    billing,
    bulk_recalculations,
    backfill,
    billing_rows,
    billing_grid,
    catalog,
    invoices,
    payments,
    operations,
    audit,
    pricebooks,
    stale,
    contracts,
    timetables,
    profiles,
    commissions,
    regions,
    billing_status,
):
    # Every API route declares the error envelope (and FastAPI then documents
    # our 422 instead of its own validation-error shape).
    api_router.include_router(router, responses=ERROR_RESPONSES)
