"""`rerate recalc|refresh|cache-sync` obey the same eligibility rules as the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from rerate.kit.db import Database
from rerate.models import Job
from tests.billing.fixtures import build_billing
from tests.billing.test_eligibility_everywhere import REFUSED
from tests.cli.test_cli_audit import _run
from tests.world import World


@pytest.mark.parametrize("case", list(REFUSED))
def test_cli_submissions_refuse_the_period(
    database: Database, world: World, data_dir: Path, tmp_path: Path, case: str
):
    build_billing(database, data_dir, world)
    period, message = REFUSED[case]
    done = _run(
        database,
        tmp_path,
        *("recalc", "--customer", str(world.nodes["cust_a1x"].id), "--period", period),
        *("--reason", "incorrect_charges", "--as", world.users["partner_admin"].email),
        "--no-follow",
    )
    assert done.returncode != 0
    assert message in done.stderr
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0
