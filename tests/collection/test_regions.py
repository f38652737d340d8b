"""Regions through the API and the CLI: roles, validation naming the field,
write-only secrets (sealed or env:), scheduled daily collection, the migration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner, Result

from rerate.billing.tasks import expand_schedule
from rerate.cli import context
from rerate.cli.main import app
from rerate.collection import secrets
from rerate.jobs.schedules import fire_due_schedules
from rerate.kit import migrate
from rerate.kit.db import Database
from rerate.kit.settings import get_settings
from rerate.models import Job, JobSchedule, ScheduleOccurrence
from rerate.models.collection import CollectionRun, CollectionSource
from tests.collection.helpers import job, run_jobs
from tests.world import World

ADMIN = "platform_admin@test.example"


def _body(folder: Path, **extra: object) -> dict[str, object]:
    return {"code": "westeurope", "platform": "public_azure",
            "settings": {"folder": str(folder)}, **extra}  # fmt: skip


def test_only_platform_roles_manage_regions(client: TestClient, world: World, tmp_path: Path):
    for who in ("distributor", "partner_admin", "customer_user"):
        refused = client.post("/api/v1/regions", json=_body(tmp_path), headers=world.headers(who))
        assert refused.status_code == 403, who
    made = client.post(
        "/api/v1/regions", json=_body(tmp_path), headers=world.headers("platform_service")
    )
    assert made.status_code == 201, made.text
    region = made.json()["id"]
    patch = client.patch(f"/api/v1/regions/{region}", json={"name": "x"},
                         headers=world.headers("partner_admin"))  # fmt: skip
    assert patch.status_code == 403
    collect = client.post(f"/api/v1/regions/{region}/collect",
                          json={"start": "2026-08-01", "end": "2026-08-02"},
                          headers=world.headers("distributor"))  # fmt: skip
    assert collect.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "openstack"}, "platform"),
        ({"settings": {}}, "settings.folder"),
        ({"settings": {"folder": "/x", "colour": "blue"}}, "settings.colour"),
        ({"platform": "cloudstack", "settings": {"endpoint": "ftp://x", "api_key": "k"},
          "secret": "s"}, "settings.endpoint"),
        ({"platform": "cloudstack", "settings": {"endpoint": "http://x", "api_key": "k"}},
         "secret"),
        ({"platform": "cloudstack", "settings": {"endpoint": "http://x", "api_key": "k",
          "page_size": 0}, "secret": "s"}, "settings.page_size"),
        ({"secret": "env:9BAD"}, "secret"),
        ({"code": "bad code!"}, "code"),
        ({"cron": "every day"}, "cron"),
        ({"owner_node_id": 0}, "owner_node_id"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(
    client: TestClient, world: World, tmp_path: Path, body: dict[str, object], field: str
):
    if body.get("owner_node_id") == 0:
        body = {**body, "owner_node_id": world.nodes["cust_a1x"].id}
    sent = {**_body(tmp_path), **body}
    answer = client.post("/api/v1/regions", json=sent, headers=world.headers("platform_admin"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(field), answer.json()


def test_secrets_are_write_only_sealed_or_referenced(
    client: TestClient, world: World, database: Database, data_dir: Path, tmp_path: Path
):
    admin = world.headers("platform_admin")
    body = {"code": "ch-gva-1", "platform": "cloudstack", "secret": "very-secret-key",
            "settings": {"endpoint": "http://127.0.0.1:9/client/api", "api_key": "AK"}}  # fmt: skip
    made = client.post("/api/v1/regions", json=body, headers=admin)
    assert made.status_code == 201
    region = made.json()["id"]
    for answer in (made, client.get(f"/api/v1/regions/{region}", headers=admin),
                   client.get("/api/v1/regions", headers=admin),
                   client.get(f"/regions/{region}", headers=admin)):  # fmt: skip
        assert "very-secret-key" not in answer.text
    with database.session() as s:
        stored = s.scalars(select(CollectionSource)).one().secret
    assert stored.startswith("enc:v1:")
    key = secrets.load_key(data_dir)
    assert secrets.unseal(stored, key) == "very-secret-key"
    assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    # Updating without a secret keeps it; env: stores only the name.
    kept = client.patch(f"/api/v1/regions/{region}", json={"name": "Geneva"}, headers=admin)
    assert kept.json()["secret"] == "set (encrypted)"
    ref = client.patch(f"/api/v1/regions/{region}", json={"secret": "env:CS_SECRET"}, headers=admin)
    assert ref.json()["secret"] == "from environment variable CS_SECRET"
    refused = client.patch(f"/api/v1/regions/{region}", json={"clear_secret": True}, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("secret")
    # The audit log never holds the secret either.
    audit = client.get("/api/v1/audit?limit=100", headers=admin)
    assert "very-secret-key" not in audit.text


def test_sealing_refuses_tampering_and_other_keys(tmp_path: Path, monkeypatch):
    key = secrets.load_key(tmp_path)
    sealed = secrets.seal("s3cr3t ünïcode", key)
    assert secrets.unseal(sealed, key) == "s3cr3t ünïcode"
    assert secrets.seal("s3cr3t ünïcode", key) != sealed  # a fresh nonce each time
    other = secrets.load_key(tmp_path, "x" * 40)
    with pytest.raises(secrets.SecretError, match="another key"):
        secrets.unseal(sealed, other)
    raw = bytearray(sealed.encode())
    raw[-5] = ord("A") if raw[-5] != ord("A") else ord("B")
    with pytest.raises(secrets.SecretError):
        secrets.unseal(raw.decode(), key)
    monkeypatch.setenv("CS_SECRET", "from-env")
    assert secrets.reveal("env:CS_SECRET", key) == "from-env"
    monkeypatch.delenv("CS_SECRET")
    with pytest.raises(secrets.SecretError, match="CS_SECRET"):
        secrets.reveal("env:CS_SECRET", key)


def test_daily_schedule_collects_from_the_day_after_the_last_one(
    client: TestClient, world: World, database: Database, data_dir: Path, tmp_path: Path
):
    admin = world.headers("platform_admin")
    made = client.post("/api/v1/regions", json=_body(tmp_path, cron="0 4 * * *"), headers=admin)
    assert made.json()["cron"] == "0 4 * * *"
    today = datetime.now(UTC).date()
    with database.session() as s:
        source = s.scalars(select(CollectionSource)).one()
        source.collected_through = today - timedelta(days=5)
        schedule = s.get(JobSchedule, source.schedule_id)
        schedule.next_run_at = datetime.now(UTC) - timedelta(minutes=1)
    assert fire_due_schedules(database, expand=expand_schedule) == 1
    # A second look at the same occurrence queues nothing more.
    assert fire_due_schedules(database, expand=expand_schedule) == 0
    with database.session() as s:
        queued = s.scalars(select(Job).where(Job.type == "collect_usage")).one()
        assert queued.lock_key == f"region:{source.id}"
        assert s.scalars(select(ScheduleOccurrence)).one().outcome == "queued"
    run_jobs(database, data_dir)
    status, result, error = job(database, queued.id)
    assert status == "complete", error
    assert (result["start"], result["end"]) == (str(today - timedelta(days=4)), str(today))
    with database.session() as s:
        assert s.scalars(select(CollectionSource)).one().collected_through == today - timedelta(
            days=1
        )
        run = s.scalars(select(CollectionRun).where(CollectionRun.job_id == queued.id)).one()
        assert run.done_through == today - timedelta(days=1)
    # Disabled: the occurrence is recorded as refused, with the reason.
    region = made.json()["id"]
    client.patch(f"/api/v1/regions/{region}", json={"enabled": False}, headers=admin)
    with database.session() as s:
        schedule = s.get(JobSchedule, s.scalars(select(CollectionSource)).one().schedule_id)
        assert schedule.enabled is False


def test_collect_refuses_bad_ranges(client: TestClient, world: World, tmp_path: Path):
    admin = world.headers("platform_admin")
    region = client.post("/api/v1/regions", json=_body(tmp_path), headers=admin).json()["id"]
    future = (date.today() + timedelta(days=5)).isoformat()
    for body, field in (
        ({"start": "2026-08-02", "end": "2026-08-01"}, "end"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "end"),
        ({"start": "2026-08-01", "end": future}, "end"),
    ):
        answer = client.post(f"/api/v1/regions/{region}/collect", json=body, headers=admin)
        assert answer.status_code == 422, body
        assert answer.json()["detail"].startswith(field)
    days = {"start": "2026-08-01", "end": "2026-08-02"}
    missing = client.post("/api/v1/regions/99999/collect", json=days, headers=admin)
    assert missing.status_code == 404


@pytest.fixture
def rerate(
    database: Database, data_dir: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> Iterator:
    monkeypatch.setenv("RERATE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RERATE_DATABASE_URL", database.url)
    context.database.cache_clear()
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=stdin)

    try:
        yield run
    finally:
        context.database().dispose()
        context.database.cache_clear()
        get_settings.cache_clear()


def test_cli_journey(rerate, database: Database, data_dir: Path, tmp_path: Path):
    settings = json.dumps({"endpoint": "http://127.0.0.1:9/client/api", "api_key": "AK"})
    made = rerate("regions", "create", "--code", "ch-gva-1", "--platform", "cloudstack",
                  "--settings", settings, "--secret-stdin", "--as", ADMIN,
                  stdin="typed-secret\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    region = made.output.split()[2]
    listed = rerate("regions", "list", "--as", ADMIN)
    assert listed.exit_code == 0, listed.output
    assert "ch-gva-1" in listed.output
    assert "typed-secret" not in listed.output
    shown = rerate("regions", "update", region, "--secret", "env:CS_KEY", "--cron", "15 2 * * *",
                   "--as", ADMIN)  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "from environment variable CS_KEY" in shown.output
    bad = rerate("regions", "update", region, "--settings", '{"endpoint": 3}', "--as", ADMIN)
    assert bad.exit_code == 2
    assert "settings.endpoint" in bad.output or "settings.api_key" in bad.output
    queued = rerate("regions", "collect", region, "--start", "2026-08-01", "--end",
                    "2026-08-02", "--as", ADMIN)  # fmt: skip
    assert queued.exit_code == 0, queued.output
    job_id = int(queued.output.split()[2].rstrip(":"))
    again = rerate("regions", "collect", region, "--start", "2026-08-01", "--end",
                   "2026-08-02", "--as", ADMIN)  # fmt: skip
    assert again.exit_code == 2
    assert "already" in again.output
    # The job runs and fails naming the missing environment variable, not a secret.
    run_jobs(database, data_dir)
    status, _, error = job(database, job_id)
    assert status == "failed"
    assert "CS_KEY" in error
    refused = rerate("regions", "create", "--code", "x", "--platform", "public_azure",
                     "--settings", "{}", "--as", "partner_admin@test.example")  # fmt: skip
    assert refused.exit_code == 2


def test_migration_downgrades_and_upgrades(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/m.db"
    migrate.upgrade(url)
    from alembic import command

    from rerate.kit.migrate import alembic_config

    command.downgrade(alembic_config(url), "0017")
    migrate.upgrade(url)
    migrate.check(url)


def test_delete_only_what_never_collected(
    client: TestClient, world: World, database: Database, data_dir: Path, tmp_path: Path
):
    admin = world.headers("platform_admin")
    fresh = client.post("/api/v1/regions", json=_body(tmp_path), headers=admin).json()["id"]
    assert (
        client.delete(f"/api/v1/regions/{fresh}", headers=world.headers("distributor")).status_code
        == 403
    )
    assert client.delete(f"/api/v1/regions/{fresh}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/regions/{fresh}", headers=admin).status_code == 404
    with database.session() as s:
        assert s.scalars(select(JobSchedule)).first() is None
    used = client.post("/api/v1/regions", json=_body(tmp_path), headers=admin).json()["id"]
    client.post(f"/api/v1/regions/{used}/collect",
                json={"start": "2026-08-01", "end": "2026-08-02"}, headers=admin)  # fmt: skip
    run_jobs(database, data_dir)
    kept = client.delete(f"/api/v1/regions/{used}", headers=admin)
    assert kept.status_code == 409
    assert "disable it instead" in kept.json()["detail"]
