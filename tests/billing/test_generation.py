"""generate_monthly_billing_records: the entry point of the application, the
CLI and the every-customer schedules; idempotent, eligibility-gated."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from rerate.billing.generation import generate_monthly_billing_records, plan_generation
from rerate.billing.tasks import expand_schedule
from rerate.jobs import schedules
from rerate.kit.db import Database
from rerate.kit.errors import Invalid
from rerate.kit.periods import Month
from rerate.models import CurrentRun, Job, JobSchedule, ScheduleOccurrence
from rerate.models.enums import JobType
from tests.billing.fixtures import Billing
from tests.billing.test_billing_utilities import drain


def test_generation_queues_each_eligible_customer_month_once(
    database: Database, data_dir: Path, billing: Billing
):
    n = billing.world.nodes
    ids = {n["cust_a1x"].id, n["cust_a1y"].id}
    with database.write_session() as s:
        first = generate_monthly_billing_records(s, date(2026, 8, 31), date(2026, 9, 2))
    assert first.months == ["2026-08", "2026-09"]
    assert {(j.customer_id, j.period) for j in first.jobs} == {
        (c, p) for c in ids for p in ("2026-08", "2026-09")
    }
    assert {j.status for j in first.jobs} == {"queued"}
    assert first.refused == []
    with database.write_session() as s:
        again = generate_monthly_billing_records(s, date(2026, 9, 1), date(2026, 10, 1))
        jobs = s.scalars(select(Job)).all()
        assert len(jobs) == 4  # September's two jobs are answered, not queued again
        assert {j.actor_label for j in jobs} == {"system"}
    assert {(j.job_id, j.status) for j in again.jobs} == {
        (j.job_id, "active") for j in first.jobs if j.period == "2026-09"
    }
    assert drain(database, data_dir) == 4
    with database.session() as s:
        published = {(c.customer_id, c.period) for c in s.scalars(select(CurrentRun))}
    assert published == {(c, p) for c in ids for p in ("2026-08", "2026-09")}


def test_refusals_and_bad_ranges(database: Database, billing: Billing):
    n = billing.world.nodes
    now = datetime(2026, 9, 10, tzinfo=UTC)
    with database.write_session() as s:
        g = generate_monthly_billing_records(s, date(2026, 8, 1), date(2026, 10, 1), now=now)
        assert {(j.customer_id, j.period) for j in g.jobs} == {
            (n["cust_a1x"].id, "2026-08"),
            (n["cust_a1y"].id, "2026-08"),
        }
        assert {(t.period, "current, open billing period" in t.refused) for t in g.refused} == {
            ("2026-09", True)
        }
        for start, end, text in (
            (date(2026, 8, 2), date(2026, 8, 1), "must be after start"),
            (date(2026, 1, 1), date(2027, 1, 3), "at most 366"),
            (date(1999, 12, 1), date(2000, 1, 2), "earliest period"),
            (date(2026, 10, 1), date(2026, 11, 1), "has not begun"),
        ):
            with pytest.raises(Invalid, match=text):
                generate_monthly_billing_records(s, start, end, now=now)


def test_every_customer_recalculation_schedule_is_the_scheduled_generation(
    database: Database, data_dir: Path, billing: Billing
):
    """A schedule recalculating every customer's last closed month picks the
    (customer, month) pairs the entry point would, refusals included."""
    at = datetime(2026, 10, 1, 2, tzinfo=UTC)
    with database.write_session() as s:
        schedule = schedules.create_schedule(
            s,
            name="nightly generation",
            type=JobType.RECALCULATION,
            cron="0 2 1 * *",
            reason="other",
            explanation="monthly billing generation",
            actor_id=None,
        )
        targets = expand_schedule(s, schedule, at)
        expected = plan_generation(
            s,
            [Month(2026, 9)],
            sorted([billing.world.nodes["cust_a1x"].id, billing.world.nodes["cust_a1y"].id]),
            now=at,
        )
        assert targets == expected
        assert {t.period for t in targets} == {"2026-09"}
        assert all(not t.refused for t in targets)
        schedule.next_run_at = at
        schedule_id = schedule.id
    assert schedules.fire_due_schedules(database, now=at, expand=expand_schedule) == 2
    with database.session() as s:
        occurrence = s.scalar(
            select(ScheduleOccurrence).where(ScheduleOccurrence.schedule_id == schedule_id)
        )
        assert occurrence is not None
        assert occurrence.outcome == "queued"
        assert s.get(JobSchedule, schedule_id) is not None
