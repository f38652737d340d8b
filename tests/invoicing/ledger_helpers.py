"""Shared steps of the ledger tests: rules, custom items, recalculation, invoices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import ContractRule, CustomLineItem
from tests.billing.fixtures import Billing
from tests.billing.test_billing_utilities import drain, job, submit

ADMIN = "platform_admin"


def add_credit(
    database: Database, billing: Billing, customer: str, amount: str, position: int = 9
) -> int:
    with database.session() as s:
        rule = ContractRule(
            contract_id=billing.contract_ids[customer],
            version=1,
            position=position,
            kind="credit",
            amount=Decimal(amount),
            description="Migration credit",
        )
        s.add(rule)
        s.flush()
        return rule.id


def drop_rule(database: Database, rule_id: int) -> None:
    with database.session() as s:
        rule = s.get(ContractRule, rule_id)
        assert rule is not None
        s.delete(rule)


def add_one_off(database: Database, billing: Billing, customer: str, amount: str, on: date) -> None:
    with database.session() as s:
        s.add(
            CustomLineItem(
                customer_id=billing.world.nodes[customer].id,
                description="Onboarding",
                amount=Decimal(amount),
                currency="EUR",
                one_off_date=on,
            )
        )


def recalc(
    client: TestClient,
    billing: Billing,
    database: Database,
    data_dir: Path,
    customer: str,
    *periods: str,
) -> list[dict[str, Any]]:
    r = submit(client, billing.world, "recalculations", customer, list(periods))
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    done = [job(client, billing.world, j["id"]) for j in r.json()["jobs"]]
    assert all(d["status"] == "complete" for d in done), [d["error"] for d in done]
    return done


def generate(client: TestClient, billing: Billing, customer: str, period: str) -> Any:
    return client.post(
        "/api/v1/invoices/generate",
        json={"customer_id": billing.world.nodes[customer].id, "period": period},
        headers=billing.world.headers(ADMIN),
    )


def issue(client: TestClient, billing: Billing, invoice_id: int) -> dict[str, Any]:
    r = client.post(f"/api/v1/invoices/{invoice_id}/issue", headers=billing.world.headers(ADMIN))
    assert r.status_code == 200, r.text
    return r.json()


def lines_of(invoice: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [ln for ln in invoice["lines"] if ln["kind"] == kind]


def rule_ids(database: Database, contract_id: int) -> list[int]:
    with database.session() as s:
        return list(
            s.scalars(select(ContractRule.id).where(ContractRule.contract_id == contract_id))
        )
