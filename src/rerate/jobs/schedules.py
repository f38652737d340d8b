"""Schedules: jobs to run later (one-shot) or on a cron expression (UTC).

Every worker looks for due schedules; the `schedule_occurrences` unique key
(schedule, occurrence instant) is what makes an occurrence fire once however
many workers see it due at the same moment. The `expand` callback says which
(customer, period) targets an occurrence covers and which of them the
caller's rules refuse (the billing code applies its eligibility rules there);
the occurrence row records what was queued, refused or skipped, and why.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import (
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Session

from rerate.jobs.cron import parse_cron
from rerate.jobs.queue import enqueue
from rerate.kit import bounds
from rerate.kit.db import Database
from rerate.kit.errors import Conflict, Invalid
from rerate.kit.periods import Month
from rerate.models import Node, User
from rerate.models.base import utcnow
from rerate.models.enums import JobType, NodeKind, ReasonCode
from rerate.models.jobs import JobSchedule, ScheduleOccurrence

log = logging.getLogger(__name__)

LAST_CLOSED_MONTH = "last_closed_month"
PERIOD_RULE_PATTERN = f"^({LAST_CLOSED_MONTH}|{bounds.PERIOD_PATTERN[1:-1]})$"
# Bounds the catch-up search for the latest missed occurrence (an every-minute
# cron left unattended for months); past it the schedule fires what it found.
_MAX_CATCH_UP = 100_000


@dataclass(frozen=True, slots=True)
class Target:
    """One (customer, period) an occurrence covers; `refused` says why no job may
    be queued for it (empty: queue one)."""

    customer_id: int
    period: str
    refused: str = ""
    lock_key: str | None = None  # see queue.enqueue


Expand = Callable[[Session, JobSchedule, datetime], list[Target]]
ActorLabelFor = Callable[[Session, JobSchedule], str]


def resolve_period_rule(rule: str, now: datetime) -> str:
    """The `YYYY-MM` period a schedule's occurrence at `now` covers.

    `last_closed_month`: the calendar month before the one containing `now`,
    in UTC. (A customer whose billing time zone is behind UTC is still inside
    that month for a few hours after midnight UTC: cron such schedules a few
    hours into the month.) A fixed `YYYY-MM` is returned as is.
    """
    if rule == LAST_CLOSED_MONTH:
        if now.tzinfo is None:
            raise ValueError("naive datetime: schedules work in aware UTC instants")
        return str(Month.of(now.astimezone(UTC).date()).previous())
    if re.match(PERIOD_RULE_PATTERN, rule):
        return rule
    raise Invalid(
        f"period rule must be {LAST_CLOSED_MONTH!r} or YYYY-MM "
        f"({bounds.MIN_YEAR}-01 to {bounds.MAX_YEAR}-12), got {rule[:40]!r}"
    )


def create_schedule(
    session: Session,
    *,
    name: str,
    type: JobType,  # shadows the builtin on purpose: it is the column's name
    cron: str = "",
    run_at: datetime | None = None,
    customer_id: int | None = None,
    period_rule: str = LAST_CLOSED_MONTH,
    reason: ReasonCode | str,
    explanation: str,
    actor_id: int | None,
) -> JobSchedule:
    """A cron schedule (`cron`) or a one-shot one (`run_at`); exactly one of the two.

    Validates the cron expression (`CronError`, 422, says what is wrong) and
    the period rule; the caller commits.
    """
    if bool(cron.strip()) == (run_at is not None):
        raise Invalid("give either a cron expression or a run_at instant, not both or neither")
    resolve_period_rule(period_rule, utcnow())  # validates the rule
    try:
        reason_code = ReasonCode(reason)
    except ValueError:
        raise Invalid(f"unknown reason {reason!r}") from None
    if run_at is not None:
        try:
            # A year the periods cannot hold would fail every time it fires.
            next_run_at = bounds.check_instant(run_at, "run_at")
        except ValueError as exc:
            raise Invalid(str(exc)) from None
    else:
        next_run_at = parse_cron(cron).next_after(utcnow())
    schedule = JobSchedule(
        name=name,
        type=JobType(type).value,
        cron=cron.strip(),
        customer_id=customer_id,
        period_rule=period_rule,
        reason=reason_code.value,
        explanation=explanation,
        actor_id=actor_id,
        enabled=True,
        next_run_at=next_run_at,
        created_at=utcnow(),
    )
    session.add(schedule)
    session.flush()
    return schedule


def default_expand(session: Session, schedule: JobSchedule, at: datetime) -> list[Target]:
    """Targets of one occurrence: the schedule's customer, or every customer; no rules."""
    period = resolve_period_rule(schedule.period_rule, at)
    if schedule.customer_id is not None:
        return [Target(schedule.customer_id, period)]
    ids = session.scalars(
        select(Node.id).where(Node.kind == NodeKind.CUSTOMER.value).order_by(Node.id)
    )
    return [Target(customer_id, period) for customer_id in ids]


