from __future__ import annotations

import pytest

from rerate.kit.db import Database
from rerate.models.enums import NodeKind
from rerate.tenancy.service import create_node


@pytest.fixture
def customers(database: Database) -> list[int]:
    """Three customer nodes (jobs need a real customer: `jobs.customer_id` is a foreign key)."""
    with database.session() as s:
        platform = create_node(s, NodeKind.PLATFORM, name="Platform", parent=None)
        dist = create_node(s, NodeKind.DISTRIBUTOR, name="Dist", parent=platform)
        return [
            create_node(s, NodeKind.CUSTOMER, name=f"Cust {i}", parent=dist).id for i in range(3)
        ]


@pytest.fixture
def customer_id(customers: list[int]) -> int:
    return customers[0]
