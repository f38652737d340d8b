"""Who sees invoices: the one rule behind the API, the console and the CLI.

The settings `InvoicesVisibleToTenants`, `InvoicesVisibleToPartners` and
`InvoicesVisibleToDistributors` (platform policies, settings/rules.py) decide
whether a customer's invoices (and everything derived from them: PDF, CSV,
e-invoice, payments, credit notes, balances, billing status) are shown to its
own users, to its partner's staff and to its distributor. Platform roles
always see invoices.

A caller sees a customer's invoices when one of its grants covers the
customer (the grant's node is on the customer's path), that grant's role has
a visibility setting, and the setting in force on the customer is true.

A hidden customer answers 403 `InvoicesHidden`: the caller may see the
customer (it is in its subtree), so 404 would be a lie, and the refusal is a
policy like a missing permission (docs/billing.md, "Settings and policies").
Outside the caller's subtree the answer stays 404, decided before this rule.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from rerate.auth.permissions import Principal
from rerate.kit.errors import Forbidden
from rerate.models import Node
from rerate.models.enums import Role, SettingKey
from rerate.settings.service import get_setting, setting_values

# The setting that decides, for each non-platform role that reads invoices.
VISIBILITY_SETTING: dict[Role, SettingKey] = {
    Role.CUSTOMER_USER: SettingKey.INVOICES_VISIBLE_TO_TENANTS,
    Role.PARTNER_ADMIN: SettingKey.INVOICES_VISIBLE_TO_PARTNERS,
    Role.PARTNER_USER: SettingKey.INVOICES_VISIBLE_TO_PARTNERS,
    Role.DISTRIBUTOR: SettingKey.INVOICES_VISIBLE_TO_DISTRIBUTORS,
}

HIDDEN_DETAIL = "invoices are not visible to your role (invoice visibility settings)"


class InvoicesHidden(Forbidden):
    """403: the invoice visibility settings hide these invoices from the caller."""

    def __init__(self, detail: str = HIDDEN_DETAIL) -> None:
        super().__init__(detail)


def visibility(session: Session, principal: Principal) -> Callable[[Node], bool]:
    """Whether the caller sees a customer's invoices, for many customers: each
    setting is resolved once per customer, not once per invoice."""
    if principal.is_platform():
        return lambda _customer: True
    checks = [
        (grant.node_path, setting_values(session, key))
        for grant in principal.grants
        if (key := VISIBILITY_SETTING.get(grant.role)) is not None
    ]

    def visible(customer: Node) -> bool:
        return any(
            customer.path.startswith(path) and value(customer) == "true" for path, value in checks
        )

    return visible


def is_visible(session: Session, principal: Principal, customer: Node) -> bool:
    return visibility(session, principal)(customer)


def require_visible(session: Session, principal: Principal, customer: Node) -> None:
    """Raise `InvoicesHidden` (403) unless the caller sees this customer's invoices."""
    if not is_visible(session, principal, customer):
        raise InvoicesHidden()


def sees_any(session: Session, principal: Principal) -> bool:
    """Does the caller see invoices anywhere (menus, dashboards, the billing
    status page)? Read on each grant's own node: the settings are platform
    policies, so every customer below a grant has the value its node has (an
    override can only sit on the platform node or be global)."""
    if principal.is_platform():
        return True
    for grant in principal.grants:
        key = VISIBILITY_SETTING.get(grant.role)
        if key is None:
            continue
        node = session.get(Node, grant.node_id)
        if node is not None and get_setting(session, key, node) == "true":
            return True
    return False
