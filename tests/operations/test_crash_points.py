"""A real process killed (SIGKILL) at each named crash point: afterwards the
installation holds the old state or the new one, never a mix (`rerate check`
passes once the dead worker's job is released), and running the operation
again completes. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.auth import service as auth
from rerate.invoicing import service as invoicing
from rerate.kit import crash
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import (
    BillingCacheRow,
    CurrentRun,
    Invoice,
    InvoiceSeries,
    Job,
    Node,
    PriceBookVersion,
    PriceEntry,
    UsageImport,
)
from rerate.operations.check import Context, repair
from rerate.pricebooks.service import mark_published
from rerate.usage.service import import_file
from rerate.usage.store import UsageStore
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import drain, submit
from tests.operations.helpers import ADMIN, check, cli_env, failing
from tests.world import World

FOCUS_HEADER = (
    "BillingAccountId,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ServiceName,SkuId,"
    "RegionId,ConsumedQuantity,ConsumedUnit,ListCost,BillingCurrency\n"
)


@dataclass
class Case:
    """One crash point: what to prepare, the process to kill, and how to run it again."""

    point: str
    prepare: Callable[[Any], None]
    crash: Callable[[Any], list[str]]  # argv of the process that dies at the point
    again: Callable[[Any], None]
    expects_job: bool  # the process was a worker: its job is left running


@dataclass
class Scene:
    client: TestClient
    database: Database
    data_dir: Path
    billing: Billing
    tmp: Path
    notes: dict[str, Any]

    @property
    def world(self) -> World:
        return self.billing.world

    @property
    def customer_id(self) -> int:
        return self.world.nodes["cust_a1x"].id


def _state(scene: Scene) -> dict[str, Any]:
    """Everything the operations change, to compare before and after a crash."""
    db = scene.database
    with db.session() as s:
        return {
            "current_runs": sorted(
                s.execute(
                    select(CurrentRun.customer_id, CurrentRun.period, CurrentRun.run_id)
                ).all()
            ),
            "cache": sorted(
                (c.customer_id, c.account_id, c.period, c.run_id, c.net_amount)
                for c in s.scalars(select(BillingCacheRow))
            ),
            "invoices": sorted(
                (i.id, i.status, i.number, i.total) for i in s.scalars(select(Invoice))
            ),
            "series": sorted(
                s.execute(select(InvoiceSeries.series, InvoiceSeries.next_number)).all()
            ),
            "imports": sorted(s.scalars(select(UsageImport.id))),
        }


def _worker(scene: Scene) -> list[str]:
    return [sys.executable, "-m", "rerate.cli.main", "worker"]


def _submit(scene: Scene, kind: str) -> None:
    r = submit(scene.client, scene.world, kind, "cust_a1x", ["2026-09"], reason="data_correction")
    assert r.status_code == 202, r.text


# --- import -------------------------------------------------------------------------------


def _prepare_import(scene: Scene) -> None:
    rows = "".join(
        f"acc-x,2026-09-{day:02d}T08:00:00Z,2026-09-{day:02d}T09:00:00Z,Usage,Compute,"
        f"vm.small,westeurope,2,h,0.10,EUR\n"
        for day in range(1, 29)
    )
    path = scene.tmp / "extra.csv"
    path.write_text(FOCUS_HEADER + rows)
    scene.notes["file"] = path


def _crash_import(scene: Scene) -> list[str]:
    return [
        sys.executable, "-m", "rerate.cli.main", "import", "focus", str(scene.notes["file"]),
        "--as", f"{ADMIN}@test.example",
    ]  # fmt: skip


def _import_again(scene: Scene) -> None:
    with scene.database.session() as s:
        principal = auth.principal_for(
            s, auth.get_user_by_email(s, f"{ADMIN}@test.example"), via="cli"
        )
        report = import_file(
            s, UsageStore(scene.data_dir), principal, scene.notes["file"], format_name="focus"
        )
    assert report.new == 28


# --- recalculation and publish ------------------------------------------------------------


def _prepare_recalculation(scene: Scene) -> None:
    """A new price-book version from 1 September: the recalculation has something to publish."""
    with scene.database.session() as s:
        v2 = PriceBookVersion(
            price_book_id=scene.billing.price_book_id,
            version=2,
            effective_from=datetime(2026, 8, 31, 22, tzinfo=UTC),
        )
        s.add(v2)
        s.flush()
        for sku, service, unit, price in (
            ("vm.small", "Compute", "h", "0.06"),
            ("disk.gb", "Storage", "GB-day", "0.0033333333"),
        ):
            s.add(
                PriceEntry(
                    version_id=v2.id, sku=sku, service=service, unit=unit, unit_price=Decimal(price)
                )
            )
        s.flush()
        mark_published(s, v2, by=None)
    _submit(scene, "recalculations")


def _recalculate_again(scene: Scene) -> None:
    _submit(scene, "recalculations")
    assert drain(scene.database, scene.data_dir) == 1


# --- refresh and issue ----------------------------------------------------------------------


def _issued_invoice(scene: Scene) -> int:
    admin = scene.world.headers(ADMIN)
    made = scene.client.post(
        "/api/v1/invoices/generate",
        json={"customer_id": scene.customer_id, "period": "2026-09"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _prepare_refresh(scene: Scene) -> None:
    invoice_id = _issued_invoice(scene)
    issued = scene.client.post(
        f"/api/v1/invoices/{invoice_id}/issue", headers=scene.world.headers(ADMIN)
    )
    assert issued.status_code == 200, issued.text
    # A refresh that would regenerate the same invoice changes nothing (and
    # reaches no crash point): the customer's tax rate changes first.
    with scene.database.session() as s:
        node = s.get(Node, scene.billing.world.nodes["cust_a1x"].id)
        assert node is not None
        node.tax_rate = Decimal("0.10")
    _submit(scene, "invoice-refreshes")


def _refresh_again(scene: Scene) -> None:
    _submit(scene, "invoice-refreshes")
    assert drain(scene.database, scene.data_dir) == 1


def _prepare_issue(scene: Scene) -> None:
    scene.notes["invoice_id"] = _issued_invoice(scene)  # generated, Ready, not issued yet


def _crash_issue(scene: Scene) -> list[str]:
    script = textwrap.dedent(
        f"""
        from rerate.invoicing import service
        from rerate.kit.db import Database
        from rerate.models import Invoice

        db = Database({scene.database.url!r})
        with db.session() as session:
            service.issue(session, session.get(Invoice, {scene.notes["invoice_id"]}))
        """
    )
    return [sys.executable, "-c", script]


def _issue_again(scene: Scene) -> None:
    with scene.database.session() as s:
        invoice = s.get(Invoice, scene.notes["invoice_id"])
        assert invoice is not None
        invoicing.issue(s, invoice)


CASES = [
    Case("import.after_files", _prepare_import, _crash_import, _import_again, False),
    Case("recalculation.after_files", _prepare_recalculation, _worker, _recalculate_again, True),
    Case("publish.in_transaction", _prepare_recalculation, _worker, _recalculate_again, True),
    Case("refresh.after_cancel", _prepare_refresh, _worker, _refresh_again, True),
    Case("issue.after_number", _prepare_issue, _crash_issue, _issue_again, False),
]


def test_every_crash_point_is_covered() -> None:
    assert {c.point for c in CASES} == crash.POINTS


@pytest.mark.parametrize("case", CASES, ids=[c.point for c in CASES])
def test_a_process_killed_at_a_crash_point_leaves_the_old_state(
    case: Case, client: TestClient, database: Database, data_dir: Path, world: World, tmp_path: Path
):
    billing = build_billing(database, data_dir, world)
    scene = Scene(client, database, data_dir, billing, tmp_path, {})
    _submit(scene, "recalculations")  # a published September run to start from
    assert drain(database, data_dir) == 1
    case.prepare(scene)
    before = _state(scene)

    log = tmp_path / "crashed.log"
    with log.open("wb") as out:
        proc = subprocess.run(
            case.crash(scene),
            env=cli_env(
                database, data_dir, RERATE_CRASH_AT=case.point, RERATE_WORKER_POLL_S="0.05"
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]

    # The old state, exactly; the only failing check is the dead worker's job.
    assert _state(scene) == before
    problems = failing(check(database, data_dir))
    if case.expects_job:
        assert list(problems) == ["jobs_have_workers"], problems
        assert "is gone: its process" in problems["jobs_have_workers"][0]
    else:
        assert problems == {}
    report = repair(Context(database, data_dir))
    assert report.ok, failing(report)
    assert _state(scene) == before

    # Running it again completes, and the new state passes every check.
    case.again(scene)
    after = _state(scene)
    assert after != before
    assert failing(check(database, data_dir)) == {}
    if case.expects_job:
        with database.session() as s:
            last = s.scalar(select(Job).order_by(Job.id.desc()).limit(1))
        assert last is not None
        assert last.status == "complete", last.error


def test_production_refuses_crash_points(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RERATE_CRASH_AT", "publish.in_transaction")
    with pytest.raises(ValueError, match="RERATE_CRASH_AT is for tests"):
        Settings(env="production", database_url="postgresql+psycopg://x@h/db", data_dir=tmp_path)
    script = "from rerate.kit import crash; crash.point('publish.in_transaction'); print('alive')"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "RERATE_CRASH_AT": "publish.in_transaction", "RERATE_ENV": "production"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "alive")
