"""Azure Stack Hub against a real local server speaking the usage API:
client-credentials token, bearer auth, nextLink paging, errors, rate limits,
and the meter-id normalisation that lets meter/SKU price entries match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from rerate.collection.collectors.azure_stack import normalise_meter
from rerate.kit.db import Database
from rerate.models.collection import CollectionSource
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore
from tests.collection.helpers import job, own_accounts, run_jobs, stored_rows
from tests.collection.servers import AzureStackState, azure_stack_server
from tests.world import World

SUB = "0f9d2a52-7f0b-4d6e-9d8a-1b2c3d4e5f60"
VM_METER = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5"
IP_METER = "F271A8A388C44D93956A063E1D2FA80B"  # as Microsoft's list writes it: no hyphens
OLD_DISK = "{ 1111AAAA-2222-3333-4444-555566667777 }"
NEW_DISK = "88889999-aaaa-bbbb-cccc-ddddeeeeffff"


def _aggregate(day: str, meter: str, quantity: Any, vm: str, tenant: str) -> dict[str, Any]:
    uri = f"/subscriptions/{SUB}/resourceGroups/rg-{tenant}/providers/Microsoft.Compute/vm/{vm}"
    info = {"ServiceType": "Standard_D2_v2"}
    instance = {"Microsoft.Resources": {"resourceUri": uri, "location": "local",
                "tags": {"Tenant": tenant}, "additionalInfo": info}}  # fmt: skip
    return {
        "id": f"/subscriptions/{SUB}/providers/Microsoft.Commerce/UsageAggregate/{SUB}-{meter}",
        "name": f"{SUB}-{meter}",
        "type": "Microsoft.Commerce/UsageAggregate",
        "properties": {
            "subscriptionId": SUB,
            "usageStartTime": f"{day}T00:00:00+00:00",
            "usageEndTime": f"{day}T00:00:00+00:00".replace(day, _next(day)),
            "instanceData": json.dumps(instance),
            "quantity": quantity,
            "meterId": meter,
        },
    }


def _next(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


@pytest.fixture
def state() -> AzureStackState:
    days = {}
    for day in ("2026-08-01", "2026-08-02"):
        days[day] = [
            _aggregate(day, VM_METER, 24, "vm1", "acme"),
            _aggregate(day, IP_METER, 24, "vm1", "acme"),
            _aggregate(day, OLD_DISK, "128.5", "vm2", "globex"),
            _aggregate(day, VM_METER, 12.25, "vm2", "globex"),
            {"properties": "broken"},
        ]
    return AzureStackState(
        client_id="rerate-collector", client_secret="cl13nt-s3cret", subscription=SUB,
        aggregates=days,
    )  # fmt: skip


def test_meter_normalisation_rule():
    assert normalise_meter(" {FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5} ") == VM_METER.lower()
    assert normalise_meter(IP_METER) == "f271a8a3-88c4-4d93-956a-063e1d2fa80b"
    assert normalise_meter(OLD_DISK, {"1111aaaa22223333444455556666 7777": NEW_DISK}) == NEW_DISK


@given(st.uuids())
def test_every_spelling_of_a_meter_id_normalises_alike(value):
    canonical = str(value)
    spellings = [canonical.upper(), canonical.replace("-", ""), "{" + canonical + "}",
                 f"  {canonical.upper()}\t", canonical.replace("-", "").upper()]  # fmt: skip
    assert {normalise_meter(s) for s in spellings} == {canonical}


def test_collect_usage_aggregates(
    client: TestClient, world: World, database: Database, data_dir: Path, state: AzureStackState
):
    own_accounts(database, world, {f"{SUB}/acme": "cust_a1x", f"{SUB}/globex": "cust_a1y"})
    with azure_stack_server(state) as base:
        body = {
            "code": "azs-paris-1",
            "name": "Azure Stack Hub Paris",
            "platform": "azure_stack",
            "settings": {
                "endpoint": base,
                "subscription_id": SUB,
                "token_url": f"{base}/oauth2/token",
                "client_id": "rerate-collector",
                "tag_key": "tenant",
                "meter_aliases": {OLD_DISK: NEW_DISK},
                "backoff_s": 0,
            },
            "secret": "cl13nt-s3cret",
        }
        admin = world.headers("platform_admin")
        created = client.post("/api/v1/regions", json=body, headers=admin)
        assert created.status_code == 201, created.text
        assert "cl13nt" not in created.text
        region = created.json()["id"]
        state.fail_next = [429, 503]
        state.expire_next_token = False
        answer = client.post(
            f"/api/v1/regions/{region}/collect",
            json={"start": "2026-08-01", "end": "2026-08-03"},
            headers=admin,
        )
        assert answer.status_code == 202, answer.text
        run_jobs(database, data_dir)
        status, result, error = job(database, answer.json()["id"])
        assert status == "complete", error
        assert result["days"] == 2
        assert (result["rows_new"], result["rows_rejected"]) == (8, 2)  # the broken aggregate
        # Paging: 5 aggregates at 2 a page = 3 pages a day, plus the two retried calls.
        assert len(state.requests) == 8
        with database.session() as s:
            rows = UsageStore(data_dir).scan(visible_import_ids(s)).to_pylist()
        skus = {r["sku"] for r in rows}
        assert skus == {VM_METER.lower(), "f271a8a3-88c4-4d93-956a-063e1d2fa80b", NEW_DISK}
        ip = next(r for r in rows if r["sku"].startswith("f271"))
        assert (ip["service"], ip["unit"], ip["region"]) == (
            "Static IP Address Usage",
            "IP addresses",
            "local",
        )
        assert {r["account_ref"] for r in rows} == {f"{SUB}/acme", f"{SUB}/globex"}

        # The token expires mid-collection: asked again once; nothing is imported twice.
        state.expire_next_token = True
        again = client.post(
            f"/api/v1/regions/{region}/collect",
            json={"start": "2026-08-01", "end": "2026-08-03"},
            headers=admin,
        )
        run_jobs(database, data_dir)
        status, result, error = job(database, again.json()["id"])
        assert status == "complete", error
        assert (result["rows_new"], result["rows_unchanged"]) == (0, 8)
        assert len(state.tokens) >= 2
        assert stored_rows(database, data_dir) == 8


def test_a_wrong_client_secret_fails_with_the_platform_message(
    client: TestClient, world: World, database: Database, data_dir: Path, state: AzureStackState
):
    with azure_stack_server(state) as base:
        settings = {"endpoint": base, "subscription_id": SUB, "token_url": f"{base}/oauth2/token",
                    "client_id": "rerate-collector"}  # fmt: skip
        admin = world.headers("platform_admin")
        body = {"code": "azs-1", "platform": "azure_stack", "settings": settings, "secret": "nope"}
        region = client.post("/api/v1/regions", json=body, headers=admin).json()["id"]
        answer = client.post(
            f"/api/v1/regions/{region}/collect",
            json={"start": "2026-08-01", "end": "2026-08-02"},
            headers=admin,
        )
        run_jobs(database, data_dir)
        status, _, error = job(database, answer.json()["id"])
        assert status == "failed"
        assert "HTTP 401" in error
        assert "Invalid client secret" in error
        assert "nope" not in error
        with database.session() as s:
            stored = s.query(CollectionSource).one().secret
        assert stored is not None
        assert "nope" not in stored
        assert stored.startswith("enc:v1:")
