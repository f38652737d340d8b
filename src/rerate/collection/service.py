"""Regions and their collection sources: configure, show (never a secret),
dispatch collection jobs; the platform-aware path scheduled and manual
collection share (docs/collection.md).

Managing regions is for platform roles (`manage_regions`). A region's source
belongs to a tenant node (`owner_node_id`, the platform by default): its
collector imports usage with that node's scope, so a distributor's region
can only bring usage for accounts of the distributor's own customers, and
callers holding `view` on that node see the region (without its secret).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.collection import secrets
from rerate.jobs.cron import parse_cron
from rerate.jobs.queue import enqueue
from rerate.jobs.schedules import create_schedule
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.models import Job, JobSchedule, Node, Region, ScheduleOccurrence
from rerate.models.base import utcnow
from rerate.models.collection import PLATFORMS, CollectedFile, CollectionRun, CollectionSource
from rerate.models.enums import JobType, NodeKind, ReasonCode

PLATFORM_LABELS = {
    "azure_stack": "Azure Stack Hub",
    "azure_local": "Azure Local",
    "public_azure": "Public Azure",
    "cloudstack": "CloudStack",
}

# Per platform: required settings, optional ones, and whether a secret is needed.
_COMMON = ("sku_map", "max_retries", "backoff_s", "max_backoff_s", "timeout_s", "lookback_days")
SETTINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "cloudstack": (("endpoint", "api_key"), ("page_size", "domain_id", *_COMMON), True),
    "public_azure": (("folder",), ("export_name", "tag_key", *_COMMON), False),
    "azure_stack": (
        ("endpoint", "subscription_id"),
        ("token_url", "client_id", "resource", "meter_aliases", "tag_key", "api_version", *_COMMON),
        True,
    ),
    "azure_local": (("inventory_url",), ("max_gap_hours", "tag_key", *_COMMON), False),
}
DEFAULT_CRON = "30 3 * * *"  # daily, 03:30 UTC: after the platforms close the previous day
DEFAULT_LOOKBACK_DAYS = 3
MAX_RANGE_DAYS = 366
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_URL_KEYS = ("endpoint", "token_url", "inventory_url")


def lock_key(source_id: int) -> str:
    return f"region:{source_id}"


# ---------------------------------------------------------------------- validation


def check_settings(platform: str, settings: Any) -> dict[str, Any]:
    """The settings of `platform`, checked: 422 naming the field otherwise."""
    if platform not in PLATFORMS:
        raise Invalid(
            f"platform: must be one of {', '.join(PLATFORMS)}, got {platform!r}", field="platform"
        )
    if not isinstance(settings, dict):
        raise Invalid("settings: must be an object", field="settings")
    required, optional, _ = SETTINGS[platform]
    unknown = sorted(set(settings) - set(required) - set(optional))
    if unknown:
        raise Invalid(
            f"settings.{unknown[0]}: not a {platform} setting "
            f"(known: {', '.join((*required, *optional))})",
            field=f"settings.{unknown[0]}",
        )
    for key in required:
        if settings.get(key) in (None, ""):
            raise Invalid(f"settings.{key}: required for {platform}", field=f"settings.{key}")
    for key in _URL_KEYS:
        value = settings.get(key)
        if value is None:
            continue
        # Azure Local's inventory may also be a local folder an exporter writes to.
        if key == "inventory_url" and re.match(r"^file:///[^\s]*$", str(value)):
            continue
        if not re.match(r"^https?://[^\s]+$", str(value)):
            raise Invalid(f"settings.{key}: must be an http(s) URL", field=f"settings.{key}")
    for key in ("page_size", "max_retries", "lookback_days"):
        value = settings.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise Invalid(f"settings.{key}: must be a whole number >= 0", field=f"settings.{key}")
    if settings.get("page_size") == 0:
        raise Invalid("settings.page_size: must be at least 1", field="settings.page_size")
    for key in ("backoff_s", "max_backoff_s", "timeout_s", "max_gap_hours"):
        value = settings.get(key)
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or value < 0
        ):
            raise Invalid(f"settings.{key}: must be a number >= 0", field=f"settings.{key}")
    for key in ("sku_map", "meter_aliases"):
        value = settings.get(key)
        if value is not None and (
            not isinstance(value, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise Invalid(
                f"settings.{key}: must be an object of text to text", field=f"settings.{key}"
            )
    for key, value in settings.items():
        if isinstance(value, str) and len(value) > 2000:
            raise Invalid(f"settings.{key}: longer than 2000 characters", field=f"settings.{key}")
        if key not in ("sku_map", "meter_aliases") and isinstance(value, dict | list):
            raise Invalid(f"settings.{key}: must be a single value", field=f"settings.{key}")
    return dict(settings)


def parse_range(start: date, end: date) -> tuple[date, date]:
    """`[start, end)`: start included, end the day after the last one collected."""
    if end <= start:
        raise Invalid("end: must be after start (the range is [start, end))", field="end")
    if (end - start).days > MAX_RANGE_DAYS:
        raise Invalid(f"end: a collection covers at most {MAX_RANGE_DAYS} days", field="end")
    if start < date(2000, 1, 1):
        raise Invalid("start: before 2000-01-01", field="start")
    if end > (utcnow() + timedelta(days=1)).date():
        raise Invalid("end: in the future (days are collected once they are over)", field="end")
    return start, end


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class RegionRecord:
    region: Region
    source: CollectionSource | None
    owner: Node | None


def _visible(principal: Principal, owner: Node | None) -> bool:
    if principal.is_platform():
        return True
    return owner is not None and principal.has(Permission.VIEW, owner.path)


def list_regions(session: Session, principal: Principal) -> list[RegionRecord]:
    """Platform roles: every region (reference ones without a source too);
    others: the regions whose source is owned inside their view scope."""
    rows = session.execute(
        select(Region, CollectionSource, Node)
        .outerjoin(CollectionSource, CollectionSource.region_id == Region.id)
        .outerjoin(Node, Node.id == CollectionSource.owner_node_id)
        .order_by(Region.code)
    ).all()
    return [RegionRecord(r, s, n) for r, s, n in rows if _visible(principal, n)]


def get_region(session: Session, principal: Principal, region_id: int) -> RegionRecord:
    row = session.execute(
        select(Region, CollectionSource, Node)
        .outerjoin(CollectionSource, CollectionSource.region_id == Region.id)
        .outerjoin(Node, Node.id == CollectionSource.owner_node_id)
        .where(Region.id == region_id)
    ).first()
    if row is None or not _visible(principal, row[2]):
        raise NotFound(f"region {region_id} not found")
    return RegionRecord(row[0], row[1], row[2])


def settings_of(source: CollectionSource) -> dict[str, Any]:
    loaded = json.loads(source.settings or "{}")
    return loaded if isinstance(loaded, dict) else {}


def region_view(record: RegionRecord) -> dict[str, Any]:
    """A region as the API, console and CLI show it: the secret never, only
    whether one is set and, for an environment reference, the variable."""
    region, source = record.region, record.source
    view: dict[str, Any] = {
        "id": region.id,
        "code": region.code,
        "name": region.name,
        "platform": source.platform if source else None,
        "platform_label": PLATFORM_LABELS.get(source.platform, "") if source else "",
        "reference_platform": region.platform,
        "collection": source is not None,
        "owner_node_id": source.owner_node_id if source else None,
        "owner_name": record.owner.name if record.owner else None,
        "settings": settings_of(source) if source else {},
        "secret": secrets.describe(source.secret if source else None),
        "secret_set": bool(source and source.secret),
        "enabled": bool(source and source.enabled),
        "schedule_id": source.schedule_id if source else None,
        "collected_through": source.collected_through if source else None,
    }
    return view


def schedule_of(session: Session, source: CollectionSource) -> JobSchedule | None:
    return session.get(JobSchedule, source.schedule_id) if source.schedule_id else None


# ---------------------------------------------------------------------- writing


def _owner(session: Session, owner_node_id: int | None) -> Node:
    if owner_node_id is None:
        node = session.scalars(
            select(Node).where(Node.kind == NodeKind.PLATFORM.value).order_by(Node.id).limit(1)
        ).first()
        if node is None:
            raise Invalid("owner_node_id: no platform node exists", field="owner_node_id")
        return node
    node = session.get(Node, owner_node_id)
    if node is None or node.kind == NodeKind.CUSTOMER.value:
        raise Invalid(
            "owner_node_id: must be the platform, a distributor or a reseller",
            field="owner_node_id",
        )
    return node


def _check_cron(cron: str) -> str:
    try:
        parse_cron(cron)
    except Exception as exc:
        raise Invalid(f"cron: {exc}", field="cron") from None
    return cron


def create_region(
    session: Session,
    principal: Principal,
    *,
    code: str,
    name: str,
    platform: str,
    settings: dict[str, Any],
    secret: str | None,
    secret_key: bytes,
    owner_node_id: int | None = None,
    enabled: bool = True,
    cron: str = DEFAULT_CRON,
) -> RegionRecord:
    """A region with its source and its daily collection schedule. A
    reference region of that code without a source (the demo's) gets the source."""
    principal.require(Permission.MANAGE_REGIONS)
    if not _CODE.match(code):
        raise Invalid("code: letters, digits, '.', '_' or '-', at most 64", field="code")
    checked = check_settings(platform, settings)
    needs_secret = SETTINGS[platform][2]
    if needs_secret and not secret:
        raise Invalid(f"secret: required for {platform}", field="secret")
    owner = _owner(session, owner_node_id)
    region = session.scalars(select(Region).where(Region.code == code)).first()
    if region is not None:
        if session.scalars(
            select(CollectionSource.id).where(CollectionSource.region_id == region.id)
        ).first():
            raise Conflict(f"region {code!r} exists already", region_id=region.id)
        region.name = name or region.name
        region.platform = platform
    else:
        region = Region(code=code, name=name or code, platform=platform)
        session.add(region)
        session.flush()
    schedule = create_schedule(
        session,
        name=f"collect usage: {code}",
        type=JobType.COLLECT_USAGE,
        cron=_check_cron(cron),
        customer_id=owner.id,
        reason=ReasonCode.OTHER,
        explanation=f"daily usage collection of region {code}",
        actor_id=principal.user_id,
    )
    schedule.enabled = enabled
    source = CollectionSource(
        region_id=region.id,
        owner_node_id=owner.id,
        platform=platform,
        settings=json.dumps(checked, sort_keys=True),
        secret=secrets.store_form(secret, secret_key) if secret else None,
        enabled=enabled,
        schedule_id=schedule.id,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(source)
    session.flush()
    return RegionRecord(region, source, owner)


_KEEP = object()


def update_region(
    session: Session,
    principal: Principal,
    region_id: int,
    *,
    secret_key: bytes,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
    secret: str | None = None,
    clear_secret: bool = False,
    enabled: bool | None = None,
    cron: str | None = None,
    owner_node_id: int | None = None,
) -> RegionRecord:
    """Change what is given; `settings` replaces the settings whole (the
    secret is separate: absent keeps it, `clear_secret` removes it)."""
    principal.require(Permission.MANAGE_REGIONS)
    record = get_region(session, principal, region_id)
    source = record.source
    if source is None:
        raise Invalid(
            "platform: this region has no collection source yet; create it with its "
            "platform and settings (POST /regions with its code)",
            field="platform",
        )
    if name is not None:
        if not name.strip():
            raise Invalid("name: empty", field="name")
        record.region.name = name
    if settings is not None:
        source.settings = json.dumps(check_settings(source.platform, settings), sort_keys=True)
    if secret is not None:
        source.secret = secrets.store_form(secret, secret_key)
    elif clear_secret:
        if SETTINGS[source.platform][2]:
            raise Invalid(f"secret: required for {source.platform}", field="secret")
        source.secret = None
    owner = record.owner
    if owner_node_id is not None:
        owner = _owner(session, owner_node_id)
        source.owner_node_id = owner.id
    schedule = schedule_of(session, source)
    if enabled is not None:
        source.enabled = enabled
    if schedule is not None:
        if cron is not None:
            schedule.cron = _check_cron(cron)
        if cron is not None or enabled is not None:
            schedule.enabled = source.enabled
            schedule.next_run_at = parse_cron(schedule.cron).next_after(utcnow())
        if owner is not None:
            schedule.customer_id = owner.id
    source.updated_at = utcnow()
    session.flush()
    return RegionRecord(record.region, source, owner)


def delete_region(session: Session, principal: Principal, region_id: int) -> None:
    """Remove a region that never collected anything, with its source and
    schedule. One with collection history is kept (its runs explain imported
    usage): disable it instead (409 says so)."""
    principal.require(Permission.MANAGE_REGIONS)
    record = get_region(session, principal, region_id)
    source = record.source
    if source is not None:
        runs = session.scalar(
            select(func.count())
            .select_from(CollectionRun)
            .where(CollectionRun.source_id == source.id)
        )
        files = session.scalar(
            select(func.count())
            .select_from(CollectedFile)
            .where(CollectedFile.source_id == source.id)
        )
        if runs or files:
            raise Conflict(
                f"region {record.region.code} has collection history ({runs} collections): "
                "disable it instead (enabled: false)",
                region_id=region_id,
            )
        schedule = schedule_of(session, source)
        session.delete(source)
        session.flush()
        if schedule is not None:
            used = session.scalar(
                select(func.count()).select_from(Job).where(Job.schedule_id == schedule.id)
            ) or session.scalar(
                select(func.count())
                .select_from(ScheduleOccurrence)
                .where(ScheduleOccurrence.schedule_id == schedule.id)
            )
            if used:
                schedule.enabled = False
                schedule.next_run_at = None
            else:
                session.delete(schedule)
    session.delete(record.region)
    session.flush()


def request_collection(
    session: Session,
    principal: Principal,
    region_id: int,
    *,
    start: date,
    end: date,
    actor_label: str,
    request_id: str | None = None,
) -> Job:
    """Queue a `collect_usage` job for the region and `[start, end)`: the same
    job the daily schedule queues. One collection per region at a time (409)."""
    principal.require(Permission.MANAGE_REGIONS)
    record = get_region(session, principal, region_id)
    source = record.source
    if source is None:
        raise Invalid("region: has no collection source", field="region_id")
    start, end = parse_range(start, end)
    job = enqueue(
        session,
        type=JobType.COLLECT_USAGE,
        customer_id=source.owner_node_id,
        period=f"{start:%Y-%m}",
        reason=ReasonCode.OTHER,
        explanation=f"collect usage of region {record.region.code}, {start} to {end} (excl.)",
        actor_id=principal.user_id,
        actor_label=actor_label,
        request_id=request_id or str(uuid.uuid4()),
        lock_key=lock_key(source.id),
    )
    session.add(
        CollectionRun(
            job_id=job.id, source_id=source.id, start_day=start, end_day=end, created_at=utcnow()
        )
    )
    session.flush()
    return job


def scheduled_range(source: CollectionSource, today: date) -> tuple[date, date]:
    """What a scheduled occurrence collects: from the day after the last day
    collected completely (or `lookback_days` back, default 3, for a new
    region) through yesterday; at most MAX_RANGE_DAYS."""
    settings = settings_of(source)
    lookback = int(settings.get("lookback_days", DEFAULT_LOOKBACK_DAYS) or 1)
    if source.collected_through is not None:
        start = source.collected_through + timedelta(days=1)
    else:
        start = today - timedelta(days=lookback)
    start = max(start, today - timedelta(days=MAX_RANGE_DAYS))
    return start, today


def runs_of(session: Session, source_id: int, limit: int = 20) -> list[tuple[CollectionRun, Job]]:
    rows = session.execute(
        select(CollectionRun, Job)
        .join(Job, Job.id == CollectionRun.job_id)
        .where(CollectionRun.source_id == source_id)
        .order_by(CollectionRun.id.desc())
        .limit(limit)
    ).all()
    return [(r, j) for r, j in rows]


def source_for_schedule(session: Session, schedule_id: int) -> CollectionSource | None:
    return session.scalars(
        select(CollectionSource).where(CollectionSource.schedule_id == schedule_id)
    ).first()


def now_utc() -> datetime:
    return utcnow()
