"""`rerate stale list|recalc`: the same stale periods as the API, as a user."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import Job
from tests.billing.fixtures import build_billing
from tests.billing.test_billing_utilities import drain
from tests.billing.test_stale import add_version, bill_both
from tests.cli.test_cli_audit import _run
from tests.world import World


def test_stale_list_and_recalc_from_the_command_line(
    client: TestClient, database: Database, data_dir: Path, world: World, tmp_path: Path
):
    billing = build_billing(database, data_dir, world)
    bill_both(client, database, data_dir, world)
    admin = world.users["partner_admin"].email
    empty = _run(database, tmp_path, "stale", "list", "--as", admin)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.startswith("0 periods out of date")

    add_version(database, billing.price_book_id, datetime(2026, 9, 15, tzinfo=UTC), "0.06")
    listed = _run(database, tmp_path, "stale", "list", "--as", admin)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[:3] == [
        "2 periods out of date",
        f"Cust A1x (#{world.nodes['cust_a1x'].id}) 2026-09:",
        "  - [price_book_update] price book 'Cloud EUR' version 2 effective 2026-09-15 "
        "00:00 UTC was published after this period was billed",
    ]
    one = _run(
        database,
        tmp_path,
        *("stale", "list", "--json", "--as", admin),
        *("--customer", str(world.nodes["cust_a1y"].id)),
    )
    assert [i["period"] for i in json.loads(one.stdout)["items"]] == ["2026-09"]

    dry = _run(database, tmp_path, "stale", "recalc", "--dry-run", "--as", admin)
    assert dry.returncode == 0, dry.stderr
    assert "2 period(s) out of date: queued dry runs" in dry.stdout
    with database.session() as s:
        jobs = list(s.scalars(select(Job).where(Job.dry_run.is_(True))))
        assert sorted((j.customer_id, j.period, j.reason) for j in jobs) == [
            (world.nodes["cust_a1x"].id, "2026-09", "price_book_update"),
            (world.nodes["cust_a1y"].id, "2026-09", "price_book_update"),
        ]
    drain(database, data_dir)
    assert _run(database, tmp_path, "stale", "list", "--as", admin).stdout.startswith(
        "2 periods out of date"
    )

    done = _run(
        database,
        tmp_path,
        *("stale", "recalc", "--as", admin),
        *("--customer", str(world.nodes["cust_a1x"].id)),
    )
    assert done.returncode == 0, done.stderr
    assert "1 period(s) out of date: queued recalculations" in done.stdout
    drain(database, data_dir)
    left = _run(database, tmp_path, "stale", "list", "--as", admin)
    assert left.stdout.startswith("1 period out of date")
    assert "Cust A1y" in left.stdout


def test_stale_refusals_are_one_line_with_exit_code_2(
    database: Database, data_dir: Path, world: World, tmp_path: Path
):
    build_billing(database, data_dir, world)
    admin = world.users["partner_admin"].email
    outside = str(world.nodes["cust_b1x"].id)
    for command in ("list", "recalc"):
        done = _run(database, tmp_path, "stale", command, "--customer", outside, "--as", admin)
        assert done.returncode == 2
        assert done.stderr.strip() == "error: not found"
        assert "Traceback" not in done.stderr