def default_actor_label(session: Session, schedule: JobSchedule) -> str:
    """'schedule "<name>" (<creator's email>)': the jobs log shows who set it up."""
    user = session.get(User, schedule.actor_id) if schedule.actor_id is not None else None
    suffix = f" ({user.email})" if user is not None else ""
    return f'schedule "{schedule.name}"{suffix}'[:320]  # the width of jobs.actor_label


def fire_due_schedules(
    db: Database,
    *,
    now: datetime | None = None,
    expand: Expand = default_expand,
    actor_label_for: ActorLabelFor = default_actor_label,
) -> int:
    """Fire every enabled schedule whose `next_run_at` has come; return the jobs enqueued.

    Each schedule fires in its own transaction: record the occurrence (the
    unique key makes a second worker's insert fail, and it skips), enqueue a
    job per (customer, period) that `expand` returns (one already active for
    that pair is skipped and logged), then advance `next_run_at`. A schedule
    missed for several occurrences (no worker running) fires once, for the
    latest occurrence due; the older ones are logged as skipped.
    """
    now = now or utcnow()
    with db.session() as s:
        due = list(
            s.scalars(
                select(JobSchedule.id)
                .where(JobSchedule.enabled.is_(True), JobSchedule.next_run_at <= now)
                .order_by(JobSchedule.next_run_at, JobSchedule.id)
            )
        )
    enqueued = 0
    for schedule_id in due:
        try:
            enqueued += _fire_one(db, schedule_id, now, expand, actor_label_for)
        except _TRANSIENT:
            # The database hiccupped: the schedule is still due, the next look retries it.
            log.warning("schedule %s could not fire, will retry", schedule_id, exc_info=True)
        except Exception:
            # One broken schedule (an expand that raises) must not starve the
            # others, nor be retried at every look forever: it would fail the
            # same way each time. This occurrence is given up.
            log.exception("schedule %s could not fire; giving up this occurrence", schedule_id)
            _give_up(db, schedule_id, now)
    return enqueued


# Failures worth retrying at the next look; any other one would fail again.
_TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, SQLAlchemyTimeoutError)


def _give_up(db: Database, schedule_id: int, now: datetime) -> None:
    """Move a schedule that failed to fire past this occurrence: a cron one to
    its next occurrence, a one-shot one (or an unreadable cron) disabled."""
    try:
        with db.write_session() as s:
            schedule = s.get(JobSchedule, schedule_id, populate_existing=True)
            if schedule is None:
                return
            try:
                schedule.next_run_at = parse_cron(schedule.cron).next_after(now)
            except Exception:  # no cron (one-shot), or one that no longer parses
                schedule.enabled = False
                schedule.next_run_at = None
    except _TRANSIENT:
        log.warning("schedule %s: could not record the failure", schedule_id, exc_info=True)


