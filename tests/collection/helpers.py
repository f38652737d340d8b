"""Shared steps of the collection tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rerate.accounts.service import create_account, link_account
from rerate.billing.tasks import handlers
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.models import Job
from rerate.models.enums import AccountKind
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore
from tests.world import World


def own_accounts(database: Database, world: World, refs: dict[str, str]) -> None:
    """Accounts `ref -> customer key`, sold under the platform, owned since 2026-01-01."""
    with database.session() as s:
        for ref, customer in refs.items():
            account = create_account(
                s,
                AccountKind.MANAGEMENT_ACCOUNT,
                external_ref=ref,
                owner_node_id=world.nodes["platform"].id,
            )
            link_account(
                s,
                account,
                customer=s.merge(world.nodes[customer]),
                valid_from=datetime(2026, 1, 1, tzinfo=UTC),
            )


def run_jobs(database: Database, data_dir: Path) -> None:
    worker = Worker(database, handlers=handlers(data_dir), expand=None, lease_s=30, poll_s=0.01)
    while worker.run_once():
        pass


def job(database: Database, job_id: int) -> tuple[str, dict[str, Any], str | None]:
    with database.session() as s:
        row = s.scalars(select(Job).where(Job.id == job_id)).one()
        return row.status, json.loads(row.result) if row.result else {}, row.error


def stored_rows(database: Database, data_dir: Path) -> int:
    with database.session() as s:
        return int(UsageStore(data_dir).scan(visible_import_ids(s)).num_rows)
