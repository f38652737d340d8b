from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rerate.jobs.cron import CronError
from rerate.jobs.schedules import (
    Target,
    create_schedule,
    fire_due_schedules,
    resolve_period_rule,
)
from rerate.kit.db import Database
from rerate.kit.errors import Invalid
from rerate.models.enums import JobType, ReasonCode
from rerate.models.jobs import Job, JobSchedule, ScheduleOccurrence
from tests.jobs.helpers import add_job

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "now", "period"),
    [
        ("last_closed_month", datetime(2025, 3, 10, 12, 0, tzinfo=UTC), "2025-02"),
        ("last_closed_month", datetime(2025, 1, 1, 0, 0, tzinfo=UTC), "2024-12"),
        ("last_closed_month", datetime(2025, 2, 28, 23, 59, tzinfo=UTC), "2025-01"),
        ("2023-07", datetime(2025, 3, 10, tzinfo=UTC), "2023-07"),
    ],
)
def test_resolve_period_rule(rule: str, now: datetime, period: str) -> None:
    assert resolve_period_rule(rule, now) == period


def test_resolve_period_rule_refuses_unknown_rules() -> None:
    with pytest.raises(Invalid, match="period rule"):
        resolve_period_rule("2025-13", NOW)


def _schedule(
    db: Database,
    *,
    cron: str = "",
    run_at: datetime | None = None,
    customer_id: int | None = None,
    next_run_at: datetime | None = None,
    type: JobType = JobType.CACHE_SYNC,
) -> int:
    with db.session() as s:
        schedule = create_schedule(
            s,
            name="nightly",
            type=type,
            cron=cron,
            run_at=run_at,
            customer_id=customer_id,
            reason=ReasonCode.DATA_CORRECTION,
            explanation="scheduled",
            actor_id=None,
        )
        if next_run_at is not None:
            schedule.next_run_at = next_run_at  # as if created long ago
        return schedule.id


def _count(db: Database, model: type[Job] | type[ScheduleOccurrence]) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _get_schedule(db: Database, schedule_id: int) -> JobSchedule:
    with db.session() as s:
        schedule = s.get(JobSchedule, schedule_id)
        assert schedule is not None
        return schedule


def test_create_schedule_validates_its_input(database: Database, customer_id: int) -> None:
    with database.session() as s:
        with pytest.raises(CronError, match="outside 0-23"):
            create_schedule(
                s, name="x", type=JobType.CACHE_SYNC, cron="0 25 * * *",
                reason=ReasonCode.OTHER, explanation="", actor_id=None,
            )  # fmt: skip
        with pytest.raises(Invalid, match="not both or neither"):
            create_schedule(
                s, name="x", type=JobType.CACHE_SYNC, reason=ReasonCode.OTHER,
                explanation="", actor_id=None,
            )  # fmt: skip
        with pytest.raises(Invalid, match="period rule"):
            create_schedule(
                s, name="x", type=JobType.CACHE_SYNC, cron="@daily", period_rule="monthly",
                reason=ReasonCode.OTHER, explanation="", actor_id=None,
            )  # fmt: skip
    schedule = _get_schedule(database, _schedule(database, cron="0 3 * * *"))
    assert schedule.next_run_at is not None
    assert (schedule.next_run_at.hour, schedule.next_run_at.minute) == (3, 0)
    assert schedule.enabled


def test_cron_schedule_fires_one_job_and_advances(database: Database, customer_id: int) -> None:
    schedule_id = _schedule(
        database, cron="0 3 * * *", customer_id=customer_id, next_run_at=NOW - timedelta(hours=9)
    )
    assert fire_due_schedules(database, now=NOW) == 1
    with database.session() as s:
        job = s.scalars(select(Job)).one()
        occurrence = s.scalars(select(ScheduleOccurrence)).one()
    assert (job.customer_id, job.period, job.type) == (customer_id, "2025-02", "cache_sync")
    assert job.schedule_id == schedule_id
    assert job.request_id == occurrence.request_id
    assert job.actor_label == 'schedule "nightly"'
    assert occurrence.occurrence_at == datetime(2025, 3, 10, 3, 0, tzinfo=UTC)
    schedule = _get_schedule(database, schedule_id)
    assert schedule.next_run_at == datetime(2025, 3, 11, 3, 0, tzinfo=UTC)
    assert schedule.last_run_at == NOW
    # Seen again at the same instant: nothing is due any more.
    assert fire_due_schedules(database, now=NOW) == 0
    assert _count(database, Job) == 1


