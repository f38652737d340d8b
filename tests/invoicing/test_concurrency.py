"""Concurrent clients on one invoice: one issuer at a time, one invoice per
(customer, period), no 500 — through a real server on both databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import Invoice, InvoiceSeries
from tests.api.live import LiveServer
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import drain, submit
from tests.world import World

CLIENTS = 10


@pytest.fixture
def billed(client: TestClient, database: Database, data_dir: Path, world: World) -> Billing:
    billing = build_billing(database, data_dir, world)
    submit(client, world, "recalculations", "cust_a1x", ["2026-09"])
    drain(database, data_dir)
    return billing


def _together(n: int, call) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _i: call(), range(n)))


def test_concurrent_generation_and_issue_give_one_invoice_and_one_number(
    billed: Billing, database: Database, data_dir: Path
):
    w = billed.world
    admin = w.headers("platform_admin")
    cust = w.nodes["cust_a1x"].id
    app = create_app(Settings(data_dir=data_dir, database_url=database.url, env="test"), database)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        generated = _together(
            CLIENTS,
            lambda: http.post(
                "/api/v1/invoices/generate",
                json={"customer_id": cust, "period": "2026-09"},
                headers=admin,
            ),
        )
        assert [r.status_code for r in generated if r.status_code >= 500] == []
        assert {r.status_code for r in generated} <= {200, 201}, [r.text for r in generated]
        assert len({r.json()["id"] for r in generated}) == 1  # everyone got the same invoice
        invoice_id = generated[0].json()["id"]
        issued = _together(
            CLIENTS, lambda: http.post(f"/api/v1/invoices/{invoice_id}/issue", headers=admin)
        )
    assert [r.status_code for r in issued] == [200] * CLIENTS, [r.text for r in issued]
    numbers = {r.json()["number"] for r in issued}
    assert len(numbers) == 1  # the second caller gets the same number
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 1
        inv = s.get(Invoice, invoice_id)
        assert inv is not None
        assert inv.number in numbers
        series = s.get(InvoiceSeries, inv.series)
        assert series is not None
        assert series.next_number == 2  # one number taken, none lost
