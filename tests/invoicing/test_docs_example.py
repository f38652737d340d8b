"""docs/invoicing.md, "Worked example: corrections": the table is read from
the page and replayed step by step through the API, so the page cannot drift
from what rerate does. A changed figure, status or number in either fails here."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER, drain, job, submit
from tests.invoicing.ledger_helpers import add_one_off, generate, issue, recalc
from tests.invoicing.test_credit_notes import _pay, _policy, _refresh
from tests.world import World

DOC = Path(__file__).resolve().parents[2] / "docs" / "invoicing.md"
PERIOD = "2026-09"
COLUMNS = ("step", "document", "status", "total", "paid", "credited", "outstanding", "open")


def example_rows() -> list[dict[str, str]]:
    """The rows of the table under "## Worked example: corrections"."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Worked example: corrections", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(COLUMNS) and cells[0].isdigit():
            rows.append(dict(zip(COLUMNS, cells, strict=True)))
    return rows


def test_the_page_has_the_table() -> None:
    rows = example_rows()
    assert [int(r["step"]) for r in rows] == sorted(int(r["step"]) for r in rows)
    assert {int(r["step"]) for r in rows} == set(range(1, 7))
    # The prose's figures are the table's: 84.80 + 20 % and 94.80 + 20 %.
    text = DOC.read_text(encoding="utf-8")
    assert "94.80 + 18.96 = 113.76" in text
    assert any(r["document"] == "balance" for r in rows)


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def _documents(client: TestClient, w: World) -> dict[str, dict[str, Any]]:
    r = client.get(
        f"/api/v1/invoices?customer_id={w.nodes['cust_a1x'].id}", headers=w.headers(PARTNER)
    )
    assert r.status_code == 200, r.text
    return {inv["number"]: inv for inv in r.json()["items"] if inv["number"]}


def _check(client: TestClient, w: World, step: int, rows: list[dict[str, str]]) -> None:
    documents = _documents(client, w)
    balance = client.get(
        f"/api/v1/customers/{w.nodes['cust_a1x'].id}/balance", headers=w.headers(PARTNER)
    ).json()["items"][0]
    for row in (r for r in rows if int(r["step"]) == step):
        if row["document"] == "balance":
            got = {
                "total": balance["invoiced"],
                "paid": balance["paid"],
                "credited": balance["credited"],
                "outstanding": balance["outstanding"],
                "open": balance["open_credit_notes"],
            }
        else:
            assert row["document"] in documents, (step, row["document"], sorted(documents))
            inv = documents[row["document"]]
            got = {
                "status": inv["status"],
                "total": inv["total"],
                "paid": inv["amount_paid"],
                "credited": inv["amount_credited"],
                "outstanding": inv["outstanding"],
                "open": inv.get("open_amount", "—"),
            }
        expected = {k: v for k, v in row.items() if k in got and v != "—"}
        assert {k: got[k] for k in expected} == expected, (step, row["document"])


def _live_ready(client: TestClient, w: World) -> int:
    r = client.get(
        f"/api/v1/invoices?customer_id={w.nodes['cust_a1x'].id}&period={PERIOD}",
        headers=w.headers(PARTNER),
    )
    [ready] = [inv for inv in r.json()["items"] if inv["status"] == "ready"]
    return int(ready["id"])


def test_the_worked_example_replays(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    rows = example_rows()
    w = billing.world
    # 1. September's invoice is issued.
    recalc(client, billing, database, data_dir, "cust_a1x", PERIOD)
    first = issue(client, billing, generate(client, billing, "cust_a1x", PERIOD).json()["id"])
    _check(client, w, 1, rows)
    # 2. 1.76 paid.
    _pay(client, w, first["id"], "1.76")
    _check(client, w, 2, rows)
    # 3. Policy credit_note; a missed 10.00 onboarding charge; recalculated and refreshed.
    _policy(database, billing, "credit_note")
    result = _refresh(client, billing, database, data_dir)
    assert result["invoices_credited"] == [first["id"]]
    _check(client, w, 3, rows)
    ready = client.get(f"/api/v1/invoices/{result['invoice_id']}", headers=w.headers(PARTNER))
    assert (ready.json()["status"], ready.json()["total"]) == ("ready", "113.76")
    # 4. The new version is issued.
    second = issue(client, billing, result["invoice_id"])
    _check(client, w, 4, rows)
    # 5. 112.00 paid.
    _pay(client, w, second["id"], "112.00")
    _check(client, w, 5, rows)
    # 6. Policy replace; a -10.00 goodwill credit; recalculated, refreshed, issued.
    _policy(database, billing, "replace")
    add_one_off(database, billing, "cust_a1x", "-10", date(2026, 9, 20))
    recalc(client, billing, database, data_dir, "cust_a1x", PERIOD)
    r = submit(
        client, w, "invoice-refreshes", "cust_a1x", [PERIOD], reason="other", explanation="goodwill"
    )
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    done = job(client, w, r.json()["jobs"][0]["id"])
    assert done["status"] == "complete", done["error"]
    assert done["result"]["invoices_cancelled"] == []  # Paid: credited, never cancelled
    issue(client, billing, _live_ready(client, w))
    _check(client, w, 6, rows)
