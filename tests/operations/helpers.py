"""A small live installation for the operations tests: published runs for
August and September (customer A1x, and A1y through the cascade), and an
issued September invoice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import BillingRun, CurrentRun, Invoice
from rerate.operations.check import Context, Report, run_checks
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import drain, submit
from tests.world import World

ADMIN = "platform_admin"


@dataclass
class Installation:
    billing: Billing
    customer_id: int
    issued_invoice_id: int

    @property
    def world(self) -> World:
        return self.billing.world


def build_installation(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> Installation:
    billing = build_billing(database, data_dir, world)
    for period in ("2026-08", "2026-09"):
        r = submit(client, world, "recalculations", "cust_a1x", [period])
        assert r.status_code == 202, r.text
    drain(database, data_dir)
    customer_id = world.nodes["cust_a1x"].id
    admin = world.headers(ADMIN)
    invoice = client.post(
        "/api/v1/invoices/generate",
        json={"customer_id": customer_id, "period": "2026-09"},
        headers=admin,
    )
    assert invoice.status_code == 201, invoice.text
    issued = client.post(f"/api/v1/invoices/{invoice.json()['id']}/issue", headers=admin)
    assert issued.status_code == 200, issued.text
    return Installation(billing, customer_id, issued.json()["id"])


def check(database: Database, data_dir: Path, *, deep: bool = True) -> Report:
    return run_checks(Context(database, data_dir, deep=deep))


def failing(report: Report) -> dict[str, list[str]]:
    """Check name -> problem details, for the checks that failed."""
    return {c.name: [f.detail for f in c.problems] for c in report.checks if not c.ok}


def current_run(database: Database, customer_id: int, period: str) -> BillingRun:
    with database.session() as s:
        pointer = s.get(CurrentRun, (customer_id, period))
        assert pointer is not None
        run = s.get(BillingRun, pointer.run_id)
        assert run is not None
        return run


def invoice(database: Database, invoice_id: int) -> Invoice:
    with database.session() as s:
        found = s.scalar(select(Invoice).where(Invoice.id == invoice_id))
        assert found is not None
        return found


def cli_env(database: Database, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "RERATE_ENV": "test",
        **extra,
    }


def rerate(
    database: Database, data_dir: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """The `rerate` command in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", *args],
        env=cli_env(database, data_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def check_cli(database: Database, data_dir: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = rerate(database, data_dir, "check", "--json", *args)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)
