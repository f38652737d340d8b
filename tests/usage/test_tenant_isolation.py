"""Usage is isolated per tenant: record ids are scoped to the account, and usage
for an instant is taken only from a caller whose subtree owned the account then.

Each test reproduces a finding of the hostile test in issue 11 (it failed on the
code before the fix)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from rerate.accounts.service import create_account, move_account
from rerate.auth import service as auth
from rerate.kit.db import Database
from rerate.models import Node
from rerate.models.enums import AccountKind, Role
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore
from tests.world import World

MARCH = datetime(2026, 3, 1, tzinfo=UTC)


def _partner_b_key(database: Database, world: World) -> dict[str, str]:
    """A partner admin of the other distributor (Dist B > Partner B1)."""
    with database.session() as s:
        user = auth.create_user(s, "partner-b@test.example", name="partner b", password=None)
        auth.assign_role(
            s, user, role=Role.PARTNER_ADMIN, node=s.get(Node, world.nodes["partner_b1"].id)
        )
        _key, secret = auth.create_api_key(s, user)
    return {"Authorization": f"Bearer {secret}"}


def _account(database: Database, ref: str, owners: list[tuple[Node, datetime]]) -> int:
    with database.session() as s:
        account = create_account(s, AccountKind.VOIP_PEER, external_ref=ref)
        for node, since in owners:
            move_account(s, account, customer=s.get(Node, node.id), valid_from=since)
        return account.id


def _cdr(record_id: str, ref: str, start: str, seconds: int = 60) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "kind": "cdr",
        "account_ref": ref,
        "usage_start": start,
        "usage_end": start,
        "called_number": "+4930123456",
        "duration_seconds": seconds,
        "billable_seconds": seconds,
    }


def _rows(database: Database, data_dir: Path) -> list[dict[str, Any]]:
    with database.session() as s:
        table = UsageStore(data_dir).scan(visible_import_ids(s))
    return table.select(["record_id", "account_id", "billable_seconds"]).to_pylist()


def test_same_record_id_from_another_tenant_is_another_record(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    victim = _partner_b_key(database, world)
    b_peer = _account(
        database, "peer-b", [(world.nodes["cust_b1x"], datetime(2026, 1, 1, tzinfo=UTC))]
    )
    a_peer = _account(
        database, "peer-a", [(world.nodes["cust_a1x"], datetime(2026, 1, 1, tzinfo=UTC))]
    )
    sent = client.post(
        "/api/v1/usage/records",
        json={"records": [_cdr("call-1", "peer-b", "2026-02-03T10:00:00Z", 600)]},
        headers=victim,
    )
    assert sent.status_code == 201, sent.text
    # The attacker sends the same id (same namespace) for its own account.
    attack = client.post(
        "/api/v1/usage/records",
        json={"records": [_cdr("call-1", "peer-a", "2026-02-03T10:00:00Z", 1)]},
        headers=world.headers("partner_admin"),
    )
    assert attack.status_code == 201, attack.text
    assert attack.json()["corrected"] == 0
    assert attack.json()["new"] == 1
    rows = {r["account_id"]: r for r in _rows(database, data_dir)}
    assert rows[b_peer]["billable_seconds"] == 600  # the victim's row is still there
    assert rows[a_peer]["billable_seconds"] == 1
    assert len(rows) == 2


def test_usage_for_an_account_after_it_moved_away_is_refused(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    _account(
        database,
        "peer-moved",
        [
            (world.nodes["cust_a1x"], datetime(2026, 1, 1, tzinfo=UTC)),
            (world.nodes["cust_b1x"], MARCH),  # now another distributor's customer
        ],
    )
    after = client.post(
        "/api/v1/usage/records",
        json={"records": [_cdr("late-1", "peer-moved", "2026-03-10T10:00:00Z", 3600)]},
        headers=world.headers("partner_admin"),
    )
    assert after.status_code == 422, after.text
    assert "not owned by a customer in your scope" in after.json()["detail"]
    assert after.json()["line"] == 1
    assert _rows(database, data_dir) == []  # nothing imported
    # While its customer owned the account, the same caller's usage is taken.
    before = client.post(
        "/api/v1/usage/records",
        json={"records": [_cdr("early-1", "peer-moved", "2026-02-10T10:00:00Z", 60)]},
        headers=world.headers("partner_admin"),
    )
    assert before.status_code == 201, before.text
    # A platform role may send usage for any instant.
    platform = client.post(
        "/api/v1/usage/records",
        json={"records": [_cdr("late-2", "peer-moved", "2026-03-10T10:00:00Z", 60)]},
        headers=world.headers("platform_service"),
    )
    assert platform.status_code == 201, platform.text


def test_a_correction_cannot_move_the_new_owners_record_into_the_old_owners_time(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    new_owner = _partner_b_key(database, world)
    _account(
        database,
        "peer-moved",
        [
            (world.nodes["cust_a1x"], datetime(2026, 1, 1, tzinfo=UTC)),
            (world.nodes["cust_b1x"], MARCH),
        ],
    )
    mine = client.post(
        "/api/v1/usage/records",
        json={"records": [_cdr("c-9", "peer-moved", "2026-03-10T10:00:00Z", 900)]},
        headers=new_owner,
    )
    assert mine.status_code == 201, mine.text
    # The old owner re-sends the id at an instant it owned the account: that
    # would "correct" the new owner's call off the new owner's bill.
    attack = client.post(
        "/api/v1/usage/records",
        json={"records": [_cdr("c-9", "peer-moved", "2026-02-10T10:00:00Z", 1)]},
        headers=world.headers("partner_admin"),
    )
    assert attack.status_code == 422, attack.text
    assert "only change your own records" in attack.json()["detail"]
    assert [r["billable_seconds"] for r in _rows(database, data_dir)] == [900]


def test_skip_bad_rows_sets_aside_rows_outside_the_ownership_window(
    client: TestClient, world: World, database: Database, data_dir: Path, tmp_path: Path
):
    _account(
        database,
        "peer-moved",
        [
            (world.nodes["cust_a1x"], datetime(2026, 1, 1, tzinfo=UTC)),
            (world.nodes["cust_b1x"], MARCH),
        ],
    )
    csv = tmp_path / "cdrs.csv"
    csv.write_text(
        "record_id,account,start,calling,called,duration_seconds,billable_seconds,disposition\n"
        "1,peer-moved,2026-02-10T10:00:00+00:00,,+4930123456,60,60,ANSWERED\n"
        "2,peer-moved,2026-03-10T10:00:00+00:00,,+4930123456,60,60,ANSWERED\n"
    )
    with csv.open("rb") as fh:
        r = client.post(
            "/api/v1/usage/imports",
            files={"file": ("cdrs.csv", fh, "text/csv")},
            data={"format": "generic_cdr", "skip_bad_rows": "true"},
            headers=world.headers("partner_admin"),
        )
    assert r.status_code == 201, r.text
    assert r.json()["new"] == 1
    assert [(x["line"], x["column"]) for x in r.json()["rejects"]] == [("3", "account")]
    assert "not owned by a customer in your scope" in r.json()["rejects"][0]["reason"]
