"""Which level of the tenancy tree owns each setting, and which settings are policies.

An ordinary setting has a global value that any node may override for its
subtree (the nearest override wins), by whoever manages settings there. A
*policy* is decided by its owning level alone: only a principal holding
`manage_settings` at that level (or above) sets it, only globally or on nodes
at that level or above, and an override stored on a lower node is ignored when
the value is read. Invoice visibility is a platform policy: a partner must not
be able to show itself invoices the platform hides, nor hide its customers'
invoices from its distributor.
"""

from __future__ import annotations

from dataclasses import dataclass

from rerate.models.enums import NodeKind, SettingKey

# Top to bottom: a smaller number is a higher level.
LEVELS: dict[NodeKind, int] = {
    NodeKind.PLATFORM: 0,
    NodeKind.DISTRIBUTOR: 1,
    NodeKind.PARTNER: 2,
    NodeKind.CUSTOMER: 3,
}


@dataclass(frozen=True, slots=True)
class SettingRule:
    owner: NodeKind  # the level whose administrators decide the setting
    policy: bool  # True: nodes below `owner` cannot override it

    def allows_override_on(self, kind: NodeKind) -> bool:
        """May a value for this setting be stored on (and read from) a node of `kind`?"""
        return not self.policy or LEVELS[kind] <= LEVELS[self.owner]


RULES: dict[SettingKey, SettingRule] = {
    # How a partner bills its customers: partners decide, customers may differ.
    SettingKey.DEFAULT_BILLING_AGGREGATION_MONTHLY: SettingRule(NodeKind.PARTNER, policy=False),
    SettingKey.USE_OVERLAP_USAGE_SELECTION: SettingRule(NodeKind.PARTNER, policy=False),
    # Who may read invoices is the platform's decision, for every node below it.
    SettingKey.INVOICES_VISIBLE_TO_TENANTS: SettingRule(NodeKind.PLATFORM, policy=True),
    SettingKey.INVOICES_VISIBLE_TO_PARTNERS: SettingRule(NodeKind.PLATFORM, policy=True),
    SettingKey.INVOICES_VISIBLE_TO_DISTRIBUTORS: SettingRule(NodeKind.PLATFORM, policy=True),
}
