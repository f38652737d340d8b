"""`rerate invoices pay / payments / reverse-payment` and `rerate customers balance`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing.fixtures import Billing
from tests.invoicing.ledger_helpers import generate, issue, recalc


def _run(database: Database, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pay_list_reverse_and_balance(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-09")
    inv = issue(client, billing, generate(client, billing, "cust_a1x", "2026-09").json()["id"])
    partner = w.users["partner_admin"].email
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    iid = str(inv["id"])

    denied = _run(
        database,
        data_dir,
        "invoices",
        "pay",
        iid,
        "--amount",
        "1.00",
        "--date",
        today,
        "--as",
        w.users["customer_user"].email,
    )
    assert denied.returncode == 2
    assert "record_payments" in denied.stderr
    over = _run(
        database,
        data_dir,
        "invoices",
        "pay",
        iid,
        "--amount",
        "200",
        "--date",
        today,
        "--as",
        partner,
    )
    assert over.returncode == 2
    assert "outstanding" in over.stderr
    assert "Traceback" not in over.stderr

    paid = _run(
        database,
        data_dir,
        "invoices",
        "pay",
        iid,
        "--amount",
        "101.76",
        "--date",
        today,
        "--reference",
        "SEPA 42",
        "--as",
        partner,
    )
    assert paid.returncode == 0, paid.stderr
    payment_id = paid.stdout.split("\t")[0]
    assert "paid, outstanding 0.00 EUR" in paid.stderr

    listed = _run(database, data_dir, "invoices", "payments", iid, "--as", partner)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\t")[2] == "101.76"

    back = _run(
        database,
        data_dir,
        "invoices",
        "reverse-payment",
        payment_id,
        "--reason",
        "bounced",
        "--as",
        partner,
    )
    assert back.returncode == 0, back.stderr
    assert "is issued" in back.stderr

    balance = _run(
        database, data_dir, "customers", "balance", str(w.nodes["cust_a1x"].id), "--as", partner
    )
    assert balance.returncode == 0, balance.stderr
    # currency, invoiced, paid, credited, outstanding, overdue, credit, open credit notes
    assert balance.stdout.strip().split("\t") == [
        "EUR",
        "101.76",
        "0.00",
        "0.00",
        "101.76",
        "0.00",
        "0.00",
        "0.00",
    ]