def _fire_one(
    db: Database, schedule_id: int, now: datetime, expand: Expand, actor_label_for: ActorLabelFor
) -> int:
    with db.write_session() as s:
        schedule = s.get(JobSchedule, schedule_id, populate_existing=True)
        if (
            schedule is None
            or not schedule.enabled
            or schedule.next_run_at is None
            or schedule.next_run_at > now
        ):
            return 0  # another worker fired it since we looked
        due_at = schedule.next_run_at
        occurrence_at = _latest_due(schedule, due_at, now)
        if occurrence_at != due_at:
            log.warning(
                "schedule %s (%s) missed occurrences from %s; firing the latest, %s",
                schedule.id,
                schedule.name,
                due_at.isoformat(),
                occurrence_at.isoformat(),
            )
        occurrence = ScheduleOccurrence(
            schedule_id=schedule.id, occurrence_at=occurrence_at, request_id=str(uuid.uuid4())
        )
        try:
            with s.begin_nested():
                s.add(occurrence)
                s.flush()
        except IntegrityError:
            # Another worker recorded this occurrence first and enqueued its jobs.
            log.info("schedule %s occurrence %s already fired", schedule.id, occurrence_at)
            s.refresh(schedule)
            if schedule.next_run_at == due_at:  # it fired but never advanced: unstick it
                _advance(schedule, occurrence_at, now)
            return 0
        label = actor_label_for(s, schedule)
        count = 0
        missed: list[dict[str, object]] = []  # targets that got no job, and why
        targets = expand(s, schedule, occurrence_at)
        for target in targets:
            if target.refused:
                log.warning(
                    "schedule %s occurrence %s: refused customer %s period %s: %s",
                    schedule.id,
                    occurrence_at,
                    target.customer_id,
                    target.period,
                    target.refused,
                )
                missed.append(_missed(target, "refused", target.refused))
                continue
            try:
                enqueue(
                    s,
                    type=JobType(schedule.type),
                    customer_id=target.customer_id,
                    period=target.period,
                    reason=schedule.reason,
                    explanation=schedule.explanation,
                    actor_id=schedule.actor_id,
                    actor_label=label,
                    request_id=occurrence.request_id,
                    schedule_id=schedule.id,
                    lock_key=target.lock_key,
                )
                count += 1
            except Conflict as exc:
                log.info(
                    "schedule %s occurrence %s: skipped customer %s period %s: %s",
                    schedule.id,
                    occurrence_at,
                    target.customer_id,
                    target.period,
                    exc.detail,
                )
                missed.append(_missed(target, "skipped", exc.detail))
        occurrence.jobs_queued = count
        occurrence.outcome = _outcome(count, missed, total=len(targets))
        occurrence.detail = json.dumps(missed)
        _advance(schedule, occurrence_at, now)
        return count


def _missed(target: Target, outcome: str, reason: str) -> dict[str, object]:
    return {
        "customer_id": target.customer_id,
        "period": target.period,
        "outcome": outcome,
        "reason": reason,
    }


def _outcome(queued: int, missed: list[dict[str, object]], *, total: int) -> str:
    if total == 0:
        return "empty"
    if not missed:
        return "queued"
    if queued:
        return "partial"
    return "refused" if any(m["outcome"] == "refused" for m in missed) else "skipped"


def _latest_due(schedule: JobSchedule, due_at: datetime, now: datetime) -> datetime:
    if not schedule.cron:
        return due_at
    expr = parse_cron(schedule.cron)
    latest = due_at
    for _ in range(_MAX_CATCH_UP):
        following = expr.next_after(latest)
        if following > now:
            break
        latest = following
    return latest


def _advance(schedule: JobSchedule, occurrence_at: datetime, now: datetime) -> None:
    schedule.last_run_at = now
    if schedule.cron:
        schedule.next_run_at = parse_cron(schedule.cron).next_after(max(occurrence_at, now))
    else:
        schedule.enabled = False  # one-shot: done
        schedule.next_run_at = None
