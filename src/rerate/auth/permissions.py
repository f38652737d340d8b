"""Roles, permissions and the rule that a role covers its node's subtree.

Deny by default: a permission is granted only by a role that lists it, on a
node whose subtree contains the object. Objects outside every subtree the
caller holds a role on answer 404 (their existence is not disclosed); inside
a visible subtree, a missing permission answers 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rerate.kit.errors import Forbidden, NotFound
from rerate.models.enums import JobType, Role


class Permission(StrEnum):
    VIEW = "view"  # read tenancy, accounts, usage reports, jobs, billing runs
    VIEW_INVOICES = "view_invoices"  # subject to the invoice visibility settings
    IMPORT_USAGE = "import_usage"
    MANAGE_CATALOG = "manage_catalog"  # price books, contracts, custom line items
    # Billing utilities: the page, the run queue & log; each operation is its own permission.
    BILLING_UTILITIES = "billing_utilities"
    RECALCULATE = "recalculate"
    REFRESH_INVOICES = "refresh_invoices"
    SYNC_CACHE = "sync_cache"
    MANAGE_TENANCY = "manage_tenancy"  # distributors, resellers, customers, accounts
    GENERATE_INVOICES = "generate_invoices"  # generate and issue invoices
    RECORD_PAYMENTS = "record_payments"  # record and reverse payments on issued invoices
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_USERS = "manage_users"  # users, role assignments, API keys
    OPERATIONS = "operations"  # platform only: `rerate check` over the API
    # Platform only: billing generation over any date range, for every customer
    # (POST /billing/generate/range); a month for one's own customers is RECALCULATE.
    GENERATE_BILLING = "generate_billing"
    # Commissions (docs/commissions.md): a partner reads its own, a distributor
    # its own and its partners'; only platform roles set the rules.
    VIEW_COMMISSIONS = "view_commissions"
    MANAGE_COMMISSIONS = "manage_commissions"
    MANAGE_REGIONS = "manage_regions"  # platform only: regions, their sources, collection


_ALL = frozenset(Permission)

# What the seeds' "Billing Utilities Admin" can do; the role of that name bundles it.
BILLING_UTILITIES_ADMIN = frozenset(
    {
        Permission.BILLING_UTILITIES,
        Permission.RECALCULATE,
        Permission.REFRESH_INVOICES,
        Permission.SYNC_CACHE,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM_ADMIN: _ALL,
    Role.PLATFORM_SERVICE: _ALL - {Permission.MANAGE_USERS},
    # A distributor creates and staffs its resellers (docs/administration/tenancy.md).
    Role.DISTRIBUTOR: frozenset(
        {
            Permission.VIEW,
            Permission.VIEW_INVOICES,
            Permission.MANAGE_TENANCY,
            Permission.MANAGE_USERS,
            Permission.RECORD_PAYMENTS,
            Permission.VIEW_COMMISSIONS,
        }
    ),
    Role.PARTNER_ADMIN: frozenset(
        {
            Permission.VIEW,
            Permission.VIEW_INVOICES,
            Permission.IMPORT_USAGE,
            Permission.MANAGE_CATALOG,
            Permission.MANAGE_SETTINGS,
            Permission.MANAGE_TENANCY,
            Permission.MANAGE_USERS,  # invites its own staff and its customers' users
            Permission.RECORD_PAYMENTS,  # the reseller collects from its customers
            Permission.VIEW_COMMISSIONS,
        }
    )
    | BILLING_UTILITIES_ADMIN,
    Role.BILLING_UTILITIES_ADMIN: frozenset({Permission.VIEW}) | BILLING_UTILITIES_ADMIN,
    Role.PARTNER_USER: frozenset({Permission.VIEW, Permission.VIEW_INVOICES}),
    Role.CUSTOMER_USER: frozenset({Permission.VIEW, Permission.VIEW_INVOICES}),
}

# The permission each billing-utilities operation needs on the customer.
OPERATION_PERMISSIONS: dict[JobType, Permission] = {
    JobType.RECALCULATION: Permission.RECALCULATE,
    JobType.INVOICE_REFRESH: Permission.REFRESH_INVOICES,
    JobType.CACHE_SYNC: Permission.SYNC_CACHE,
}

PLATFORM_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.PLATFORM_SERVICE})


@dataclass(frozen=True, slots=True)
class Grant:
    node_id: int
    node_path: str  # materialised path of the node the role is held on
    role: Role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, through a session or an API key."""

    user_id: int
    email: str
    grants: tuple[Grant, ...] = field(default=())
    via: str = "session"  # or "api_key"

    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def is_platform(self) -> bool:
        return bool(self.roles() & PLATFORM_ROLES)

    def can_see(self, node_path: str) -> bool:
        return any(node_path.startswith(g.node_path) for g in self.grants)

    def has(self, permission: Permission, node_path: str | None = None) -> bool:
        """Granted on `node_path` (or anywhere, when None)."""
        return any(
            permission in ROLE_PERMISSIONS[g.role]
            and (node_path is None or node_path.startswith(g.node_path))
            for g in self.grants
        )

    def require(self, permission: Permission, node_path: str | None = None) -> None:
        """Raise 404 for objects outside the caller's subtrees, 403 for a missing permission."""
        if node_path is not None and not self.can_see(node_path):
            raise NotFound("not found")
        if not self.has(permission, node_path):
            raise Forbidden(f"your role does not grant {permission.value}")

    def scope_paths(self, permission: Permission) -> list[str]:
        """The subtree roots on which `permission` is granted (for list queries)."""
        return sorted({g.node_path for g in self.grants if permission in ROLE_PERMISSIONS[g.role]})
