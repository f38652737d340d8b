"""`rerate invoices`: generate, issue, list and export, with the API's scope rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rerate.billing import utilities
from rerate.kit.db import Database
from rerate.models.enums import JobType, ReasonCode
from tests.billing.fixtures import Billing
from tests.web.test_pages import drain


def _run(database: Database, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", "invoices", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generate_issue_list_export(
    billing: Billing, database: Database, data_dir: Path, tmp_path: Path
):
    w = billing.world
    cust = w.nodes["cust_a1x"].id
    admin = w.users["platform_admin"].email
    partner = w.users["partner_admin"].email
    from rerate.auth import service as auth

    with database.session() as s:
        principal = auth.principal_for(s, auth.get_user_by_email(s, partner), via="cli")
        utilities.submit(
            s,
            principal,
            JobType.RECALCULATION,
            customer_id=cust,
            periods=["2026-09"],
            reason=ReasonCode.INCORRECT_CHARGES,
        )
        s.commit()
    drain(database, data_dir)

    denied = _run(
        database,
        data_dir,
        "generate",
        "--customer",
        str(cust),
        "--period",
        "2026-09",
        "--as",
        partner,
    )
    assert denied.returncode == 2
    assert "error:" in denied.stderr
    assert "Traceback" not in denied.stderr

    made = _run(
        database,
        data_dir,
        "generate",
        "--customer",
        str(cust),
        "--period",
        "2026-09",
        "--as",
        admin,
    )
    assert made.returncode == 0, made.stderr
    invoice_id, number, customer, period, _version, status, currency, total, kind = (
        made.stdout.strip().split("\t")
    )
    assert kind == "monthly"
    assert (number, customer, period, status, currency) == (
        "-",
        str(cust),
        "2026-09",
        "ready",
        "EUR",
    )
    assert total.replace(".", "").isdigit()

    issued = _run(database, data_dir, "issue", invoice_id, "--as", admin)
    assert issued.returncode == 0, issued.stderr
    fields = issued.stdout.strip().split("\t")
    assert fields[5] == "issued"
    assert fields[1] != "-"
    assert f"issued as {fields[1]}" in issued.stderr

    listed = _run(database, data_dir, "list", "--customer", str(cust), "--as", partner)
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [invoice_id]

    pdf = tmp_path / "inv.pdf"
    done = _run(database, data_dir, "export", invoice_id, "--out", str(pdf), "--as", partner)
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes().startswith(b"%PDF")

    outside = _run(
        database, data_dir, "list", "--customer", str(w.nodes["cust_b1x"].id), "--as", partner
    )
    assert outside.returncode == 2
    assert outside.stderr.startswith("error:")

    bad = _run(
        database,
        data_dir,
        "generate",
        "--customer",
        str(cust),
        "--period",
        "2026-13",
        "--as",
        admin,
    )
    assert bad.returncode == 2
    assert "--period" in bad.stderr
