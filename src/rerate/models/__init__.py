"""All ORM models, importable from one place (no import cycles)."""

from rerate.models.accounts import Account, AccountOwnership, Region
from rerate.models.audit import AuditEntry
from rerate.models.backfill import Backfill, BackfillItem
from rerate.models.base import Base
from rerate.models.billing import BillingCacheRow, BillingRun, CurrentRun
from rerate.models.collection import CollectedFile, CollectionRun, CollectionSource
from rerate.models.commissions import CommissionRule
from rerate.models.contracts import (
    Contract,
    ContractRule,
    ContractRuleSet,
    CustomLineItem,
    Setting,
)
from rerate.models.invoicing import (
    CreditBalanceEntry,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    Payment,
)
from rerate.models.jobs import Job, JobSchedule, ScheduleOccurrence
from rerate.models.login import LoginThrottle
from rerate.models.pricing import (
    AccountProfile,
    ConsumptionProfile,
    Holiday,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
    PriceTier,
    ProfileTier,
    ProfileVersion,
    TariffEntry,
    Timetable,
    TimetableRule,
    TimetableVersion,
)
from rerate.models.requests import IdempotencyKey
from rerate.models.tenancy import ApiKey, Invitation, Node, RoleAssignment, User, WebSession
from rerate.models.usage import UsageImport

__all__ = [
    "Account",
    "AccountOwnership",
    "AccountProfile",
    "ApiKey",
    "AuditEntry",
    "Backfill",
    "BackfillItem",
    "Base",
    "BillingCacheRow",
    "BillingRun",
    "CollectedFile",
    "CollectionRun",
    "CollectionSource",
    "CommissionRule",
    "ConsumptionProfile",
    "Contract",
    "ContractRule",
    "ContractRuleSet",
    "CreditBalanceEntry",
    "CurrentRun",
    "CustomLineItem",
    "Holiday",
    "IdempotencyKey",
    "Invitation",
    "Invoice",
    "InvoiceLine",
    "InvoiceSeries",
    "Job",
    "JobSchedule",
    "LoginThrottle",
    "Node",
    "Payment",
    "PriceBook",
    "PriceBookVersion",
    "PriceEntry",
    "PriceTier",
    "ProfileTier",
    "ProfileVersion",
    "Region",
    "RoleAssignment",
    "ScheduleOccurrence",
    "Setting",
    "TariffEntry",
    "Timetable",
    "TimetableRule",
    "TimetableVersion",
    "UsageImport",
    "User",
    "WebSession",
]
