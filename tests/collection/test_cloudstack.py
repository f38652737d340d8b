"""CloudStack collection against a real local server speaking the CloudStack
API: signed requests (refused when wrong), paging, errors, rate limits."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rerate.collection.collectors.cloudstack import signature
from rerate.kit.db import Database
from tests.collection.helpers import job, own_accounts, run_jobs, stored_rows
from tests.collection.servers import CloudStackState, cloudstack_server, cloudstack_signature
from tests.world import World

ACC_X = "5a0b4c6e-1111-4e2a-9d7e-000000000001"
ACC_Y = "5a0b4c6e-1111-4e2a-9d7e-000000000002"
OFFERING = "c6f8a8a0-2222-4a1b-8c3d-0000000000aa"
DISK = "d1d1d1d1-3333-4a1b-8c3d-0000000000bb"


def _day(day: str) -> list[dict[str, Any]]:
    """One day of a zone: a running VM, a 50 GiB volume, network bytes, a bucket
    (the variants of docs/formats.md: numbers as strings, the quoted 'T')."""
    stamp = f"{day}'T'00:00:00+00:00", f"{day}'T'23:59:59+00:00"
    base = {"zoneid": "zone-1", "domainid": "dom-1", "startdate": stamp[0], "enddate": stamp[1]}
    return [
        {**base, "account": "x", "accountid": ACC_X, "usagetype": 1, "rawusage": "24",
         "usageid": "vm-1", "offeringid": OFFERING, "templateid": "tpl-1",
         "virtualmachineid": "vm-1", "description": "running vm"},
        {**base, "account": "x", "accountid": ACC_X, "usagetype": 6, "rawusage": "24",
         "usageid": "vol-1", "offeringid": DISK, "size": str(50 * 2**30)},
        {**base, "account": "y", "accountid": ACC_Y, "usagetype": 4, "rawusage": "1048576",
         "usageid": "net-1", "networkid": "net-1"},
        {**base, "account": "y", "accountid": ACC_Y, "usagetype": 29, "rawusage": str(2 * 2**30),
         "usageid": "bucket-1"},
        {**base, "account": "y", "accountid": ACC_Y, "usagetype": 2, "rawusage": 24,
         "usageid": "vm-2", "offeringid": OFFERING, "virtualmachineid": "vm-2"},
    ]  # fmt: skip


@pytest.fixture
def state() -> CloudStackState:
    return CloudStackState(
        api_key="AK-test",
        secret_key="SK/secret+key==",
        records={d: _day(d) for d in ("2026-08-01", "2026-08-02", "2026-08-03", "2026-08-05",
                                       "2026-08-06", "2026-08-07")},
    )  # fmt: skip


def _create(client: TestClient, world: World, endpoint: str, **extra: Any) -> dict[str, Any]:
    settings = {"endpoint": endpoint, "api_key": "AK-test", "page_size": 2, "backoff_s": 0,
                "max_retries": 3, **extra.pop("settings", {})}  # fmt: skip
    secret = extra.pop("secret", "SK/secret+key==")
    body = {"code": "ch-gva-1", "name": "Geneva", "platform": "cloudstack",
            "settings": settings, "secret": secret, **extra}  # fmt: skip
    answer = client.post("/api/v1/regions", json=body, headers=world.headers("platform_admin"))
    assert answer.status_code == 201, answer.text
    return answer.json()


def _collect(client: TestClient, world: World, region: int, start: str, end: str, key: str):
    headers = {**world.headers("platform_admin"), "Idempotency-Key": key}
    return client.post(
        f"/api/v1/regions/{region}/collect", json={"start": start, "end": end}, headers=headers
    )


def test_signature_matches_the_documented_algorithm():
    params = {"command": "listUsageRecords", "apiKey": "AK", "startdate": "2026-08-01",
              "response": "json", "page": "1"}  # fmt: skip
    assert signature(params, "s3cr3t") == cloudstack_signature(params, "s3cr3t")
    assert signature(params, "s3cr3t") != cloudstack_signature(params, "other")


def test_collect_pages_signed_idempotent_and_corrections(
    client: TestClient, world: World, database: Database, data_dir: Path, state: CloudStackState
):
    own_accounts(database, world, {ACC_X: "cust_a1x", ACC_Y: "cust_a1y"})
    with cloudstack_server(state) as endpoint:
        region = _create(client, world, endpoint)
        assert "SK/secret" not in str(region)
        assert region["secret"] == "set (encrypted)"
        assert region["secret_set"] is True
        first = _collect(client, world, region["id"], "2026-08-01", "2026-08-04", "k1")
        assert first.status_code == 202, first.text
        assert first.json()["type"] == "collect_usage"
        replay = _collect(client, world, region["id"], "2026-08-01", "2026-08-04", "k1")
        assert replay.json()["id"] == first.json()["id"]  # Idempotency-Key: the same job
        busy = _collect(client, world, region["id"], "2026-08-01", "2026-08-04", "k2")
        assert busy.status_code == 409  # one collection per region at a time
        run_jobs(database, data_dir)
        status, result, error = job(database, first.json()["id"])
        assert status == "complete", error
        assert result["days"] == 3
        assert result["rows_new"] == 15
        assert result["rows_rejected"] == 0
        assert stored_rows(database, data_dir) == 15
        # Paging: 5 records a day at 2 a page = 3 pages a day, every one signed.
        pages = [r for r in state.requests if r.get("command") == "listUsageRecords"]
        assert len(pages) == 9
        assert {r["page"] for r in pages} == {"1", "2", "3"}
        assert state.refused_signatures == 0
        shown = client.get(
            f"/api/v1/regions/{region['id']}", headers=world.headers("platform_admin")
        )
        assert shown.json()["collected_through"] == "2026-08-03"

        again = _collect(client, world, region["id"], "2026-08-01", "2026-08-04", "k3")
        run_jobs(database, data_dir)
        status, result, error = job(database, again.json()["id"])
        assert status == "complete", error
        assert (result["rows_new"], result["rows_unchanged"], result["rows_corrected"]) == (
            0,
            15,
            0,
        )

        state.records["2026-08-02"] = copy.deepcopy(state.records["2026-08-02"])
        state.records["2026-08-02"][0]["rawusage"] = "12"  # the platform corrected a record
        fixed = _collect(client, world, region["id"], "2026-08-02", "2026-08-03", "k4")
        run_jobs(database, data_dir)
        status, result, error = job(database, fixed.json()["id"])
        assert status == "complete", error
        assert (result["rows_new"], result["rows_corrected"], result["rows_unchanged"]) == (0, 1, 4)
        assert stored_rows(database, data_dir) == 15


def test_rate_limits_are_retried_within_bounds(
    client: TestClient, world: World, database: Database, data_dir: Path, state: CloudStackState
):
    own_accounts(database, world, {ACC_X: "cust_a1x", ACC_Y: "cust_a1y"})
    with cloudstack_server(state) as endpoint:
        region = _create(client, world, endpoint)
        state.fail_next = [429, 503, 429]
        ok = _collect(client, world, region["id"], "2026-08-01", "2026-08-02", "a")
        run_jobs(database, data_dir)
        status, result, error = job(database, ok.json()["id"])
        assert status == "complete", error
        assert result["rows_new"] == 5
        state.fail_next = [429] * 10  # more than max_retries (3)
        limited = _collect(client, world, region["id"], "2026-08-02", "2026-08-03", "b")
        run_jobs(database, data_dir)
        status, _, error = job(database, limited.json()["id"])
        assert status == "failed"
        assert "HTTP 429" in error
        assert "after 4 attempts" in error
        assert "too many API calls" in error


def test_a_wrong_secret_is_refused_by_the_server(
    client: TestClient, world: World, database: Database, data_dir: Path, state: CloudStackState
):
    with cloudstack_server(state) as endpoint:
        region = _create(client, world, endpoint, secret="not-the-secret")
        answer = _collect(client, world, region["id"], "2026-08-01", "2026-08-02", "a")
        run_jobs(database, data_dir)
        status, _, error = job(database, answer.json()["id"])
        assert status == "failed"
        assert "HTTP 401" in error
        assert "unable to verify user credentials and/or request signature" in error
        assert state.refused_signatures == 1  # 401 is not retried
        assert "not-the-secret" not in error


def test_a_failed_collection_resumes_after_the_last_full_day(
    client: TestClient, world: World, database: Database, data_dir: Path, state: CloudStackState
):
    own_accounts(database, world, {ACC_X: "cust_a1x", ACC_Y: "cust_a1y"})
    with cloudstack_server(state) as endpoint:
        region = _create(client, world, endpoint)
        state.broken_days = {"2026-08-06"}
        first = _collect(client, world, region["id"], "2026-08-05", "2026-08-08", "a")
        run_jobs(database, data_dir)
        status, _, error = job(database, first.json()["id"])
        assert status == "failed"
        assert "HTTP 530" in error
        assert "usage job not run" in error
        assert stored_rows(database, data_dir) == 5  # 08-05 was imported and committed
        state.broken_days = set()
        state.requests.clear()
        second = _collect(client, world, region["id"], "2026-08-05", "2026-08-08", "b")
        run_jobs(database, data_dir)
        status, result, error = job(database, second.json()["id"])
        assert status == "complete", error
        assert result["resumed_from"] == "2026-08-06"
        assert result["rows_new"] == 10
        assert {r["startdate"] for r in state.requests} == {"2026-08-06", "2026-08-07"}
