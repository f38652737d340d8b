"""Every path that creates billing work obeys the same eligibility rules, and the
job checks them again when it runs: the open month, a future month and a month
before 2000 are refused by submissions, schedules, cascades, job handlers and
invoice generation and issue alike."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.billing.tasks import expand_schedule, handlers
from rerate.jobs.queue import enqueue
from rerate.jobs.schedules import fire_due_schedules
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models import (
    BillingRun,
    Contract,
    Invoice,
    InvoiceSeries,
    Job,
    JobSchedule,
    ScheduleOccurrence,
)
from rerate.models.base import utcnow
from tests.billing.fixtures import Billing, build_billing
from tests.world import World

PARTNER = "partner_admin"
OPEN = str(Month.of(datetime.now(UTC).date()))  # Europe/Paris is within a day of UTC
REFUSED = {
    "open month": (OPEN, "current, open billing period"),
    "future month": ("2031-05", "has not closed yet"),
    "before 2000": ("1900-01", "earliest period"),
}


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def _drain(database: Database, data_dir: Path) -> int:
    worker = Worker(database, handlers=handlers(data_dir), lease_s=30, expand=None)
    ran = 0
    while worker.run_once():
        ran += 1
    return ran


def _count(database: Database, model: type[object], *where: object) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


@pytest.mark.parametrize("case", list(REFUSED))
def test_submissions_refuse_the_period(
    client: TestClient, billing: Billing, database: Database, case: str
):
    period, message = REFUSED[case]
    w = billing.world
    for kind in ("recalculations", "invoice-refreshes", "cache-syncs"):
        r = client.post(
            f"/api/v1/billing-utilities/{kind}",
            json={
                "customer_id": w.nodes["cust_a1x"].id,
                "periods": [period],
                "reason": "incorrect_charges",
            },
            headers=w.headers(PARTNER),
        )
        assert r.status_code == 422, r.text
        assert message in r.json()["detail"]
    for op in ("recalculation", "invoice_refresh", "cache_sync"):  # the console
        page = client.post(
            f"/billing/utilities/operations/{op}",
            headers={**w.headers(PARTNER), "HX-Request": "true"},
            data={
                "customer_id": w.nodes["cust_a1x"].id,
                "periods": [period],
                "reason": "incorrect_charges",
                "explanation": "x",
            },
        )
        assert page.status_code == 422, page.text
        assert message in page.text
    assert _count(database, Job) == 0


def _stored_schedule(
    database: Database, customer_id: int | None, period_rule: str, *, type_: str = "recalculation"
) -> int:
    """A schedule as the database may hold it (created before the rules, or by
    hand): one-shot, due a minute ago."""
    with database.session() as s:
        schedule = JobSchedule(
            name="refused",
            type=type_,
            cron="",
            customer_id=customer_id,
            period_rule=period_rule,
            reason="incorrect_charges",
            explanation="",
            actor_id=None,
            enabled=True,
            next_run_at=utcnow() - timedelta(minutes=1),
        )
        s.add(schedule)
        s.flush()
        return schedule.id


def _occurrence(database: Database, schedule_id: int) -> ScheduleOccurrence:
    with database.session() as s:
        return s.scalars(
            select(ScheduleOccurrence).where(ScheduleOccurrence.schedule_id == schedule_id)
        ).one()


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("type_", ["recalculation", "invoice_refresh", "cache_sync"])
def test_a_schedule_for_a_refused_period_queues_nothing_and_says_why(
    client: TestClient,
    billing: Billing,
    database: Database,
    data_dir: Path,
    case: str,
    type_: str,
):
    period, message = REFUSED[case]
    cust = billing.world.nodes["cust_a1x"].id
    schedule_id = _stored_schedule(database, cust, period, type_=type_)
    assert fire_due_schedules(database, expand=expand_schedule) == 0
    assert _drain(database, data_dir) == 0
    assert _count(database, Job) == 0
    assert _count(database, BillingRun, BillingRun.period == period) == 0
    occurrence = _occurrence(database, schedule_id)
    assert occurrence.outcome == "refused"
    assert occurrence.jobs_queued == 0
    [refusal] = json.loads(occurrence.detail)
    assert refusal["customer_id"] == cust
    assert refusal["period"] == period
    assert refusal["outcome"] == "refused"
    assert message in refusal["reason"]
    # The refusal is visible over the API too.
    runs = client.get(
        f"/api/v1/schedules/{schedule_id}/occurrences", headers=billing.world.headers(PARTNER)
    ).json()["items"]
    assert [(o["outcome"], o["jobs_queued"]) for o in runs] == [("refused", 0)]
    assert message in runs[0]["detail"][0]["reason"]


def test_a_schedule_for_every_customer_refuses_each_one(
    billing: Billing, database: Database, data_dir: Path
):
    schedule_id = _stored_schedule(database, None, "2031-05")
    assert fire_due_schedules(database, expand=expand_schedule) == 0
    occurrence = _occurrence(database, schedule_id)
    assert occurrence.outcome == "refused"
    refused = json.loads(occurrence.detail)
    assert sorted(r["customer_id"] for r in refused) == sorted(
        billing.world.nodes[n].id for n in ("cust_a1x", "cust_a1y")
    )
    assert all("has not closed yet" in r["reason"] for r in refused)


def test_last_closed_month_in_utc_is_still_open_west_of_utc(
    billing: Billing, database: Database, data_dir: Path
):
    """At 00:30 UTC on 1 November, "last closed month" in UTC is October, but in
    Los Angeles it is still 31 October: the month is open there, so refused."""
    cust = billing.world.nodes["cust_a1y"].id
    with database.session() as s:
        contract = s.scalars(select(Contract).where(Contract.customer_id == cust)).one()
        contract.billing_tz = "America/Los_Angeles"
    at = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    schedule_id = _stored_schedule(database, cust, "last_closed_month")
    with database.session() as s:
        schedule = s.get(JobSchedule, schedule_id)
        assert schedule is not None
        schedule.next_run_at = at
    assert fire_due_schedules(database, now=at, expand=expand_schedule) == 0
    occurrence = _occurrence(database, schedule_id)
    assert occurrence.outcome == "refused"
    assert "2026-10 is the current, open billing period" in occurrence.detail


def test_creating_a_schedule_for_a_refused_period_is_refused(client: TestClient, billing: Billing):
    w = billing.world
    for period, message in (REFUSED["before 2000"], REFUSED["future month"]):
        body = {
            "name": "bad",
            "type": "recalculation",
            "customer_id": w.nodes["cust_a1x"].id,
            "cron": "0 2 * * *",
            "period_rule": period,
            "reason": "other",
        }
        r = client.post("/api/v1/schedules", json=body, headers=w.headers(PARTNER))
        assert r.status_code == 422, r.text
        assert message in r.json()["detail"]
    # A one-shot schedule for this month, to run once it has closed, is fine.
    body = {
        "name": "after close",
        "type": "invoice_refresh",
        "customer_id": w.nodes["cust_a1x"].id,
        "run_at": (Month.parse(OPEN).next().in_zone("UTC").end_utc).isoformat(),
        "period_rule": OPEN,
        "reason": "other",
        "explanation": "once the month closes",
    }
    r = client.post("/api/v1/schedules", json=body, headers=w.headers(PARTNER))
    assert r.status_code == 201, r.text


def _enqueue(database: Database, customer_id: int, period: str, type_: str) -> int:
    with database.session() as s:
        return enqueue(
            s,
            type=type_,  # type: ignore[arg-type]
            customer_id=customer_id,
            period=period,
            reason="incorrect_charges",
            actor_id=None,
            actor_label="inserted directly",
            request_id=str(uuid.uuid4()),
        ).id


@pytest.mark.parametrize("type_", ["recalculation", "invoice_refresh", "cache_sync"])
def test_a_job_inserted_for_the_open_month_fails_when_it_runs(
    billing: Billing, database: Database, data_dir: Path, type_: str
):
    job_id = _enqueue(database, billing.world.nodes["cust_a1x"].id, OPEN, type_)
    assert _drain(database, data_dir) == 1
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.status == "failed"
        assert "current, open billing period" in (job.error or "")
    assert _count(database, BillingRun, BillingRun.period == OPEN) == 0
    assert _count(database, Invoice, Invoice.period == OPEN) == 0


def test_a_job_whose_period_became_ineligible_fails_without_effect(
    billing: Billing, database: Database, data_dir: Path
):
    """Queued while eligible; the contract was deactivated before it ran."""
    job_id = _enqueue(database, billing.world.nodes["cust_a1x"].id, "2026-09", "recalculation")
    with database.session() as s:
        contract = s.get(Contract, billing.contract_ids["cust_a1x"])
        assert contract is not None
        contract.active = False
    assert _drain(database, data_dir) == 1
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.status == "failed"
        assert "Ineligible" in (job.error or "")
        assert "active contract" in (job.error or "")
    assert _count(database, BillingRun) == 0


def test_a_cascade_skips_a_customer_for_whom_the_period_is_not_eligible(
    client: TestClient, billing: Billing, database: Database
):
    """The mover belonged to A1y in August, but A1y's contract only starts in
    September: no cascade job for A1y's August."""
    with database.session() as s:
        contract = s.get(Contract, billing.contract_ids["cust_a1y"])
        assert contract is not None
        contract.coverage_start = date(2026, 9, 1)
    w = billing.world
    r = client.post(
        "/api/v1/billing-utilities/recalculations",
        json={
            "customer_id": w.nodes["cust_a1x"].id,
            "periods": ["2026-08"],
            "reason": "incorrect_charges",
        },
        headers=w.headers(PARTNER),
    )
    assert r.status_code == 202, r.text
    assert [j["customer_name"] for j in r.json()["jobs"]] == ["Cust A1x"]


