"""Every console page router, in one list: app.py includes them all.

Pages live next to their domain (`<domain>/pages.py`); a new domain adds its
router here.
"""

from __future__ import annotations

from fastapi import APIRouter

from rerate.accounts.pages import router as accounts_pages
from rerate.audit.pages import router as audit_pages
from rerate.billing.backfill_pages import router as backfill_pages
from rerate.billing.bulk_pages import router as bulk_pages
from rerate.billing.grid_pages import router as billing_grid_pages
from rerate.billing.pages import router as billing_pages
from rerate.billing.stale_pages import router as stale_pages
from rerate.billing_status.pages import router as billing_status_pages
from rerate.collection.pages import router as collection_pages
from rerate.commissions.pages import router as commissions_pages
from rerate.contracts.pages import router as contracts_pages
from rerate.invoicing.pages import router as invoicing_pages
from rerate.jobs.pages import router as jobs_pages
from rerate.pricebooks.pages import router as pricebooks_pages
from rerate.profiles.pages import router as profiles_pages
from rerate.settings.pages import router as settings_pages
from rerate.tenancy.pages import router as tenancy_pages
from rerate.timetables.pages import router as timetables_pages
from rerate.usage.pages import router as usage_pages
from rerate.web.login import router as login_pages

PAGE_ROUTERS: list[APIRouter] = [
    login_pages,
    billing_pages,
    bulk_pages,
    backfill_pages,
    billing_grid_pages,
    stale_pages,
    billing_status_pages,
    jobs_pages,
    invoicing_pages,
    settings_pages,
    contracts_pages,
    usage_pages,
    tenancy_pages,
    accounts_pages,
    pricebooks_pages,
    audit_pages,
    timetables_pages,
    profiles_pages,
    commissions_pages,
    collection_pages,
]
