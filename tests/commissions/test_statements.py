"""Statements as CSV and PDF (pdftotext): lines per customer and service, the
money at the minor unit, the totals of the worked example; and the CLI."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from rerate.kit import csvout
from rerate.kit.db import Database
from tests.commissions.docs import build_example
from tests.invoicing.test_pdf import _text
from tests.world import World

API = "/api/v1/commissions"


def test_csv_rows_and_totals(client: TestClient, world: World, database: Database):
    build_example(database, world)
    a1 = world.nodes["partner_a1"].id
    r = client.get(f"{API}/statements/{a1}/2026-10/csv", headers=world.headers("partner_admin"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert f'filename="commission-{a1}-2026-10.csv"' in r.headers["content-disposition"]
    rows = list(csvout.read_dicts(io.StringIO(r.text)))
    got = [(x["customer"], x["service"], x["basis_net"], x["rate"], x["commission"]) for x in rows]
    assert got == [
        ("Cust A1x", "Compute", "123.45", "0.05", "6.17"),
        ("Cust A1x", "Compute", "-50.00", "0.1", "-5.00"),
        ("Cust A1x", "Storage", "9.95", "0.05", "0.50"),
        ("Cust A1x", "Support", "20.00", "0.05", "1.00"),
        ("Cust A1y", "Calls", "33.33", "0.05", "1.67"),
        ("Cust A1y", "Compute", "160.00", "0.1", "16.00"),
        ("total", "", "296.73", "", "20.34"),
    ]
    assert {x["currency"] for x in rows} == {"EUR"}
    assert {x["period"] for x in rows} == {"2026-10"}
    # The rows add up to the total row, to the cent.
    from decimal import Decimal

    assert sum(Decimal(x["commission"]) for x in rows[:-1]) == Decimal(rows[-1]["commission"])


def test_pdf_reads_back(client: TestClient, world: World, database: Database, tmp_path: Path):
    build_example(database, world)
    with database.session() as s:  # a name the core PDF fonts could not print
        from rerate.models import Node

        node = s.get(Node, world.nodes["partner_a1"].id)
        assert node is not None
        node.legal_name = "Müller & Søn Łódź GmbH"
    a1 = world.nodes["partner_a1"].id
    r = client.get(f"{API}/statements/{a1}/2026-10/pdf", headers=world.headers("distributor"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    text = _text(r.content, tmp_path)
    assert "Commission statement 2026-10" in text
    assert "Müller & Søn Łódź GmbH" in text
    assert "ROUND_HALF_UP" in text
    for needle in ("Cust A1x", "Cust A1y", "Compute", "Storage", "Support", "Calls"):
        assert needle in text
    compact = " ".join(text.split())
    # pdftotext may drop the thin space before "%".
    assert re.search(r"Cust A1x Compute EUR 123\.45 5 ?% 6\.17", compact), text
    assert re.search(r"Cust A1x Compute EUR -50\.00 10 ?% -5\.00", compact), text
    assert re.search(r"Cust A1y Calls EUR 33\.33 5 ?% 1\.67", compact), text
    # The heading fits its columns (no "Currenc" / "y" split over two lines).
    assert "Customer Service Currency Invoiced net Rate Commission" in compact
    assert "Invoiced net (EUR) 296.73" in compact
    assert "Commission due (EUR) 20.34" in compact
    # An empty month is a statement too, saying so.
    r = client.get(f"{API}/statements/{a1}/2026-01/pdf", headers=world.headers("partner_admin"))
    assert "No invoiced net in this period." in _text(r.content, tmp_path)


def _run(database: Database, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", "commissions", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_journey(world: World, database: Database, data_dir: Path, tmp_path: Path):
    build_example(database, world)
    admin = world.users["platform_admin"].email
    partner = world.users["partner_admin"].email
    a1, a2 = str(world.nodes["partner_a1"].id), str(world.nodes["partner_a2"].id)

    made = _run(
        database,
        data_dir,
        "rules",
        "create",
        "--node",
        a2,
        "--rate",
        "0.04",
        "--from",
        "2026-10-01",
        "--service",
        "Compute",
        "--as",
        admin,
    )
    assert made.returncode == 0, made.stderr
    rule_id, node, svc, rate, start, end = made.stdout.strip().split("\t")
    assert (node, svc, rate, start, end) == (a2, "Compute", "0.04", "2026-10-01", "-")
    clash = _run(
        database,
        data_dir,
        "rules",
        "create",
        "--node",
        a2,
        "--rate",
        "0.05",
        "--from",
        "2026-12-01",
        "--service",
        "compute",
        "--as",
        admin,
    )
    assert clash.returncode == 2
    assert "overlaps rule #" in clash.stderr
    bad = _run(
        database,
        data_dir,
        "rules",
        "create",
        "--node",
        a2,
        "--rate",
        "5",
        "--from",
        "2026-12-01",
        "--as",
        admin,
    )
    assert bad.returncode == 2
    assert "rate" in bad.stderr
    denied = _run(
        database,
        data_dir,
        "rules",
        "create",
        "--node",
        a1,
        "--rate",
        "0.5",
        "--from",
        "2030-01-01",
        "--as",
        partner,
    )
    assert denied.returncode == 2
    assert "manage_commissions" in denied.stderr
    ended = _run(database, data_dir, "rules", "end", rule_id, "--to", "2026-11-01", "--as", admin)
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.strip().endswith("2026-11-01")

    listed = _run(database, data_dir, "rules", "list", "--as", partner)
    assert listed.returncode == 0, listed.stderr
    assert {line.split("\t")[1] for line in listed.stdout.splitlines()} == {a1}
    hidden = _run(database, data_dir, "rules", "list", "--node", a2, "--as", partner)
    assert hidden.returncode == 2
    assert "not found" in hidden.stderr

    summary = _run(
        database,
        data_dir,
        "summary",
        "--node",
        a1,
        "--from",
        "2026-09",
        "--to",
        "2026-10",
        "--as",
        partner,
    )
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.splitlines() == [
        "EUR\t2026-09\t90.10\t4.51",
        "EUR\t2026-10\t296.73\t20.34",
        "EUR\ttotal\t386.83\t24.85",
    ]
    out = tmp_path / "st.csv"
    csv_run = _run(
        database,
        data_dir,
        "statement",
        "--node",
        a1,
        "--period",
        "2026-10",
        "--format",
        "csv",
        "--out",
        str(out),
        "--as",
        partner,
    )
    assert csv_run.returncode == 0, csv_run.stderr
    assert out.read_text().splitlines()[-1] == "Partner A1,2026-10,,total,,EUR,296.73,,,20.34"
    pdf = tmp_path / "st.pdf"
    pdf_run = _run(
        database,
        data_dir,
        "statement",
        "--node",
        a1,
        "--period",
        "2026-10",
        "--format",
        "pdf",
        "--out",
        str(pdf),
        "--as",
        partner,
    )
    assert pdf_run.returncode == 0, pdf_run.stderr
    assert "Commission due (EUR) 20.34" in " ".join(_text(pdf.read_bytes(), tmp_path).split())
    sibling = _run(
        database, data_dir, "statement", "--node", a2, "--period", "2026-10", "--as", partner
    )
    assert sibling.returncode == 2
    assert "not found" in sibling.stderr
