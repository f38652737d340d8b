"""Fixtures for the web console's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rerate.kit.db import Database
from tests.billing.fixtures import Billing, build_billing
from tests.world import World

PASSWORD = "correct-horse"


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)
