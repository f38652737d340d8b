"""A new user's first month, from an EMPTY database, typed at the shell.

No demo and no Python against the database: `rerate init`, then a platform
admin builds the tenancy, a reseller admin its catalog, accounts and usage;
the month is billed and invoiced; a new deck version effective mid-month makes
the billed period stale; a dry run shows the diff; the recalculation and the
invoice refresh put it right (Issued -> Cancelled, the new one Ready). A real
`rerate worker` process runs the jobs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from rerate.kit.db import Database
from rerate.kit.periods import Month
from tests.journeys import data

ROOT = "root@journey.test"
ADMIN = "admin@acme.test"
PASSWORD = "journey passphrase 42"
JANUARY = "2026-01-01T00:00:00Z"


def _env(database: Database, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "RERATE_ADMIN_PASSWORD": PASSWORD,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "COLUMNS": "200",
    }


class Shell:
    def __init__(self, database: Database, data_dir: Path) -> None:
        self.env = _env(database, data_dir)

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "rerate.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if ok:
            assert done.returncode == 0, f"rerate {' '.join(args)}\n{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture
def shell(database: Database, tmp_path: Path) -> Iterator[Shell]:
    data_dir = tmp_path / "data"
    sh = Shell(database, data_dir)
    worker = subprocess.Popen(
        [sys.executable, "-m", "rerate.cli.main", "worker"],
        env=sh.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield sh
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def _id(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return found.group(1)


def _invoices(sh: Shell, customer: str, period: str) -> list[dict[str, str]]:
    out = sh.run("invoices", "list", "--customer", customer, "--period", period, "--as", ADMIN)
    keys = ("id", "number", "customer", "period", "version", "status", "currency", "total", "type")
    return [dict(zip(keys, line.split("\t"), strict=True)) for line in out.stdout.splitlines()]


def test_a_new_users_first_month_from_the_shell(shell: Shell, tmp_path: Path):
    sh = shell
    month = Month.of(datetime.now(UTC)).previous()  # the last closed month
    period = str(month)
    mid = f"{period}-15T00:00:00Z"

    # --- the platform: its root, a distributor, a reseller with its admin, a customer -------
    out = sh.run("init", "--admin-email", ROOT).stderr
    platform = _id(r"platform node 'Platform' \(id (\d+)\)", out)
    root = ("--as", ROOT, "--reason", "onboarding")
    dist = _id(r"\(id (\d+)\)", sh.run(
        "nodes", "create", "Northwind", "--kind", "distributor", "--parent", platform, *root
    ).stdout)  # fmt: skip
    reseller = _id(r"\(id (\d+)\)", sh.run(
        "nodes", "create", "Acme Reseller", "--kind", "partner", "--parent", dist,
        "--currency", "EUR", *root,
    ).stdout)  # fmt: skip
    sh.run(
        "users", "create", ADMIN, "--role", "partner_admin", "--node-id", reseller,
        "--password", "plum orchard passphrase 7",
    )  # fmt: skip
    customer = _id(r"\(id (\d+)\)", sh.run(
        "customers", "create", "Globex", "--parent", reseller, "--legal-name", "Globex SARL",
        "--currency", "EUR", "--tax-rate", "0.20", *root,
    ).stdout)  # fmt: skip
    listed = sh.run("customers", "list", "--as", ADMIN).stdout
    assert re.search(rf"^{customer}\tcustomer\tGlobex\t", listed, re.M)

    # --- the reseller's catalog: a 5,000-prefix deck and a cloud price list ------------------
    admin = ("--as", ADMIN)
    v1 = data.deck_rows(Decimal("0.02"))
    deck_csv = data.write_csv(
        tmp_path / "deck-v1.csv",
        [{"version": "1", "effective_from": "2026-01-01T00:00:00Z", **r} for r in v1],
    )
    deck = json.loads(sh.run(
        "pricebooks", "create", "--name", "Voice EUR", "--kind", "voip", "--currency", "EUR",
        "--owner", reseller, *admin,
    ).stdout)["id"]  # fmt: skip
    sh.run(
        "pricebooks", "import", str(deck), str(deck_csv), "--effective", "2026-01-01T00:00:00Z",
        "--publish", "--reason", "partner's price list", *admin,
    )  # fmt: skip
    prices_csv = data.write_csv(
        tmp_path / "prices.csv",
        [
            {"version": "1", "effective_from": "2026-01-01T00:00:00Z", **r}
            for r in data.price_rows()
        ],
    )
    cloud = json.loads(sh.run(
        "pricebooks", "create", "--name", "Cloud EUR", "--kind", "cloud", "--currency", "EUR",
        "--owner", reseller, *admin,
    ).stdout)["id"]  # fmt: skip
    sh.run(
        "pricebooks", "import", str(cloud), str(prices_csv), "--effective", "2026-01-01T00:00:00Z",
        "--publish", "--reason", "list prices", *admin,
    )  # fmt: skip
    out = sh.run(
        "contracts", "create", "--customer", customer, "--seller", reseller, "--currency", "EUR",
        "--coverage-start", "2026-01-01", "--voip-price-book", str(deck),
        "--cloud-price-book", str(cloud), "--activate", "--reason", "signed", *admin,
    ).stdout  # fmt: skip
    assert "active" in out

    # --- two accounts, owned by the customer from January ------------------------------------
    for kind, ref in (("voip_peer", "peer-globex"), ("subscription", "sub-globex")):
        account = _id(r"account (\d+)", sh.run(
            "accounts", "create", "--kind", kind, "--ref", ref, "--seller", reseller, *admin
        ).stdout)  # fmt: skip
        sh.run(
            "accounts", "link", account, "--customer", customer,
            "--from", "2026-01-01T00:00:00Z", "--reason", "new customer", *admin,
        )  # fmt: skip

    # --- a month of CDRs and FOCUS usage ------------------------------------------------------
    usage = data.Usage(period, "peer-globex", "sub-globex", calls=30, call_seconds=120, vm_hours=48)
    cdrs = data.write_csv(tmp_path / "cdrs.csv", data.cdr_rows(usage))
    focus = data.write_csv(tmp_path / "focus.csv", data.focus_rows(usage), data.FOCUS_HEADER)
    assert "new 30," in sh.run("import", "generic_cdr", str(cdrs), *admin).stderr
    sh.run("import", "focus", str(focus), *admin)

    # --- bill the month; a platform admin issues the invoice ---------------------------------
    sh.run(
        "recalc", "--customer", customer, "--period", period, "--reason", "other",
        "--explanation", "first billing of the month", *admin,
    )  # fmt: skip
    made = sh.run("invoices", "generate", "--customer", customer, "--period", period, "--as", ROOT)
    invoice = made.stdout.split("\t")[0]
    sh.run("invoices", "issue", invoice, "--as", ROOT)
    [issued] = _invoices(sh, customer, period)
    assert issued["status"] == "issued"
    voice = data.expected_voice(usage, Decimal("0.02"))
    cloud_amount = data.expected_cloud(usage)
    assert Decimal(issued["total"]) == ((voice + cloud_amount) * Decimal("1.20")).quantize(
        Decimal("0.01")
    )

    # --- new prices from the partner, effective mid-month: the period is stale --------------
    v2 = data.deck_rows(Decimal("0.03"))
    deck2 = data.write_csv(
        tmp_path / "deck-v2.csv",
        [{"version": "2", "effective_from": mid, **r} for r in v2],
    )
    sh.run(
        "pricebooks", "import", str(deck), str(deck2), "--effective", mid, "--publish",
        "--reason", "partner's new prices", *admin,
    )  # fmt: skip
    stale = json.loads(sh.run("stale", "list", "--json", *admin).stdout)
    assert [(i["customer"]["id"], i["period"]) for i in stale["items"]] == [(int(customer), period)]
    reason = stale["items"][0]["reasons"][0]
    assert reason["code"] == "price_book_update"
    assert "Voice EUR" in reason["text"]

    # --- a dry run shows the diff, publishes nothing ------------------------------------------
    queued = sh.run("stale", "recalc", "--dry-run", "--follow", *admin).stdout
    dry_job = _id(r"queued dry runs (\d+)", queued)
    diff = sh.run("jobs", "diff", dry_job, *admin).stdout
    rows = list(csv.DictReader(io.StringIO(diff)))
    assert rows, diff
    still = json.loads(sh.run("stale", "list", "--json", *admin).stdout)
    assert still["total"] == 1  # a dry run clears nothing

    # --- recalculate, then refresh the invoice -----------------------------------------------
    sh.run("stale", "recalc", "--follow", *admin)
    assert json.loads(sh.run("stale", "list", "--json", *admin).stdout)["total"] == 0
    sh.run(
        "refresh", "--customer", customer, "--period", period, "--reason", "price_book_update",
        *admin,
    )  # fmt: skip
    after = {i["id"]: i for i in _invoices(sh, customer, period)}
    assert after[invoice]["status"] == "cancelled"
    [new] = [i for i in after.values() if i["id"] != invoice]
    assert new["status"] == "ready"
    calls_late = sum(1 for r in data.cdr_rows(usage) if r["start"][:10] >= mid[:10])
    voice2 = voice + Decimal(calls_late) * Decimal(usage.call_seconds // 60) * Decimal("0.01")
    assert Decimal(new["total"]) == ((voice2 + cloud_amount) * Decimal("1.20")).quantize(
        Decimal("0.01")
    )