def test_one_shot_schedule_fires_once_and_disables_itself(
    database: Database, customer_id: int
) -> None:
    schedule_id = _schedule(database, run_at=NOW - timedelta(minutes=1), customer_id=customer_id)
    assert fire_due_schedules(database, now=NOW - timedelta(minutes=2)) == 0  # not yet
    assert fire_due_schedules(database, now=NOW) == 1
    assert fire_due_schedules(database, now=NOW + timedelta(days=1)) == 0
    schedule = _get_schedule(database, schedule_id)
    assert (schedule.enabled, schedule.next_run_at) == (False, None)


def test_schedule_without_customer_enqueues_one_job_per_customer(
    database: Database, customers: list[int]
) -> None:
    _schedule(database, cron="0 3 * * *", next_run_at=NOW)
    assert fire_due_schedules(database, now=NOW) == len(customers)
    with database.session() as s:
        got = sorted(
            (r.customer_id, r.period) for r in s.execute(select(Job.customer_id, Job.period))
        )
    assert got == [(c, "2025-02") for c in sorted(customers)]


def test_a_customer_with_an_active_job_is_skipped_and_logged(
    database: Database, customers: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    busy = add_job(database, customers[1], "2025-02", type=JobType.CACHE_SYNC)
    schedule_id = _schedule(database, cron="0 3 * * *", next_run_at=NOW)
    with caplog.at_level(logging.INFO, logger="rerate.jobs.schedules"):
        assert fire_due_schedules(database, now=NOW) == len(customers) - 1
    assert f"skipped customer {customers[1]} period 2025-02: job {busy} " in caplog.text
    assert _count(database, ScheduleOccurrence) == 1
    assert _get_schedule(database, schedule_id).next_run_at == NOW + timedelta(hours=15)
    with database.session() as s:
        occurrence = s.scalars(select(ScheduleOccurrence)).one()
    assert (occurrence.outcome, occurrence.jobs_queued) == ("partial", len(customers) - 1)
    [skipped] = json.loads(occurrence.detail)
    assert skipped["customer_id"] == customers[1]
    assert skipped["outcome"] == "skipped"
    assert f"job {busy}" in skipped["reason"]


def test_targets_the_expand_refuses_are_recorded_not_queued(
    database: Database, customers: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    def expand(_s: Session, _schedule: JobSchedule, _at: datetime) -> list[Target]:
        return [Target(customers[0], "2025-02"), Target(customers[1], "2025-03", "still open")]

    schedule_id = _schedule(database, cron="0 3 * * *", next_run_at=NOW)
    with caplog.at_level(logging.WARNING, logger="rerate.jobs.schedules"):
        assert fire_due_schedules(database, now=NOW, expand=expand) == 1
    assert f"refused customer {customers[1]} period 2025-03: still open" in caplog.text
    with database.session() as s:
        jobs = [(j.customer_id, j.period) for j in s.scalars(select(Job))]
        occurrence = s.scalars(
            select(ScheduleOccurrence).where(ScheduleOccurrence.schedule_id == schedule_id)
        ).one()
    assert jobs == [(customers[0], "2025-02")]
    assert (occurrence.outcome, occurrence.jobs_queued) == ("partial", 1)
    assert json.loads(occurrence.detail) == [
        {
            "customer_id": customers[1],
            "period": "2025-03",
            "outcome": "refused",
            "reason": "still open",
        }
    ]


def test_an_occurrence_already_recorded_does_not_fire_again(
    database: Database, customer_id: int
) -> None:
    due = NOW - timedelta(minutes=5)
    schedule_id = _schedule(database, cron="55 11 * * *", customer_id=customer_id, next_run_at=due)
    # Another worker recorded the occurrence but (say) crashed before advancing.
    with database.session() as s:
        s.add(ScheduleOccurrence(schedule_id=schedule_id, occurrence_at=due, request_id="r"))
    assert fire_due_schedules(database, now=NOW) == 0
    assert _count(database, Job) == 0
    assert _count(database, ScheduleOccurrence) == 1
    # ... and the schedule is not stuck on it.
    assert _get_schedule(database, schedule_id).next_run_at == due + timedelta(days=1)


def test_two_concurrent_callers_fire_an_occurrence_once(
    database: Database, customers: list[int]
) -> None:
    _schedule(database, cron="0 * * * *", next_run_at=NOW)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def fire() -> None:
        barrier.wait()
        counts.append(fire_due_schedules(database, now=NOW))

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(counts) == [0, len(customers)]
    assert _count(database, ScheduleOccurrence) == 1
    assert _count(database, Job) == len(customers)


def test_missed_occurrences_fire_once_for_the_latest(
    database: Database, customer_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    schedule_id = _schedule(
        database, cron="0 * * * *", customer_id=customer_id, next_run_at=NOW - timedelta(hours=5)
    )
    with caplog.at_level(logging.WARNING, logger="rerate.jobs.schedules"):
        assert fire_due_schedules(database, now=NOW + timedelta(minutes=30)) == 1
    assert "missed occurrences" in caplog.text
    with database.session() as s:
        occurrence = s.scalars(select(ScheduleOccurrence)).one()
    assert occurrence.occurrence_at == NOW
    assert _get_schedule(database, schedule_id).next_run_at == NOW + timedelta(hours=1)


def test_disabled_schedules_do_not_fire(database: Database, customer_id: int) -> None:
    schedule_id = _schedule(database, cron="* * * * *", customer_id=customer_id, next_run_at=NOW)
    with database.session() as s:
        s.execute(update(JobSchedule).where(JobSchedule.id == schedule_id).values(enabled=False))
    assert fire_due_schedules(database, now=NOW) == 0


@pytest.mark.parametrize(
    "run_at",
    [
        datetime(5, 3, 1, tzinfo=UTC),
        datetime(1899, 12, 31, tzinfo=UTC),
        datetime(9999, 6, 1, tzinfo=UTC),
    ],
)
def test_a_one_shot_in_a_year_the_periods_cannot_hold_is_refused_at_create(
    database: Database, customer_id: int, run_at: datetime
) -> None:
    with pytest.raises(Invalid, match="run_at: the year must be 1900 to 9998"):
        _schedule(database, run_at=run_at, customer_id=customer_id)
    assert _count(database, Job) == 0


def _stored_before_validation(db: Database, schedule_id: int, **values: object) -> None:
    with db.session() as s:
        s.execute(update(JobSchedule).where(JobSchedule.id == schedule_id).values(**values))


def test_a_one_shot_that_cannot_fire_is_disabled_not_retried_at_every_look(
    database: Database, customer_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    schedule_id = _schedule(database, run_at=NOW, customer_id=customer_id)
    # Year 5, as the API accepted before: its period (year 4) cannot exist.
    _stored_before_validation(database, schedule_id, next_run_at=datetime(5, 3, 1, tzinfo=UTC))
    with caplog.at_level(logging.ERROR, logger="rerate.jobs.schedules"):
        assert fire_due_schedules(database, now=NOW) == 0
    assert "giving up this occurrence" in caplog.text
    schedule = _get_schedule(database, schedule_id)
    assert (schedule.enabled, schedule.next_run_at) == (False, None)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="rerate.jobs.schedules"):
        for later in range(1, 4):  # the worker looks every lease/3 s
            assert fire_due_schedules(database, now=NOW + timedelta(seconds=10 * later)) == 0
    assert caplog.text == ""


def test_a_cron_schedule_that_cannot_fire_skips_to_its_next_occurrence(
    database: Database, customer_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    schedule_id = _schedule(database, cron="0 3 * * *", customer_id=customer_id, next_run_at=NOW)
    _stored_before_validation(database, schedule_id, period_rule="0000-01")
    with caplog.at_level(logging.ERROR, logger="rerate.jobs.schedules"):
        assert fire_due_schedules(database, now=NOW) == 0
        assert fire_due_schedules(database, now=NOW + timedelta(seconds=10)) == 0
    assert caplog.text.count("giving up this occurrence") == 1
    schedule = _get_schedule(database, schedule_id)
    assert schedule.enabled
    assert schedule.next_run_at == NOW + timedelta(hours=15)  # 03:00 the next day
    assert _count(database, Job) == 0
