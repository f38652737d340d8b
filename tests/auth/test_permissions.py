"""The billing-utilities permissions: one per operation, bundled by the seeds' role."""

from __future__ import annotations

import pytest

from rerate.auth.permissions import (
    BILLING_UTILITIES_ADMIN,
    OPERATION_PERMISSIONS,
    ROLE_PERMISSIONS,
    Grant,
    Permission,
    Principal,
)
from rerate.kit.errors import Forbidden, NotFound
from rerate.models.enums import JobType, Role


def test_billing_utilities_admin_role_bundles_the_three_operations():
    assert ROLE_PERMISSIONS[Role.BILLING_UTILITIES_ADMIN] >= BILLING_UTILITIES_ADMIN
    assert set(OPERATION_PERMISSIONS.values()) == {
        Permission.RECALCULATE,
        Permission.REFRESH_INVOICES,
        Permission.SYNC_CACHE,
    }
    # Neither a backfill (a platform operation under generate_billing) nor a usage
    # collection (per region, under manage_regions) is a billing-utilities operation.
    assert set(OPERATION_PERMISSIONS) == set(JobType) - {JobType.BACKFILL, JobType.COLLECT_USAGE}
    holders = {r for r, perms in ROLE_PERMISSIONS.items() if Permission.MANAGE_REGIONS in perms}
    assert holders == {Role.PLATFORM_ADMIN, Role.PLATFORM_SERVICE}
    # The bundle holds no catalog, tenancy or user management.
    assert Permission.MANAGE_CATALOG not in ROLE_PERMISSIONS[Role.BILLING_UTILITIES_ADMIN]
    assert Permission.MANAGE_TENANCY not in ROLE_PERMISSIONS[Role.BILLING_UTILITIES_ADMIN]


@pytest.mark.parametrize("role", [Role.PARTNER_USER, Role.CUSTOMER_USER, Role.DISTRIBUTOR])
def test_read_only_roles_run_no_operation(role):
    principal = Principal(1, "x@example.test", (Grant(4, "/1/4/", role),))
    for permission in OPERATION_PERMISSIONS.values():
        with pytest.raises(Forbidden):
            principal.require(permission, "/1/4/9/")


def test_an_operation_outside_the_subtree_is_not_found():
    principal = Principal(1, "x@example.test", (Grant(4, "/1/4/", Role.BILLING_UTILITIES_ADMIN),))
    principal.require(Permission.RECALCULATE, "/1/4/9/")
    with pytest.raises(NotFound):
        principal.require(Permission.RECALCULATE, "/1/5/9/")