def test_invoices_for_the_open_month_are_never_generated_or_issued(
    client: TestClient, billing: Billing, database: Database
):
    w = billing.world
    admin = w.headers("platform_admin")
    cust = w.nodes["cust_a1x"].id
    r = client.post(
        "/api/v1/invoices/generate", json={"customer_id": cust, "period": OPEN}, headers=admin
    )
    assert r.status_code == 422, r.text
    assert "current, open billing period" in r.json()["detail"]
    # An invoice for the open month that got into the database anyway is not issued.
    with database.session() as s:
        s.add(InvoiceSeries(series="S-test", prefix="T-", next_number=1))
        inv = Invoice(
            customer_id=cust,
            period=OPEN,
            type="monthly",
            status="ready",
            series="S-test",
            currency="EUR",
            subtotal=Decimal("10.00"),
            tax_rate=Decimal("0.2"),
            tax=Decimal("2.00"),
            total=Decimal("12.00"),
        )
        s.add(inv)
        s.flush()
        invoice_id = inv.id
    r = client.post(f"/api/v1/invoices/{invoice_id}/issue", headers=admin)
    assert r.status_code == 422, r.text
    assert "current, open billing period" in r.json()["detail"]
    page = client.post(f"/invoices/{invoice_id}/issue", headers=admin, follow_redirects=False)
    assert page.status_code == 422
    with database.session() as s:
        inv = s.get(Invoice, invoice_id)
        assert inv is not None
        assert inv.status == "ready"
        assert inv.number is None
