"""The backfill in the console and on the command line, on SQLite and PostgreSQL:
the form (platform roles only) queues a dry run whose job page shows the
reconciliation and the CSV link, and whose "Publish" button queues the publication;
`rerate backfill` waits for the job and prints the reconciliation table and job id."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import CurrentRun, Job
from tests.billing.fixtures import Billing
from tests.billing.test_backfill import published  # noqa: F401 - the fixture
from tests.billing.test_billing_utilities import drain

ADMIN = "platform_admin"


def test_backfill_form_job_page_and_publish_button(
    client: TestClient,
    published: Billing,  # noqa: F811 - the fixture imported above
    database: Database,
    data_dir: Path,
):
    w = published.world
    admin = w.headers(ADMIN)
    page = client.get("/billing/utilities", headers=admin).text
    assert 'href="/billing/backfill"' in page
    partner_page = client.get("/billing/utilities", headers=w.headers("partner_admin")).text
    assert 'href="/billing/backfill"' not in partner_page
    assert client.get("/billing/backfill", headers=w.headers("partner_admin")).status_code == 403

    form = client.get("/billing/backfill", headers=admin)
    assert form.status_code == 200
    assert "Cust A1x" in form.text
    bad = client.post(
        "/billing/backfill", headers=admin, data={"start": "2026-09-01", "end": "2026-08-01"}
    )
    assert bad.status_code == 422
    assert "End: must be after start" in bad.text
    r = client.post(
        "/billing/backfill",
        headers=admin,
        data={
            "start": "2026-08-01",
            "end": "2026-10-01",
            "customer_ids": [str(w.nodes["cust_a1x"].id)],
            "explanation": "price list correction",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    drain(database, data_dir)
    html = client.get(f"/billing/jobs/{job_id}", headers=admin).text
    assert "Reconciliation" in html
    assert f'href="/api/v1/billing/backfill/{job_id}/reconciliation.csv"' in html
    assert "a dry run, nothing is published" in html
    row = re.search(r"<td>Cust A1x</td><td class=\"mono\">2026-09</td>(.*?)</tr>", html, re.S)
    assert row is not None
    assert "84.80 EUR" in row.group(1)
    assert "104.80 EUR" in row.group(1)
    assert "+20.00" in row.group(1)
    assert 'id="publish-backfill"' in html
    assert "<dt>Periods with a difference</dt>" in html
    assert "<dt>Periods computed, not published</dt>" in html
    # Partners never see the platform's backfill job.
    assert (
        client.get(f"/billing/jobs/{job_id}", headers=w.headers("partner_admin")).status_code == 404
    )

    with database.session() as s:
        before = s.get(CurrentRun, (w.nodes["cust_a1x"].id, "2026-09")).run_id
    p = client.post(
        f"/billing/jobs/{job_id}/publish-backfill", headers=admin, follow_redirects=False
    )
    assert p.status_code == 303
    new_id = int(p.headers["location"].rsplit("/", 1)[1])
    drain(database, data_dir)
    done = client.get(f"/billing/jobs/{new_id}", headers=admin).text
    assert f'publishing the dry run reviewed in <a href="/billing/jobs/{job_id}">' in done
    assert "as reviewed" in done
    assert 'id="publish-backfill"' not in done
    reviewed = client.get(f"/billing/jobs/{job_id}", headers=admin).text
    assert f'Published by <a href="/billing/jobs/{new_id}">' in reviewed
    assert 'id="publish-backfill"' not in reviewed
    with database.session() as s:
        assert s.get(CurrentRun, (w.nodes["cust_a1x"].id, "2026-09")).run_id != before


def _cli(database: Database, data_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "COLUMNS": "200",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "rerate.cli.main", "backfill", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_backfill_prints_the_reconciliation_and_the_job_id(
    published: Billing,  # noqa: F811 - the fixture imported above
    database: Database,
    data_dir: Path,
):
    w = published.world
    email = w.users[ADMIN].email
    cust = str(w.nodes["cust_a1x"].id)
    proc = _cli(
        database,
        data_dir,
        "--start",
        "2026-08-01",
        "--end",
        "2026-10-01",
        "--customer",
        cust,
        "--as",
        email,
    )
    # The command waits for its job: run it here, as a worker would.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with database.session() as s:
            if s.scalar(select(Job.id).where(Job.type == "backfill")):
                break
        time.sleep(0.2)
    drain(database, data_dir)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    job_id = int(re.search(r"backfill job (\d+): 2 periods queued", out).group(1))
    assert f"backfill job {job_id} [2026-08-01, 2026-10-01) (dry run" in out
    sep = next(line for line in out.splitlines() if "2026-09" in line)
    assert "84.80" in sep
    assert "104.80" in sep
    assert "20.00" in sep
    assert "computed" in sep
    assert f"/api/v1/billing/backfill/{job_id}/reconciliation.csv" in err

    # A partner cannot; --show prints an existing job's table; bad dates name the option.
    partner = _cli(
        database,
        data_dir,
        "--start",
        "2026-08-01",
        "--end",
        "2026-10-01",
        "--as",
        w.users["partner_admin"].email,
        "--no-follow",
    )
    _, perr = partner.communicate(timeout=120)
    assert partner.returncode == 2
    assert "platform roles" in perr
    shown = _cli(database, data_dir, "--show", str(job_id), "--as", email)
    sout, _ = shown.communicate(timeout=120)
    assert shown.returncode == 0
    assert "104.80" in sout
    bad = _cli(database, data_dir, "--start", "2026-13-01", "--end", "2026-10-01", "--as", email)
    _, berr = bad.communicate(timeout=120)
    assert bad.returncode == 2
    assert "--start" in berr
