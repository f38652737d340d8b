"""`rerate billing-status`: the same numbers as the API, as the user given by
`--as`, with scope and visibility; mistakes are one line, exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rerate.cli import context
from rerate.cli.main import app
from rerate.kit.db import Database
from rerate.kit.settings import get_settings
from rerate.models import Setting
from tests.billing_status.status_world import MONTH, build_status_world
from tests.world import World

PARTNER = "partner_admin@test.example"


@pytest.fixture
def rerate(
    database: Database, data_dir: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> Iterator:
    with database.session() as session:
        build_status_world(session, world)
    monkeypatch.setenv("RERATE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RERATE_DATABASE_URL", database.url)
    context.database.cache_clear()
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    try:
        yield run
    finally:
        context.database().dispose()
        context.database.cache_clear()
        get_settings.cache_clear()


def test_status_as_a_partner(rerate, world: World):
    out = rerate("billing", "status", "--month", MONTH, "--as", PARTNER)
    assert out.exit_code == 0, out.output
    lines = [line.split("\t") for line in out.output.splitlines()]
    by = {(r[0], r[2], r[3], r[4], r[5]): r[8:] for r in lines}
    a1x = str(world.nodes["cust_a1x"].id)
    assert all(r[1] in (a1x, str(world.nodes["cust_a1y"].id), "-") for r in lines)
    #                                                   overdue issued uninvoiced paid
    assert by[("tenant", "Cust A1x", "-", "EUR", "last_quarter")] == [
        "200.00",
        "0.00",
        "50.00",
        "163.00",
    ]
    assert by[("subscription", "Cust A1x", "sub-1", "EUR", "month")] == [
        "0.00",
        "0.00",
        "30.00",
        "0.00",
    ]
    assert by[("tenant", "Cust A1y", "-", "USD", "quarter_to_date")][2] == "15.00"
    assert by[("total", "-", "-", "USD", "month")][2] == "5.00"
    assert ("tenant", "Cust A2x", "-", "EUR", "month") not in by  # another partner's


def test_one_customer_and_mistakes(rerate, world: World, database: Database):
    a2x = str(world.nodes["cust_a2x"].id)
    out = rerate(
        "billing", "status", "--month", MONTH, "--customer", a2x, "--as", "distributor@test.example"
    )
    assert out.exit_code == 0, out.output
    assert {line.split("\t")[2] for line in out.output.splitlines()} == {"Cust A2x", "-"}
    outside = rerate("billing", "status", "--customer", a2x, "--as", PARTNER)
    assert outside.exit_code == 2
    assert outside.output.strip() == "error: not found"
    bad = rerate("billing", "status", "--month", "2026-5", "--as", PARTNER)
    assert bad.exit_code == 2
    assert "--month" in bad.output
    with database.session() as session:
        session.add(Setting(node_id=None, key="InvoicesVisibleToPartners", value="false"))
    hidden = rerate("billing", "status", "--as", PARTNER)
    assert hidden.exit_code == 2
    assert "not visible to your role" in hidden.output
