"""The web console's pages through TestClient, on SQLite and PostgreSQL.

Most requests authenticate with the world's API keys (the pages accept them
like the API does); the login flow uses the one user with a password.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rerate.billing import pages as billing_pages
from rerate.billing.tasks import handlers
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.models import Invoice, Node
from rerate.models.enums import NodeKind
from rerate.tenancy.service import create_node
from tests.billing.fixtures import Billing
from tests.world import World

ADMIN = "partner_admin"
HX = {"HX-Request": "true"}


def drain(database: Database, data_dir: Path) -> None:
    worker = Worker(database, handlers=handlers(data_dir), lease_s=30, expand=None)
    while worker.run_once():
        pass


def ready_invoice(database: Database, billing: Billing, customer: str, period: str) -> None:
    """A Ready invoice for (customer, period): something a refresh can correct
    (a refresh never makes a period's first invoice)."""
    with database.session() as s:
        s.add(
            Invoice(
                customer_id=billing.world.nodes[customer].id,
                period=period,
                status="ready",
                series="S0",
                currency="EUR",
                subtotal=Decimal(0),
                tax_rate=Decimal(0),
                tax=Decimal(0),
                total=Decimal(0),
            )
        )
        s.commit()


def option_labels(html: str, select_id: str) -> list[str]:
    block = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert block is not None, f"no select #{select_id}"
    return re.findall(r"<option value=\"\d+\"[^>]*>([^<]+)</option>", block.group(0))


def submit_label(html: str) -> str:
    button = re.search(r'<button type="submit"[^>]*id="op-submit">(.*?)</button>', html, re.S)
    assert button is not None
    return re.sub(r"<[^>]+>", "", button.group(1)).strip()


def job_rows(html: str) -> dict[int, str]:
    return {int(i): s for i, s in re.findall(r'data-job-id="(\d+)" data-status="(\w+)"', html)}


# --- login, logout, redirects --------------------------------------------------------------


def test_login_flow(client: TestClient, world: World):
    r = client.get("/billing/utilities", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/billing/utilities"

    form = client.get("/login?next=/billing/utilities")
    assert form.status_code == 200
    assert 'name="next" value="/billing/utilities"' in form.text
    assert '<label for="email">Email</label>' in form.text

    bad = client.post(
        "/login",
        data={
            "email": "partner_admin@test.example",
            "password": "nope",
            "next": "/billing/utilities",
        },
        follow_redirects=False,
    )
    assert bad.status_code == 401
    assert 'role="alert"' in bad.text
    assert "Wrong email or password." in bad.text
    assert "rerate_session" not in bad.cookies

    ok = client.post(
        "/login",
        data={
            "email": "partner_admin@test.example",
            "password": "correct-horse",
            "next": "/billing/utilities",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/billing/utilities"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith("rerate_session=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()

    page = client.get("/billing/utilities")
    assert page.status_code == 200
    assert "<h1>Billing utilities</h1>" in page.text
    assert "partner_admin@test.example" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")

    out = client.post("/logout", follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert client.get("/billing/utilities", follow_redirects=False).status_code == 303


def test_login_never_redirects_off_site(client: TestClient, world: World):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = client.post(
            "/login",
            data={
                "email": "partner_admin@test.example",
                "password": "correct-horse",
                "next": target,
            },
            follow_redirects=False,
        )
        assert (r.status_code, r.headers["location"]) == (303, "/"), target


def test_htmx_requests_are_redirected_with_a_header(client: TestClient, world: World):
    r = client.get(
        "/billing/utilities/log",
        headers={**HX, "HX-Current-URL": "http://testserver/billing/utilities?status=failed"},
    )
    assert r.status_code == 401
    assert r.headers["hx-redirect"] == "/login?next=/billing/utilities%3Fstatus%3Dfailed"


def test_cross_site_posts_are_refused(client: TestClient, world: World):
    admin = world.headers(ADMIN)
    r = client.post("/logout", headers={**admin, "Origin": "https://evil.example"})
    assert r.status_code == 403
    assert "Cross-site requests are refused" in r.text
    for site in ("cross-site", "same-site"):
        r = client.post("/logout", headers={**admin, "Sec-Fetch-Site": site})
        assert r.status_code == 403, site
    r = client.post(
        "/logout", headers={**admin, "Sec-Fetch-Site": "same-origin"}, follow_redirects=False
    )
    assert r.status_code == 303


def test_static_files_are_served_from_the_package(client: TestClient):
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200
    assert "htmx" in js.text[:200]
    assert client.get("/static/rerate.css").status_code == 200
    page = client.get("/login")
    assert re.search(r'src="/static/htmx\.min\.js\?v=[0-9a-f]{10}"', page.text)
    assert "https://" not in page.text  # no CDN


# --- navigation and permissions ------------------------------------------------------------


@pytest.mark.parametrize("user", ["partner_user", "customer_user"])
def test_billing_utilities_hidden_and_forbidden_without_the_permission(
    client: TestClient, world: World, user: str
):
    headers = world.headers(user)
    invoices = client.get("/invoices", headers=headers)
    assert invoices.status_code == 200
    assert 'href="/invoices"' in invoices.text  # the Billing menu offers Invoices
    assert 'href="/billing/utilities"' not in invoices.text
    assert "Billing utilities" not in invoices.text

    denied = client.get("/billing/utilities", headers=headers)
    assert denied.status_code == 403
    assert "text/html" in denied.headers["content-type"]
    assert "You don&#39;t have access to this page" in denied.text
    assert "Billing Utilities (role Billing Utilities Admin) permission" in denied.text
    for path in (
        "/billing/utilities/log",
        "/billing/utilities/operations/recalculation",
        "/billing/jobs/1",
    ):
        assert client.get(path, headers=headers).status_code == 403, path


def test_billing_utilities_entry_shown_to_the_admin(client: TestClient, world: World):
    r = client.get("/invoices", headers=world.headers(ADMIN))
    assert 'href="/billing/utilities"' in r.text
    assert "Billing utilities" in r.text
    assert (
        client.get("/", headers=world.headers(ADMIN), follow_redirects=False).headers["location"]
        == "/billing/utilities"
    )
    assert (
        client.get("/", headers=world.headers("customer_user"), follow_redirects=False).headers[
            "location"
        ]
        == "/invoices"
    )


def test_unknown_pages_are_404_pages(client: TestClient, world: World):
    r = client.get("/billing/jobs/999", headers=world.headers(ADMIN))
    assert r.status_code == 404
    assert "Page not found" in r.text
    r = client.get("/billing/utilities/operations/nonsense", headers=world.headers(ADMIN))
    assert r.status_code == 404


# --- the operation dialogs -----------------------------------------------------------------


def test_dialog_lists_only_eligible_customers(
    client: TestClient, billing: Billing, database: Database
):
    w = billing.world
    with database.session() as s:  # in the admin's subtree, but without a contract
        create_node(s, NodeKind.CUSTOMER, name="Cust A1z", parent=s.merge(w.nodes["partner_a1"]))
    r = client.get("/billing/utilities/operations/recalculation", headers=w.headers(ADMIN))
    assert r.status_code == 200
    html = r.text
    assert re.search(r'<dialog id="op-dialog"[^>]*aria-labelledby="op-title"', html)
    assert '<h2 id="op-title" class="modal-title">Data recalculation</h2>' in html
    assert option_labels(html, "op-customer") == ["Cust A1x", "Cust A1y"]
    assert 'name="dry_run"' in html
    assert submit_label(html) == "Run data recalculation"
    refresh = client.get("/billing/utilities/operations/invoice_refresh", headers=w.headers(ADMIN))
    assert 'name="dry_run"' not in refresh.text
    assert submit_label(refresh.text) == "Run invoice refresh"
    # the customer filter of the log lists every customer in scope, eligible or not
    page = client.get("/billing/utilities", headers=w.headers(ADMIN)).text
    assert option_labels(page, "f-customer") == ["Cust A1x", "Cust A1y", "Cust A1z"]


def test_periods_load_for_the_selected_customer(client: TestClient, billing: Billing):
    w = billing.world
    r = client.get(
        f"/billing/utilities/periods?customer_id={w.nodes['cust_a1x'].id}",
        headers={**w.headers(ADMIN), **HX},
    )
    assert r.status_code == 200
    periods = re.findall(r'name="periods" value="(\d{4}-\d{2})"', r.text)
    assert {"2026-08", "2026-09"} <= set(periods)
    assert periods == sorted(periods, reverse=True)
    other = client.get(
        f"/billing/utilities/periods?customer_id={w.nodes['cust_b1x'].id}", headers=w.headers(ADMIN)
    )
    assert other.status_code == 404  # another partner's customer


def test_the_refresh_dialog_offers_only_periods_with_an_invoice(
    client: TestClient, billing: Billing, database: Database
):
    w = billing.world
    url = f"/billing/utilities/periods?op=invoice_refresh&customer_id={w.nodes['cust_a1x'].id}"
    none = client.get(url, headers={**w.headers(ADMIN), **HX})
    assert re.findall(r'name="periods" value="(\d{4}-\d{2})"', none.text) == []
    assert "no invoice to refresh" in none.text
    ready_invoice(database, billing, "cust_a1x", "2026-08")
    one = client.get(url, headers={**w.headers(ADMIN), **HX})
    assert re.findall(r'name="periods" value="(\d{4}-\d{2})"', one.text) == ["2026-08"]
    assert "that have an invoice to correct" in one.text


def test_refresh_with_other_and_no_explanation_shows_the_error_inline(
    client: TestClient, billing: Billing, database: Database
):
    w = billing.world
    ready_invoice(database, billing, "cust_a1x", "2026-08")
    cust = w.nodes["cust_a1x"].id
    r = client.post(
        "/billing/utilities/operations/invoice_refresh",
        headers={**w.headers(ADMIN), **HX},
        data={"customer_id": cust, "periods": ["2026-08"], "reason": "other", "explanation": "  "},
    )
    assert r.status_code == 422
    assert 'role="alert"' in r.text
    assert "An invoice refresh with reason Other needs an explanation." in r.text
    # the form comes back as it was: customer, period and reason kept, explanation shown
    assert f'<option value="{cust}" selected>' in r.text
    assert 'value="2026-08" checked' in r.text
    assert '<option value="other" selected>' in r.text
    assert 'id="op-explanation-field" hidden' not in r.text
    assert "HX-Trigger" not in r.headers
    jobs = client.get("/api/v1/jobs", headers=w.headers(ADMIN)).json()
    assert jobs["total"] == 0  # nothing queued


def test_submission_queues_jobs_and_conflicts_come_back_inline(
    client: TestClient, billing: Billing, database: Database
):
    w = billing.world
    ready_invoice(database, billing, "cust_a1x", "2026-09")
    body = {
        "customer_id": w.nodes["cust_a1x"].id,
        "periods": ["2026-09"],
        "reason": "price_book_update",
    }
    r = client.post(
        "/billing/utilities/operations/recalculation", headers={**w.headers(ADMIN), **HX}, data=body
    )
    assert r.status_code == 202
    trigger = json.loads(r.headers["hx-trigger"])
    assert trigger["rerate:jobs-submitted"]["message"].startswith("Data recalculation queued")
    assert r.headers["hx-reswap"] == "none"
    again = client.post(
        "/billing/utilities/operations/invoice_refresh",
        headers={**w.headers(ADMIN), **HX},
        data=body,
    )
    assert again.status_code == 409
    assert "already queued" in again.text
    assert 'role="alert"' in again.text
    missing = client.post(
        "/billing/utilities/operations/cache_sync",
        headers={**w.headers(ADMIN), **HX},
        data={"periods": ["2026-09"]},
    )
    assert missing.status_code == 422
    assert "Select a customer." in missing.text


# --- the run queue & log -------------------------------------------------------------------


def test_log_polls_only_while_a_job_is_active(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    admin = {**w.headers(ADMIN), **HX}
    empty = client.get("/billing/utilities/log", headers=admin).text
    assert "every 2s" not in empty
    assert "No jobs yet" in empty
    client.post(
        "/billing/utilities/operations/recalculation",
        headers=admin,
        data={"customer_id": w.nodes["cust_a1x"].id, "periods": ["2026-09"], "reason": "other"},
    )
    busy = client.get("/billing/utilities/log", headers={**admin, "HX-Trigger": "job-log"})
    assert 'hx-trigger="rerate:jobs-submitted from:body, every 2s"' in busy.text
    assert 'data-polling="on"' in busy.text
    assert "HX-Replace-Url" not in busy.headers  # a poll does not touch the address bar
    assert list(job_rows(busy.text).values()) == ["queued"]
    assert ">Other</button>" in busy.text  # the explanation opens from the reason
    drain(database, data_dir)
    done = client.get("/billing/utilities/log", headers={**admin, "HX-Trigger": "job-log"}).text
    assert "every 2s" not in done
    assert 'data-polling="off"' in done
    assert list(job_rows(done).values()) == ["complete"]
    assert "No jobs queued or running." in done


def test_log_filters_and_pages(
    client: TestClient, billing: Billing, monkeypatch: pytest.MonkeyPatch
):
    w = billing.world
    admin = {**w.headers(ADMIN), **HX}
    for customer in ("cust_a1x", "cust_a1y"):
        client.post(
            "/billing/utilities/operations/cache_sync",
            headers=admin,
            data={
                "customer_id": w.nodes[customer].id,
                "periods": ["2026-05", "2026-06", "2026-07"],
                "reason": "data_correction",
            },
        )
    monkeypatch.setattr(billing_pages, "PAGE_SIZE", 4)
    first = client.get("/billing/utilities/log", headers=admin)
    assert len(job_rows(first.text)) == 4
    assert "Showing 1–4 of 6 jobs" in first.text
    assert "Page 1 of 2" in first.text
    second = client.get("/billing/utilities/log?page=2", headers=admin)
    assert len(job_rows(second.text)) == 2
    assert second.headers["hx-replace-url"] == "/billing/utilities?page=2"
    a1y = w.nodes["cust_a1y"].id
    filtered = client.get(
        f"/billing/utilities/log?customer_id={a1y}&period=2026-06&type=cache_sync&status=queued",
        headers=admin,
    )
    assert len(job_rows(filtered.text)) == 1
    none = client.get("/billing/utilities/log?status=failed", headers=admin)
    assert job_rows(none.text) == {}
    assert "No jobs match these filters." in none.text
    # the page itself takes the same filters (links can be shared)
    page = client.get(f"/billing/utilities?customer_id={a1y}", headers=w.headers(ADMIN))
    assert len(job_rows(page.text)) == 3
    assert f'<option value="{a1y}" selected>' in page.text


# --- one job -------------------------------------------------------------------------------


def test_job_page_shows_result_diff_and_cascade(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    admin = w.headers(ADMIN)
    r = client.post(
        "/api/v1/billing-utilities/recalculations",
        headers=admin,
        json={
            "customer_id": w.nodes["cust_a1x"].id,
            "periods": ["2026-08"],
            "reason": "other",
            "explanation": "moved account",
        },
    )
    parent, child = (j["id"] for j in r.json()["jobs"])
    queued = client.get(f"/billing/jobs/{parent}", headers=admin).text
    assert 'hx-trigger="every 2s"' in queued
    assert "Cancel job" in queued
    drain(database, data_dir)
    html = client.get(f"/billing/jobs/{parent}", headers=admin).text
    assert "every 2s" not in html
    assert "Cancel job" not in html
    assert '<span class="badge badge-complete badge-lg">Complete</span>' in html
    for label in ("Rows re-rated", "Total before", "Total after", "Delta", "Published"):
        assert f"<dt>{label}</dt>" in html, label
    assert f'href="/billing/jobs/{child}"' in html  # cascade child
    assert f'href="/api/v1/jobs/{parent}/diff.csv"' in html
    assert "Download CSV" in html
    assert "<td>acc-x</td>" in html  # the diff table names accounts by their reference
    child_html = client.get(f"/billing/jobs/{child}", headers=admin).text
    assert f'href="/billing/jobs/{parent}"' in child_html  # and back to the parent


def test_cancel_a_queued_job(client: TestClient, billing: Billing):
    w = billing.world
    admin = {**w.headers(ADMIN), **HX}
    r = client.post(
        "/api/v1/billing-utilities/cache-syncs",
        headers=w.headers(ADMIN),
        json={
            "customer_id": w.nodes["cust_a1y"].id,
            "periods": ["2026-07"],
            "reason": "data_correction",
        },
    )
    job_id = r.json()["jobs"][0]["id"]
    done = client.post(f"/billing/jobs/{job_id}/cancel", headers=admin)
    assert done.status_code == 200
    assert "Job cancelled." in done.text
    assert ">Cancelled</span>" in done.text
    again = client.post(f"/billing/jobs/{job_id}/cancel", headers=admin)
    assert again.status_code == 409
    assert "is already cancelled" in again.text


# --- invoices ------------------------------------------------------------------------------


def test_invoices_page_links_versions_and_offers_issue_to_platform_roles(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    cust = w.nodes["cust_a1x"].id
    client.post(
        "/api/v1/billing-utilities/recalculations",
        headers=w.headers(ADMIN),
        json={"customer_id": cust, "periods": ["2026-09"], "reason": "incorrect_charges"},
    )
    drain(database, data_dir)
    platform = w.headers("platform_admin")
    first = client.post(
        "/api/v1/invoices/generate",
        headers=platform,
        json={"customer_id": cust, "period": "2026-09"},
    ).json()
    url = f"/invoices?customer_id={cust}&period=2026-09"
    page = client.get(url, headers=platform).text
    assert ">Ready</span>" in page
    assert f'action="/invoices/{first["id"]}/issue"' in page
    assert ">Issue</button>" not in client.get(url, headers=w.headers(ADMIN)).text

    issued = client.post(f"/invoices/{first['id']}/issue", headers=platform, follow_redirects=False)
    assert issued.status_code == 303
    page = client.get(issued.headers["location"], headers=platform).text
    assert ">Issued</span>" in page
    assert "issued as" in page

    with database.session() as s:  # something to refresh: the tax rate changed
        node = s.get(Node, cust)
        assert node is not None
        node.tax_rate = Decimal("0.10")
    client.post(
        "/api/v1/billing-utilities/invoice-refreshes",
        headers=w.headers(ADMIN),
        json={
            "customer_id": cust,
            "periods": ["2026-09"],
            "reason": "other",
            "explanation": "credit agreed",
        },
    )
    drain(database, data_dir)
    page = client.get(url, headers=w.headers(ADMIN)).text
    rows = dict(re.findall(r'data-invoice-id="(\d+)" data-status="(\w+)"', page))
    assert sorted(rows.values()) == ["cancelled", "ready"]
    new_id = next(i for i, s in rows.items() if s == "ready")
    assert f'Replaced by <a href="#invoice-{new_id}">#{new_id}</a>' in page
    assert f'Replaces <a href="#invoice-{first["id"]}">#{first["id"]} (' in page
    assert f'href="/api/v1/invoices/{new_id}/pdf"' in page
    assert f'href="/api/v1/invoices/{new_id}/csv"' in page
