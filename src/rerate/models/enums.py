"""The vocabulary, as StrEnums whose values are the stable API strings."""

from __future__ import annotations

from enum import StrEnum


class NodeKind(StrEnum):
    PLATFORM = "platform"
    DISTRIBUTOR = "distributor"
    PARTNER = "partner"  # a reseller
    CUSTOMER = "customer"  # an end customer / tenant / VoIP company


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    PLATFORM_SERVICE = "platform_service"
    DISTRIBUTOR = "distributor"
    PARTNER_ADMIN = "partner_admin"
    PARTNER_USER = "partner_user"
    # The seeds' "Billing Utilities Admin": recalculation, invoice refresh, cache sync.
    BILLING_UTILITIES_ADMIN = "billing_utilities_admin"
    CUSTOMER_USER = "customer_user"


class AccountKind(StrEnum):
    MANAGEMENT_ACCOUNT = "management_account"
    SUBSCRIPTION = "subscription"
    VOIP_PEER = "voip_peer"


class PriceBookKind(StrEnum):
    CLOUD = "cloud"
    VOIP = "voip"


class VersionStatus(StrEnum):
    """A price-book version: a draft is edited and prices nothing; a published
    version prices usage from its effective instant and never changes."""

    DRAFT = "draft"
    PUBLISHED = "published"


class TierMode(StrEnum):
    NONE = "none"
    GRADUATED = "graduated"  # each slice at its tier's price
    VOLUME = "volume"  # the whole quantity at the price of the tier it reaches


class RuleKind(StrEnum):
    UNIT_PRICE_OVERRIDE = "unit_price_override"
    DISCOUNT = "discount"
    MARKUP = "markup"
    SUPPORT_FEE = "support_fee"
    MINIMUM_COMMITMENT = "minimum_commitment"
    CREDIT = "credit"


class JobType(StrEnum):
    RECALCULATION = "recalculation"
    INVOICE_REFRESH = "invoice_refresh"
    CACHE_SYNC = "cache_sync"
    # Billing recomputed over a date range for many customers, reconciled
    # against what was published (billing/backfill.py); one job, many periods.
    BACKFILL = "backfill"
    COLLECT_USAGE = "collect_usage"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class ReasonCode(StrEnum):
    CREDIT_ADJUSTMENT = "credit_adjustment"
    INCORRECT_CHARGES = "incorrect_charges"
    OTHER = "other"
    PRICE_BOOK_UPDATE = "price_book_update"
    CONTRACT_RULE_UPDATE = "contract_rule_update"
    CUSTOM_LINE_ITEM = "custom_line_item"
    DATA_CORRECTION = "data_correction"


REASON_LABELS: dict[ReasonCode, str] = {
    ReasonCode.CREDIT_ADJUSTMENT: "Credit and adjustment issues",
    ReasonCode.INCORRECT_CHARGES: "Incorrect charges",
    ReasonCode.OTHER: "Other",
    ReasonCode.PRICE_BOOK_UPDATE: "Price book update",
    ReasonCode.CONTRACT_RULE_UPDATE: "Contract rule update",
    ReasonCode.CUSTOM_LINE_ITEM: "Custom line item change",
    ReasonCode.DATA_CORRECTION: "Data correction",
}


class RunStatus(StrEnum):
    COMPUTED = "computed"  # written, not (yet) published; dry runs stay here
    PUBLISHED = "published"  # the current run of its (customer, period)
    SUPERSEDED = "superseded"  # was current, replaced by a newer run; kept for audit


class InvoiceType(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    CREDIT_NOTE = "credit_note"
    # The difference between a quarterly invoice's projection and the
    # quarter's actual charges, when it is owed (a credit note otherwise).
    TRUE_UP = "true_up"


class InvoiceCadence(StrEnum):
    """A contract's invoice type: which invoices its customer receives."""

    MONTHLY = "monthly"  # MonthlyInvoice: each closed month's actual charges
    QUARTERLY = "quarterly"  # QuarterlyInvoice: a quarter in advance, then a true-up


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    READY = "ready"
    ISSUED = "issued"
    PAID = "paid"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"  # a Ready invoice replaced by a refresh before issue
    CREDITED = "credited"  # an issued invoice reversed in full by a credit note


class CorrectionPolicy(StrEnum):
    """How a contract corrects an invoice that was issued (docs/invoicing.md)."""

    REPLACE = "replace"  # the Issued invoice is Cancelled, the new version Ready
    CREDIT_NOTE = "credit_note"  # a credit note reverses it; a new invoice follows


LIVE_INVOICE_STATUSES = (
    InvoiceStatus.DRAFT,
    InvoiceStatus.READY,
    InvoiceStatus.ISSUED,
    InvoiceStatus.PAID,
)


class SettingKey(StrEnum):
    DEFAULT_BILLING_AGGREGATION_MONTHLY = "DefaultBillingAggregationMonthly"
    USE_OVERLAP_USAGE_SELECTION = "UseOverlapUsageSelection"
    INVOICES_VISIBLE_TO_TENANTS = "InvoicesVisibleToTenants"
    INVOICES_VISIBLE_TO_PARTNERS = "InvoicesVisibleToPartners"
    INVOICES_VISIBLE_TO_DISTRIBUTORS = "InvoicesVisibleToDistributors"


SETTING_DEFAULTS: dict[SettingKey, str] = {
    SettingKey.DEFAULT_BILLING_AGGREGATION_MONTHLY: "false",
    SettingKey.USE_OVERLAP_USAGE_SELECTION: "false",
    SettingKey.INVOICES_VISIBLE_TO_TENANTS: "true",
    SettingKey.INVOICES_VISIBLE_TO_PARTNERS: "true",
    SettingKey.INVOICES_VISIBLE_TO_DISTRIBUTORS: "true",
}
