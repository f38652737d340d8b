"""Azure Local: inventory snapshots from a real local endpoint turned into
allocation x time usage rows, and the interpolation rule on its own."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from rerate.collection.collectors.azure_local import usage_of_day
from rerate.kit.db import Database
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore
from tests.collection.helpers import job, own_accounts, run_jobs
from tests.collection.servers import InventoryState, inventory_server
from tests.world import World

SUB = "sub-hci-1"


def _vm(vcpus: int, memory: Any, disk: Any, tenant: str = "acme", vm: str = "vm-1") -> dict:
    disks = [{"id": f"{vm}-os", "size_gb": disk}]
    return {"id": vm, "name": vm, "subscription": SUB, "tags": {"tenant": tenant},
            "vcpus": vcpus, "memory_gb": memory, "disks": disks}  # fmt: skip


def _snap(at: str, *vms: dict) -> dict[str, Any]:
    return {"taken_at": at, "vms": list(vms)}


def _quantities(totals) -> dict[tuple[str, str], Decimal]:
    return {(k[1], k[2]): v for k, (_, v) in totals.items()}


def test_interpolation_carries_forward_cuts_at_midnight_and_caps_gaps():
    snaps = [
        _snap("2026-07-31T22:00:00Z", _vm(2, 8, 100)),  # carries into Aug 1 until 01:00
        _snap("2026-08-01T01:00:00+00:00", _vm(2, 8, 100)),
        _snap("2026-08-01T06:00:00Z", _vm(4, "16", 100)),  # resized at 06:00
        # nothing until 20:00: 06:00-12:00 billed (max gap 6 h), 12:00-20:00 not observed
        _snap("2026-08-01T20:00:00Z", _vm(4, 16, "100.5")),
        _snap("2026-08-01T21:00:00Z"),  # deleted at 21:00
        _snap("2026-08-01T23:30:00Z", _vm(1, 1, 10, vm="vm-2")),  # runs past midnight
        _snap("2026-08-02T00:30:00Z", _vm(1, 1, 10, vm="vm-2")),
    ]
    totals = usage_of_day(snaps, date(2026, 8, 1), max_gap=timedelta(hours=6), tag_key="tenant")
    q = _quantities(totals)
    assert q[("vm-1", "vcpu")] == Decimal(2 * 1 + 2 * 5 + 4 * 6 + 4 * 1)
    assert q[("vm-1", "memory_gb")] == Decimal(8 * 6 + 16 * 7)
    assert q[("vm-1-os", "disk_gb")] == Decimal(100 * 12) + Decimal("100.5")
    assert q[("vm-2", "vcpu")] == Decimal("0.5")  # 23:30-24:00 only
    assert {k[0] for k in totals} == {f"{SUB}/acme"}


@given(
    st.lists(st.integers(min_value=0, max_value=3 * 24 * 60), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=8),
)
def test_days_partition_the_observed_time(minutes, vcpus):
    """Summed over the days, allocation x time is the same whichever way the
    days cut it: every observed interval is billed once, never twice."""
    start = date(2026, 8, 1)
    stamps = sorted(set(minutes))
    from datetime import UTC, datetime

    base = datetime(2026, 8, 1, tzinfo=UTC)
    snaps = [
        _snap((base + timedelta(minutes=m)).isoformat().replace("+00:00", "Z"), _vm(vcpus, 1, 1))
        for m in stamps
    ]
    gap = timedelta(hours=2)
    total = sum(
        (
            _quantities(
                usage_of_day(snaps, start + timedelta(days=d), max_gap=gap, tag_key=None)
            ).get(("vm-1", "vcpu"), Decimal(0))
            for d in range(4)
        ),
        Decimal(0),
    )
    observed = Decimal(0)
    for i, m in enumerate(stamps):
        nxt = stamps[i + 1] if i + 1 < len(stamps) else None
        span = min(nxt - m, 120) if nxt is not None else 120
        observed += Decimal(span) / 60
    assert abs(total - observed * vcpus) < Decimal("1e-20")  # exact but for the last digit


def test_collect_inventory_snapshots(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    own_accounts(database, world, {f"{SUB}/acme": "cust_a1x"})
    state = InventoryState(
        token="inv-token",
        snapshots=[
            _snap(f"2026-08-01T{h:02d}:00:00Z", _vm(2, 8, 128)) for h in range(0, 24, 4)
        ] + [_snap("2026-08-02T00:00:00Z", _vm(2, 8, 128))],
    )  # fmt: skip
    with inventory_server(state) as url:
        body = {
            "code": "hci-lyon-1",
            "platform": "azure_local",
            "settings": {"inventory_url": url, "tag_key": "tenant", "max_gap_hours": 4,
                         "backoff_s": 0},
            "secret": "inv-token",
        }  # fmt: skip
        admin = world.headers("platform_admin")
        created = client.post("/api/v1/regions", json=body, headers=admin)
        assert created.status_code == 201, created.text
        assert created.json()["secret"] == "set (encrypted)"
        state.fail_next = [429]
        answer = client.post(
            f"/api/v1/regions/{created.json()['id']}/collect",
            json={"start": "2026-08-01", "end": "2026-08-02"},
            headers=admin,
        )
        run_jobs(database, data_dir)
        status, result, error = job(database, answer.json()["id"])
        assert status == "complete", error
        assert (result["rows_new"], result["rows_rejected"]) == (3, 0)
        # The window asked for: the day widened by the maximum gap on both sides.
        last = state.requests[-1]
        assert last["from"] == "2026-07-31T20:00:00Z"
        assert last["to"] == "2026-08-02T04:00:00Z"
        with database.session() as s:
            rows = UsageStore(data_dir).scan(visible_import_ids(s)).to_pylist()
        got = {r["sku"]: (r["quantity"], r["unit"]) for r in rows}
        assert got == {
            "vcpu": (Decimal(48), "vCPU-Hrs"),
            "memory_gb": (Decimal(192), "GB-Hrs"),
            "disk_gb": (Decimal(128 * 24), "GB-Hrs"),
        }
        assert {r["region"] for r in rows} == {"hci-lyon-1"}


def test_collect_inventory_from_a_file_folder(
    client: TestClient, world: World, database: Database, data_dir: Path, tmp_path: Path
):
    """A `file://` inventory: every JSON document under the folder, snapshots
    kept by `taken_at` as the HTTP service would filter them."""
    own_accounts(database, world, {f"{SUB}/acme": "cust_a1x"})
    folder = tmp_path / "inventory"
    (folder / "2026-08").mkdir(parents=True)
    day1 = [_snap(f"2026-08-01T{h:02d}:00:00Z", _vm(2, 8, 128)) for h in range(0, 24, 4)]
    (folder / "2026-08" / "01.json").write_text(json.dumps({"snapshots": day1}))
    # The next day's first snapshot ends Aug 1's last interval; a later one is ignored.
    day2 = [_snap("2026-08-02T00:00:00Z", _vm(2, 8, 128)), _snap("2026-08-05T00:00:00Z")]
    (folder / "2026-08" / "02.json").write_text(json.dumps({"snapshots": day2}))
    (folder / "notes.txt").write_text("not inventory")
    admin = world.headers("platform_admin")
    body = {
        "code": "hci-file-1",
        "platform": "azure_local",
        "settings": {"inventory_url": folder.as_uri(), "tag_key": "tenant", "max_gap_hours": 4},
    }
    created = client.post("/api/v1/regions", json=body, headers=admin)
    assert created.status_code == 201, created.text
    answer = client.post(
        f"/api/v1/regions/{created.json()['id']}/collect",
        json={"start": "2026-08-01", "end": "2026-08-02"},
        headers=admin,
    )
    run_jobs(database, data_dir)
    status, result, error = job(database, answer.json()["id"])
    assert status == "complete", error
    assert (result["rows_new"], result["rows_rejected"]) == (3, 0)
    with database.session() as s:
        rows = UsageStore(data_dir).scan(visible_import_ids(s)).to_pylist()
    assert {r["sku"]: r["quantity"] for r in rows} == {
        "vcpu": Decimal(48),
        "memory_gb": Decimal(192),
        "disk_gb": Decimal(128 * 24),
    }
    # A missing folder fails the job with the path, not a 500.
    bad = {**body, "code": "hci-file-2"}
    bad["settings"] = {"inventory_url": (tmp_path / "nowhere").as_uri()}
    other = client.post("/api/v1/regions", json=bad, headers=admin)
    assert other.status_code == 201, other.text
    failed = client.post(
        f"/api/v1/regions/{other.json()['id']}/collect",
        json={"start": "2026-08-01", "end": "2026-08-02"},
        headers=admin,
    )
    run_jobs(database, data_dir)
    status, _, error = job(database, failed.json()["id"])
    assert status == "failed"
    assert error
    assert "does not exist" in error
    # Other schemes stay refused.
    refused = client.post(
        "/api/v1/regions",
        json={**body, "code": "hci-ftp", "settings": {"inventory_url": "ftp://x/y"}},
        headers=admin,
    )
    assert refused.status_code == 422
    assert "settings.inventory_url" in refused.text
