"""`rerate billing generate|rows`: generation and the daily rows, as a user."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing.fixtures import build_billing
from tests.billing.test_billing_utilities import drain
from tests.cli.test_cli_audit import _run
from tests.world import World


def test_generate_a_month_then_read_its_rows(
    client: TestClient, database: Database, world: World, tmp_path: Path
):
    data_dir = tmp_path / "data"  # the CLI's data directory (_run)
    build_billing(database, data_dir, world)
    admin = world.users["partner_admin"].email
    done = _run(database, tmp_path, "billing", "generate", "--month", "2026-08", "--as", admin)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "2026-08: 2 job(s) (2 queued, 0 already active)"
    assert all(line.startswith("job ") and line.endswith("queued") for line in lines[1:])
    again = _run(database, tmp_path, "billing", "generate", "--month", "2026-08", "--as", admin)
    assert again.stdout.splitlines()[0] == "2026-08: 2 job(s) (0 queued, 2 already active)"
    assert drain(database, data_dir) == 2

    tsv = _run(
        database,
        tmp_path,
        *("billing", "rows", "--start", "2026-08-14", "--end", "2026-08-16", "--as", admin),
    )
    assert tsv.returncode == 0, tsv.stderr
    rows = [line.split("\t") for line in tsv.stdout.splitlines()]
    header, body = rows[0], rows[1:]
    assert header[:3] == ["day", "customer_id", "customer"]
    assert {r[0] for r in body} == {"2026-08-14", "2026-08-15"}  # the end day is excluded
    assert len(body) == 8

    a1x = str(world.nodes["cust_a1x"].id)
    out = _run(
        database,
        tmp_path,
        *("billing", "rows", "--start", "2026-08-01", "--end", "2026-09-01"),
        *("--customer", a1x, "--service", "Compute", "--monthly", "--format", "csv"),
        *("--as", world.users["customer_user"].email),
    )
    assert out.returncode == 0, out.stderr
    got = list(csv.DictReader(io.StringIO(out.stdout)))
    # Default order: period, customer, then account id (acc-x was created first).
    assert [(r["period"], r["account_ref"], r["sku"]) for r in got] == [
        ("2026-08", "acc-x", "vm.small"),
        ("2026-08", "acc-mover", "vm.small"),
    ]
    by_ref = {r["account_ref"]: r for r in got}
    assert Decimal(by_ref["acc-x"]["net_amount"]) == Decimal("33.48")  # 31 days x 1.08
    assert by_ref["acc-mover"]["first_day"] == "2026-08-16"


def test_billing_cli_refusals_are_one_line_with_exit_code_2(
    database: Database, world: World, tmp_path: Path
):
    build_billing(database, tmp_path / "data", world)
    admin = world.users["partner_admin"].email
    aug = ("--start", "2026-08-01", "--end", "2026-09-01")
    outside = str(world.nodes["cust_b1x"].id)
    cases = [
        (("billing", "generate", *aug), "generate_billing"),
        (("billing", "generate", "--month", "2026-13"), "--month"),
        (("billing", "generate"), "give --month"),
        (("billing", "rows", "--start", "2026-08-01", "--end", "2026-08-01"), "after start"),
        (("billing", "rows", "--start", "01/08/2026", "--end", "2026-09-01"), "--start must"),
        (("billing", "rows", *aug, "--customer", outside), "not found"),
    ]
    for args, text in cases:
        done = _run(database, tmp_path, *args, "--as", admin)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert text in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    platform = world.users["platform_admin"].email
    done = _run(
        database,
        tmp_path,
        *("billing", "generate", "--start", "2026-08-20", "--end", "2026-09-05", "--as", platform),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2026-08, 2026-09: 4 job(s) (4 queued, 0 already active)")
