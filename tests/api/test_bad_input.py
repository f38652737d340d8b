"""Hand-made bad input: every case gets a clear 4xx in the error envelope,
naming what is wrong, never a 500 and never a value the engine trips on later.

The cases are the ones seen in the field (issue 11, section 6): periods like
2026-13, dates before 1900 or in 9999, ids at or above 2**63, an amount of
1E+400, upload file names `..` or 300 characters long, deeply nested JSON, a
20 MB CSV line. Each runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from tests.billing.fixtures import build_billing
from tests.billing.test_billing_utilities import PARTNER
from tests.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32-bit on PostgreSQL
BIG = 2**63  # past every 64-bit integer
ADMIN = "platform_admin"


@pytest.fixture
def api(database: Database, data_dir: Path) -> Iterator[TestClient]:
    """A client that answers a server error as a response (status 500), not an exception."""
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test")
    with TestClient(create_app(settings, database), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def billed(database: Database, data_dir: Path, world: World) -> World:
    """The world with contracts (custom items and schedules need one)."""
    build_billing(database, data_dir, world)
    return world


def refused(response: httpx.Response, status: int, *names: str) -> dict[str, Any]:
    """The answer is `status` in the error envelope and names each of `names`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("detail"), str), body
    for name in names:
        assert name in body["detail"], (name, body)
    return body  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- periods

BAD_PERIODS = ["2026-13", "2026-00", "0000-01", "1899-12", "10000-01", "2026-1", "９９９９-01"]


def test_a_bad_period_is_refused_when_submitted(api: TestClient, billed: World):
    for period in BAD_PERIODS:
        body = {"customer_id": billed.nodes["cust_a1x"].id, "periods": [period], "reason": "other"}
        for kind in ("recalculations", "invoice-refreshes", "cache-syncs"):
            r = api.post(
                f"/api/v1/billing-utilities/{kind}", json=body, headers=billed.headers(PARTNER)
            )
            refused(r, 422, "periods")


def test_a_bad_period_is_refused_in_queries_and_invoice_generation(api: TestClient, billed: World):
    h = billed.headers(ADMIN)
    for period in BAD_PERIODS:
        refused(api.get("/api/v1/jobs", params={"period": period}, headers=h), 422, "period")
        refused(api.get("/api/v1/invoices", params={"period": period}, headers=h), 422, "period")
        body = {"customer_id": billed.nodes["cust_a1x"].id, "period": period}
        refused(api.post("/api/v1/invoices/generate", json=body, headers=h), 422, "period")


def test_a_schedule_with_a_period_the_engine_cannot_bill_is_refused(api: TestClient, billed: World):
    for period in ["0000-01", "0099-12", "1899-12", "9999-12", "2026-13"]:
        body = {
            "name": "bad",
            "type": "cache_sync",
            "customer_id": billed.nodes["cust_a1x"].id,
            "cron": "0 2 * * *",
            "period_rule": period,
            "reason": "other",
        }
        r = api.post("/api/v1/schedules", json=body, headers=billed.headers(PARTNER))
        refused(r, 422, "period_rule")


# --------------------------------------------------------------------------- dates

BAD_DATES = ["0001-01-01", "0099-12-31", "1899-12-31", "9999-01-01", "9999-12-31"]


def _item_with(field: str, day: str) -> dict[str, Any]:
    if field == "one_off_date":
        return {"one_off_date": day}
    if field == "recurring_to":
        return {"recurring_from": "2026-01-01", "recurring_to": day}
    return {"recurring_from": day}


def test_a_custom_item_dated_outside_the_billable_years_is_refused(api: TestClient, billed: World):
    customer = billed.nodes["cust_a1x"].id
    h = billed.headers(PARTNER)
    made = api.post(
        f"/api/v1/customers/{customer}/custom-line-items",
        json={"description": "x", "amount": "1", "recurring_from": "2026-01-01"},
        headers=h,
    )
    assert made.status_code == 201, made.text
    for day in BAD_DATES:
        for field in ("one_off_date", "recurring_from", "recurring_to"):
            item = {"description": "x", "amount": "1", **_item_with(field, day)}
            r = api.post(f"/api/v1/customers/{customer}/custom-line-items", json=item, headers=h)
            refused(r, 422, field)
            change = _item_with(field, day)
            if field == "one_off_date":
                change["recurring_from"] = None
            r = api.patch(f"/api/v1/custom-line-items/{made.json()['id']}", json=change, headers=h)
            refused(r, 422, field)


