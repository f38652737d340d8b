"""`rerate accounts`, `rerate settings`, `rerate audit` and the import's
owner rule, walked as a user types them; mistakes are one line, exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rerate.cli import context
from rerate.cli.main import app
from rerate.kit.db import Database
from rerate.kit.settings import get_settings
from tests.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PARTNER = "partner_admin@test.example"


@pytest.fixture
def rerate(
    database: Database, data_dir: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> Iterator:
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


def test_accounts_journey(rerate, world: World):
    a1x, a1y = str(world.nodes["cust_a1x"].id), str(world.nodes["cust_a1y"].id)
    made = rerate("accounts", "create", "--kind", "voip_peer", "--ref", "trunk-7", "--as", PARTNER)
    assert made.exit_code == 0, made.output
    account = made.output.split()[2]
    assert "created account" in made.output
    linked = rerate(
        "accounts",
        "link",
        account,
        "--customer",
        a1x,
        "--from",
        "2026-01-01T00:00:00Z",
        "--reason",
        "new peer",
        "--as",
        PARTNER,
    )
    assert linked.exit_code == 0, linked.output
    assert "no billed period is affected" in linked.output
    clash = rerate(
        "accounts",
        "link",
        account,
        "--customer",
        a1y,
        "--from",
        "2026-02-01T00:00:00Z",
        "--reason",
        "again",
        "--as",
        PARTNER,
    )
    assert clash.exit_code == 2
    assert clash.output.startswith("error: account trunk-7 already has an owner (Cust A1x)")
    assert "Traceback" not in clash.output
    moved = rerate(
        "accounts",
        "move",
        account,
        "--customer",
        a1y,
        "--from",
        "2026-03-01T00:00:00+01:00",
        "--reason",
        "peer sold",
        "--as",
        PARTNER,
    )
    assert moved.exit_code == 0, moved.output
    history = rerate("accounts", "history", account, "--as", PARTNER)
    assert history.exit_code == 0, history.output
    assert "2026-01-01T00:00:00+00:00 .. 2026-02-28T23:00:00+00:00  Cust A1x" in history.output
    assert "2026-02-28T23:00:00+00:00 .. (open)  Cust A1y" in history.output
    listed = rerate("accounts", "list", "--q", "trunk", "--as", PARTNER)
    assert "trunk-7" in listed.output
    assert "1 of 1" in listed.output
    naive = rerate(
        "accounts",
        "move",
        account,
        "--customer",
        a1x,
        "--from",
        "2026-04-01T00:00:00",
        "--reason",
        "x",
        "--as",
        PARTNER,
    )
    assert naive.exit_code == 2
    assert "offset" in naive.output
    trail = rerate("audit", "list", "--object-type", "account_ownerships", "--as", PARTNER)
    assert trail.exit_code == 0, trail.output
    assert "peer sold" in trail.output
    hidden = rerate("accounts", "show", account, "--as", "customer_user@test.example")
    assert hidden.exit_code == 0  # its customer owned it: the history is readable


def test_settings_show_set_unset(rerate, world: World):
    node = str(world.nodes["cust_a1x"].id)
    shown = rerate("settings", "show", "--node", node, "--as", PARTNER)
    assert shown.exit_code == 0, shown.output
    assert "UseOverlapUsageSelection" in shown.output
    assert "inherited" in shown.output
    done = rerate(
        "settings",
        "set",
        "UseOverlapUsageSelection",
        "true",
        "--node",
        node,
        "--reason",
        "overlapping usage",
        "--as",
        PARTNER,
    )
    assert done.exit_code == 0, done.output
    assert "= true on Cust A1x (from Cust A1x (customer))" in done.output
    cleared = rerate(
        "settings",
        "unset",
        "UseOverlapUsageSelection",
        "--node",
        node,
        "--reason",
        "undo",
        "--as",
        PARTNER,
    )
    assert cleared.exit_code == 0, cleared.output
    assert "now false (from Default)" in cleared.output
    policy = rerate(
        "settings",
        "set",
        "InvoicesVisibleToPartners",
        "false",
        "--node",
        node,
        "--reason",
        "x",
        "--as",
        PARTNER,
    )
    assert policy.exit_code == 2
    assert policy.output.startswith("error: InvoicesVisibleToPartners is a platform policy")
    unknown = rerate(
        "settings", "set", "Nope", "true", "--node", node, "--reason", "x", "--as", PARTNER
    )
    assert unknown.exit_code == 2


def test_import_creating_accounts_needs_an_owner(rerate, world: World):
    sample = str(EXAMPLES / "focus" / "sample.csv")
    refused = rerate("import", "focus", sample, "--as", PARTNER, "--create-accounts")
    assert refused.exit_code == 2
    assert "--owner CUSTOMER_ID" in refused.output
    owner = str(world.nodes["cust_a1x"].id)
    ok = rerate("import", "focus", sample, "--as", PARTNER, "--create-accounts", "--owner", owner)
    assert ok.exit_code == 0, ok.output
    assert "will not be billed" not in ok.output