BAD_INSTANTS = [
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "0005-03-01T00:00:00Z",
    "1899-12-31T23:00:00Z",
    "9999-12-31T23:00:00-05:00",  # after year 9999 in UTC
    "9999-06-01T00:00:00Z",
]


def test_a_schedule_submission_or_lookup_at_an_instant_outside_the_billable_years_is_refused(
    api: TestClient, billed: World
):
    h = billed.headers(PARTNER)
    customer = billed.nodes["cust_a1x"].id
    for instant in BAD_INSTANTS:
        schedule = {"name": "x", "type": "cache_sync", "customer_id": customer, "reason": "other"}
        r = api.post("/api/v1/schedules", json=schedule | {"run_at": instant}, headers=h)
        refused(r, 422, "run_at")
        submission = {"customer_id": customer, "periods": ["2026-08"], "reason": "other"}
        r = api.post(
            "/api/v1/billing-utilities/cache-syncs",
            json=submission | {"run_at": instant},
            headers=h,
        )
        refused(r, 422, "run_at")
        r = api.get(
            "/api/v1/billing/records/r1",
            params={"account_id": 1, "usage_start": instant},
            headers=h,
        )
        refused(r, 422, "usage_start")


def test_usage_records_outside_the_billable_years_are_refused(api: TestClient, world: World):
    for instant in [*BAD_INSTANTS, "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]:
        record = {
            "record_id": "r1",
            "kind": "cloud",
            "account_ref": "acct",
            "usage_start": instant,
            "usage_end": instant,
            "sku": "vm",
            "quantity": "1",
        }
        r = api.post(
            "/api/v1/usage/records", json={"records": [record]}, headers=world.headers(ADMIN)
        )
        refused(r, 422, "usage_start")


# --------------------------------------------------------------------------- ids

ID_PATHS = [
    ("GET", "/api/v1/accounts/{id}"),
    ("GET", "/api/v1/nodes/{id}"),
    ("GET", "/api/v1/invoices/{id}"),
    ("GET", "/api/v1/invoices/{id}/pdf"),
    ("GET", "/api/v1/invoices/{id}/csv"),
    ("POST", "/api/v1/invoices/{id}/issue"),
    ("GET", "/api/v1/jobs/{id}"),
    ("POST", "/api/v1/jobs/{id}/cancel"),
    ("GET", "/api/v1/jobs/{id}/diff.csv"),
    ("DELETE", "/api/v1/schedules/{id}"),
    ("DELETE", "/api/v1/custom-line-items/{id}"),
    ("GET", "/api/v1/customers/{id}/custom-line-items"),
    ("GET", "/api/v1/billing-utilities/customers/{id}/periods"),
    ("GET", "/api/v1/accounts?customer_id={id}"),
    ("GET", "/api/v1/settings?node_id={id}"),
    ("GET", "/api/v1/jobs?customer_id={id}"),
    ("GET", "/api/v1/invoices?customer_id={id}"),
    ("GET", "/api/v1/billing/records/r1?account_id={id}&usage_start=2026-08-01T00:00:00Z"),
]


@pytest.mark.parametrize("value", [MAX_ID + 1, BIG, 2**64, 10**30, -1, 0])
def test_an_id_outside_the_id_columns_range_is_refused_in_paths_and_queries(
    api: TestClient, world: World, value: int
):
    for method, path in ID_PATHS:
        r = api.request(method, path.format(id=value), headers=world.headers(ADMIN))
        assert refused(r, 422)["errors"], (method, path)


def test_the_largest_id_is_simply_not_found(api: TestClient, world: World):
    for method, path in ID_PATHS:
        if "?" in path:
            continue
        r = api.request(method, path.format(id=MAX_ID), headers=world.headers(ADMIN))
        refused(r, 404)


@pytest.mark.parametrize("value", [MAX_ID + 1, BIG, 10**30, -1, 0])
def test_an_id_outside_the_id_columns_range_is_refused_in_bodies(
    api: TestClient, world: World, value: int
):
    h = world.headers(ADMIN)
    cases = [
        ("POST", "/api/v1/invoices/generate", {"customer_id": value, "period": "2026-08"}),
        (
            "POST",
            "/api/v1/billing-utilities/recalculations",
            {"customer_id": value, "periods": ["2026-08"], "reason": "other"},
        ),
        (
            "POST",
            "/api/v1/users",
            {"email": "x@test.example", "name": "x", "role": "customer_user", "node_id": value},
        ),
        ("PUT", "/api/v1/settings/invoices_visible_to_tenants", {"value": "1", "node_id": value}),
        (
            "POST",
            "/api/v1/schedules",
            {
                "name": "x",
                "type": "cache_sync",
                "customer_id": value,
                "cron": "@daily",
                "reason": "other",
            },
        ),
    ]
    for method, path, body in cases:
        refused(api.request(method, path, json=body, headers=h), 422, "customer_id"
                if "customer_id" in body else "node_id")  # fmt: skip
    with (EXAMPLES / "focus" / "sample.csv").open("rb") as fh:
        r = api.post(
            "/api/v1/usage/imports",
            files={"file": ("sample.csv", fh, "text/csv")},
            data={"format": "focus", "owner_customer_id": str(value)},
            headers=h,
        )
    refused(r, 422, "owner_customer_id")


def test_a_page_offset_outside_int64_is_refused(api: TestClient, world: World):
    h = world.headers(ADMIN)
    for offset in (BIG, 10**30, -1):
        for path in ("/api/v1/usage/imports", "/api/v1/jobs", "/api/v1/invoices"):
            refused(api.get(path, params={"offset": offset}, headers=h), 422, "offset")
    for path in ("/api/v1/usage/imports", "/api/v1/jobs", "/api/v1/invoices"):
        last = api.get(path, params={"offset": BIG - 1}, headers=h)
        assert last.status_code == 200, last.text
        assert last.json()["items"] == []


# --------------------------------------------------------------------------- amounts

TOO_LARGE = ["1E+400", "1e30", "922337203.6854775808", "-922337203.6854775808", "1e10"]


def test_a_custom_item_amount_the_engine_cannot_represent_is_refused_at_create(
    api: TestClient, billed: World
):
    customer = billed.nodes["cust_a1x"].id
    h = billed.headers(PARTNER)
    made = api.post(
        f"/api/v1/customers/{customer}/custom-line-items",
        json={"description": "x", "amount": "1", "one_off_date": "2026-08-20"},
        headers=h,
    )
    assert made.status_code == 201, made.text
    for amount in [*TOO_LARGE, 1e30, 250.5, "NaN", "Infinity", "1E-400", "0.00000000001"]:
        item = {"description": "x", "amount": amount, "one_off_date": "2026-08-20"}
        r = api.post(f"/api/v1/customers/{customer}/custom-line-items", json=item, headers=h)
        refused(r, 422, "amount")
        r = api.patch(
            f"/api/v1/custom-line-items/{made.json()['id']}", json={"amount": amount}, headers=h
        )
        refused(r, 422, "amount")
    listed = api.get(f"/api/v1/customers/{customer}/custom-line-items", headers=h).json()
    assert [Decimal(i["amount"]) for i in listed["items"]] == [1]  # unchanged


def test_a_json_number_too_large_for_a_float_is_refused(api: TestClient, billed: World):
    customer = billed.nodes["cust_a1x"].id
    raw = b'{"description": "x", "amount": 1E+400, "one_off_date": "2026-08-20"}'
    r = api.post(
        f"/api/v1/customers/{customer}/custom-line-items",
        content=raw,
        headers={**billed.headers(PARTNER), "Content-Type": "application/json"},
    )
    refused(r, 422, "amount")


@pytest.mark.parametrize("amount", ["922337203.6854775807", "-922337203.6854775807"])
def test_the_largest_representable_custom_item_is_billed(
    api: TestClient, billed: World, database: Database, data_dir: Path, amount: str
):
    from tests.billing.test_billing_utilities import drain

    customer = billed.nodes["cust_a1x"].id
    h = billed.headers(PARTNER)
    item = {"description": "big", "amount": amount, "one_off_date": "2026-08-20"}
    made = api.post(f"/api/v1/customers/{customer}/custom-line-items", json=item, headers=h)
    assert made.status_code == 201, made.text
    body = {"customer_id": customer, "periods": ["2026-08"], "reason": "custom_line_item"}
    r = api.post("/api/v1/billing-utilities/recalculations", json=body, headers=h)
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    job = api.get(f"/api/v1/jobs/{r.json()['jobs'][0]['id']}", headers=h).json()
    assert job["status"] == "complete", job


def test_a_usage_quantity_that_is_not_a_finite_decimal_is_refused(api: TestClient, world: World):
    for quantity in ["1E+400", "1e30", "NaN", "-Infinity"]:
        _refused_quantity(api, world, quantity)


def _refused_quantity(api: TestClient, world: World, quantity: str) -> None:
    record = {
        "record_id": "r1",
        "kind": "cloud",
        "account_ref": "acct",
        "usage_start": "2026-08-01T00:00:00Z",
        "usage_end": "2026-08-01T01:00:00Z",
        "sku": "vm",
        "quantity": quantity,
    }
    r = api.post("/api/v1/usage/records", json={"records": [record]}, headers=world.headers(ADMIN))
    refused(r, 422, "quantity")


# --------------------------------------------------------------------------- uploads


HOSTILE_NAMES = [
    "..",
    ".",
    "a" * 300 + ".csv",
    "../../etc/passwd",
    "dir/evil.csv",
    "c:\\x\\y.csv",
    "\x00.csv",
]


def test_an_upload_with_a_hostile_file_name_is_imported_under_a_safe_name(
    api: TestClient, world: World, data_dir: Path
):
    for name in HOSTILE_NAMES:
        with (EXAMPLES / "focus" / "sample.csv").open("rb") as fh:
            r = api.post(
                "/api/v1/usage/imports",
                files={"file": (name, fh, "text/csv")},
                data={"format": "focus", "create_accounts": "true",
                      "owner_customer_id": str(world.nodes["cust_a1x"].id)},
                headers=world.headers(ADMIN),
            )  # fmt: skip
        assert r.status_code == 201, (name, r.text)
        label = r.json()["file"]
        assert label not in ("", ".", ".."), name
        assert not {"/", "\\", "\x00"} & set(label), name
        assert len(label) <= 255, name
    assert not (data_dir.parent / "etc").exists()
    with (EXAMPLES / "focus" / "sample.csv").open("rb") as fh:
        r = api.post(
            "/api/v1/usage/imports",
            files={"file": ("x" * 20_000, fh, "text/csv")},
            data={"format": "focus"},
            headers=world.headers(ADMIN),
        )
    refused(r, 422, "header")  # a part header of 20 kB is refused as such


def _upload_bytes(api: TestClient, world: World, content: bytes, fmt: str, name: str):
    return api.post(
        "/api/v1/usage/imports",
        files={"file": (name, content, "application/octet-stream")},
        data={"format": fmt},
        headers=world.headers(ADMIN),
    )


# The first line of each format's example: a header, or (Asterisk, FreeSWITCH) a record.
FIRST_LINES = {
    fmt: (EXAMPLES / path).read_bytes().split(b"\n", 1)[0]
    for fmt, path in [
        ("focus", "focus/sample.csv"),
        ("generic_cdr", "generic/cdrs.csv"),
        ("azure", "azure/cost-details.csv"),
        ("asterisk", "asterisk/Master.csv"),
        ("freeswitch", "freeswitch/Master.csv"),
    ]
}


def test_a_20_mb_csv_line_is_refused_naming_the_file_and_line(api: TestClient, world: World):
    huge = b"x" * (20 << 20)
    for fmt, first in FIRST_LINES.items():
        for line, content in ((1, huge + b"\n"), (2, first + b"\n" + huge + b"\n")):
            r = _upload_bytes(api, world, content, fmt, "big.csv")
            body = refused(r, 422, "big.csv")
            assert (body.get("file"), body.get("line")) == ("big.csv", line), (fmt, body)


NESTED = 100_000


def test_a_deeply_nested_json_body_is_refused(api: TestClient, billed: World):
    h = {**billed.headers(ADMIN), "Content-Type": "application/json"}
    deep = "[" * NESTED + "]" * NESTED
    customer = billed.nodes["cust_a1x"].id
    for path, raw in [
        ("/api/v1/usage/records", '{"records": ' + deep + "}"),
        ("/api/v1/usage/records", deep),
        (f"/api/v1/customers/{customer}/custom-line-items", '{"description": ' + deep + "}"),
        ("/api/v1/invoices/generate", '{"x": ' + deep + "}"),
    ]:
        r = api.post(path, content=raw.encode(), headers=h)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
        assert set(r.json()) >= {"error", "detail"}, r.text[:200]


def test_a_deeply_nested_json_upload_is_refused_naming_the_file(api: TestClient, world: World):
    deep = '{"listusagerecordsresponse": {"usagerecord": ' + "[" * NESTED + "]" * NESTED + "}}"
    r = _upload_bytes(api, world, deep.encode(), "cloudstack", "deep.json")
    refused(r, 422, "deep.json")


def test_a_body_that_is_not_json_gets_the_envelope(api: TestClient, world: World):
    r = api.post(
        "/api/v1/usage/records",
        content=b"\xff\xfe not json",
        headers={**world.headers(ADMIN), "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    assert set(r.json()) >= {"error", "detail"}, r.text


# --------------------------------------------------------------------------- the web console


def test_the_web_console_answers_bad_ids_and_instants_with_a_page_not_a_500(
    api: TestClient, billed: World
):
    login = api.post(
        "/login",
        data={"email": "partner_admin@test.example", "password": "correct-horse", "next": "/"},
        follow_redirects=False,
    )
    assert login.status_code == 303, login.text
    for value in (MAX_ID + 1, BIG, 10**30):
        assert api.get(f"/billing/jobs/{value}").status_code == 404
        assert api.get(f"/billing/jobs/{value}/panel").status_code == 404
        log = api.get("/billing/utilities/log", params={"customer_id": value, "page": value})
        assert log.status_code == 200, log.text[:300]
        invoices = api.get("/invoices", params={"customer_id": value, "page": value})
        assert invoices.status_code == 200, invoices.text[:300]
    for instant in BAD_INSTANTS:
        r = api.get(
            "/billing/records",
            params={"record_id": "r1", "account_id": "1", "usage_start": instant},
        )
        assert r.status_code == 200, r.text[:300]
        assert "Enter the record id, the account id and the start" in r.text


def test_a_json_body_over_the_limit_gets_413_in_the_envelope(
    database: Database, data_dir: Path, world: World
):
    settings = Settings(
        data_dir=data_dir, database_url=database.url, env="test", max_body_bytes=4096
    )
    with TestClient(create_app(settings, database), raise_server_exceptions=False) as api:
        record = {"record_id": "r", "kind": "cloud", "account_ref": "a" * 5000}
        r = api.post(
            "/api/v1/usage/records", json={"records": [record]}, headers=world.headers(ADMIN)
        )
        assert refused(r, 413, "4096")["error"] == "PayloadTooLarge"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"records": [{"record_id": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}]}'

        r = api.post(
            "/api/v1/usage/records",
            content=chunks(),
            headers={**world.headers(ADMIN), "Content-Type": "application/json"},
        )
        assert refused(r, 413, "4096")["error"] == "PayloadTooLarge"


def test_an_unexpected_error_is_a_500_envelope_with_a_request_id_and_no_internals(
    database: Database, data_dir: Path, caplog: pytest.LogCaptureFixture
):
    app = create_app(Settings(data_dir=data_dir, database_url=database.url, env="test"), database)

    @app.get("/api/v1/boom", include_in_schema=False)
    def boom() -> None:  # a bug, as the real routes may still hide one
        raise RuntimeError(f"cannot open {data_dir}/secret.parquet")

    with TestClient(app, raise_server_exceptions=False) as api:
        r = api.get("/api/v1/boom")
    body = refused(r, 500, "request id")
    assert body["error"] == "InternalError"
    request_id = r.headers["x-request-id"]
    assert request_id in body["detail"]
    assert str(data_dir) not in r.text
    assert "Traceback" not in r.text
    logged = [rec for rec in caplog.records if request_id in rec.getMessage()]
    assert logged
    assert logged[0].exc_info is not None  # the traceback is in the log, with the id
