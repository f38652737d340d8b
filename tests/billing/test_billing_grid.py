"""The Billing grid (billing/grid.py, grid_pages.py, grid_endpoints.py): the
page's filters, modes, sorting and paging, summary cards against
hand-computed amounts, the previous range, a row's details, the charts, the
CSV export and the scope, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from rerate.app import create_app
from rerate.billing import grid
from rerate.billing.daily_rows import CurrencyTotal
from rerate.billing.grid_pages import parse_params
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import Setting
from rerate.models.enums import SettingKey
from tests.billing.fixtures import Billing
from tests.billing.grid_world import DISK, NORTH, VM_X, build_grid_world, net
from tests.world import World, build_world

AUG = ("2026-08-01", "2026-09-01")
SEP = ("2026-09-01", "2026-10-01")


@dataclass
class Grid:
    client: TestClient
    db: Database
    data_dir: Path
    billing: Billing

    @property
    def world(self) -> World:
        return self.billing.world

    def get(self, path: str, who: str = "partner_admin", **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.world.headers(who))

    def api(self, path: str, who: str = "partner_admin", **params: Any) -> Any:
        r = self.get(f"/api/v1/billing/{path}", who, **params)
        assert r.status_code == 200, r.text
        return r.json()

    def id(self, name: str) -> int:
        return self.world.nodes[name].id


@pytest.fixture(scope="module")
def g(module_database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grid]:
    data_dir = tmp_path_factory.mktemp("grid-data")
    with module_database.session() as s:
        world = build_world(s)
    settings = Settings(data_dir=data_dir, database_url=module_database.url, env="test")
    with TestClient(create_app(settings, module_database)) as client:
        billing = build_grid_world(client, module_database, data_dir, world)
        yield Grid(client, module_database, data_dir, billing)


def _cells(html: str, label: str) -> list[str]:
    """The text of every grid cell with `data-label=label`, in order."""
    body = html.split('class="table billing-grid"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(rf'<td data-label="{label}"[^>]*>(.*?)</td>', body, re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]


def _total(html: str) -> int:
    m = re.search(r"<p class=\"pager-info\" data-total>(\d+) rows?</p>", html)
    assert m, html[:2000]
    return int(m.group(1))


def _links(html: str, marker: str) -> list[str]:
    return [
        h.replace("&amp;", "&")
        for h in re.findall(rf'<a [^>]*?href="([^"]+)"[^>]*? {re.escape(marker)}[ >]', html)
    ]


def _card(html: str, what: str) -> tuple[Decimal, str]:
    """A summary card's exact amount (its title) and what it shows."""
    m = re.search(rf'data-{what}[^>]*? title="([-0-9.]+) EUR">([^<]+)<', html)
    assert m, what
    return Decimal(m.group(1)), m.group(2).strip()


def _page(g: Grid, who: str = "partner_admin", status: int = 200, **params: Any) -> str:
    r = g.get("/billing/grid", who, **params)
    assert r.status_code == status, r.text[:3000]
    return str(r.text)


def _daily(start: str, last: str, **params: Any) -> dict[str, Any]:
    return {"mode": "daily", "from": start, "to": last, **params}


def _range_items(g: Grid, who: str = "partner_admin", **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = g.api("range", who, limit=1000, offset=offset, **params)
        items += page["items"]
        offset += 1000
        if offset >= page["total"]:
            return items


# --- the previous range ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "previous"),
    [
        # A month compares with the month before, whatever their lengths.
        ("2026-03-01", "2026-04-01", ("2026-02-01", "2026-03-01")),  # 31 days vs 28
        ("2028-03-01", "2028-04-01", ("2028-02-01", "2028-03-01")),  # leap February
        ("2026-09-01", "2026-10-01", ("2026-08-01", "2026-09-01")),  # 30 vs 31
        ("2026-01-01", "2026-02-01", ("2025-12-01", "2026-01-01")),  # across a year
        ("2026-04-01", "2026-07-01", ("2026-01-01", "2026-04-01")),  # a quarter: 91 vs 90 days
        # Any other range: as many days, immediately before.
        ("2026-08-10", "2026-08-20", ("2026-07-31", "2026-08-10")),
        ("2026-03-01", "2026-03-15", ("2026-02-15", "2026-03-01")),
        ("2026-08-01", "2026-08-02", ("2026-07-31", "2026-08-01")),
        ("1900-01-01", "1900-02-01", ("1899-12-01", "1900-01-01")),  # before the first year
    ],
)
def test_previous_range_examples(start: str, end: str, previous: tuple[str, str]) -> None:
    got = grid.previous_range(date.fromisoformat(start), date.fromisoformat(end))
    assert (got[0].isoformat(), got[1].isoformat()) == previous


@given(
    st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31)),
    st.integers(min_value=1, max_value=366),
)
def test_previous_range_is_adjacent_and_as_long(start: date, days: int) -> None:
    end = start + timedelta(days=days)
    before_start, before_end = grid.previous_range(start, end)
    assert before_end == start
    months = grid.whole_months(start, end)
    if months:
        assert grid.whole_months(before_start, before_end) == months
    else:
        assert (before_end - before_start).days == days


@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=10, allow_nan=False),
    st.decimals(min_value=-(10**9), max_value=10**9, places=10, allow_nan=False),
)
def test_card_change_is_exact_and_the_percentage_handles_zero(
    now: Decimal, before: Decimal
) -> None:
    card = grid.cards(
        [CurrencyTotal("EUR", 1, 1, now, now)], [CurrencyTotal("EUR", 1, 1, before, before)]
    )[0]
    assert card.change == now - before
    if before == 0:
        assert card.change_percent is None
        assert card.as_dict()["change_percent"] is None
    else:
        expected = ((now - before) / abs(before) * 100).quantize(Decimal("0.1"))
        assert abs(card.change_percent - expected) <= Decimal("0.1")  # type: ignore[operator]


def test_cards_per_currency_absent_is_zero() -> None:
    eur = CurrencyTotal("EUR", 2, 3, Decimal("10"), Decimal("9"))
    usd = CurrencyTotal("USD", 1, 1, Decimal("5"), Decimal("4"))
    cards = grid.cards([eur], [usd])
    assert [c.currency for c in cards] == ["EUR", "USD"]
    assert cards[0].previous.net_amount == 0
    assert cards[0].change_percent is None
    assert cards[1].current.net_amount == 0
    assert cards[1].change == Decimal("-4")
    assert cards[1].change_percent == Decimal("-100.0")


# --- summary cards against hand-computed amounts ------------------------------------------


def test_summary_cards_month_against_the_previous_month(g: Grid) -> None:
    sep = net(date(2026, 9, 1), date(2026, 10, 1))
    aug = net(date(2026, 8, 1), date(2026, 9, 1))
    assert sep == 30 * (2 * VM_X + 2 * DISK + NORTH)
    data = g.api("summary", start=SEP[0], end=SEP[1])
    assert data["previous"] == {"start": "2026-08-01", "end": "2026-09-01"}  # 31 days
    [card] = data["cards"]
    assert Decimal(card["current"]["net_amount"]) == sep
    assert Decimal(card["previous"]["net_amount"]) == aug
    assert Decimal(card["change"]) == sep - aug
    pct = ((sep - aug) / aug * 100).quantize(Decimal("0.1"))
    assert card["change_percent"] == f"{pct:f}" == "-4.9"
    assert card["current"]["lines"] == 30 * 5
    assert card["previous"]["lines"] == 31 * 4 + 31
    # The page shows the same at the minor unit, the exact values in titles.
    html = _page(g, mode="monthly", from_month="2026-09", to_month="2026-09")
    assert "data-ranges>2026-09 compared with 2026-08 (the 1 month before)" in html
    assert _card(html, "current") == (sep, "101.00 EUR")
    assert _card(html, "previous") == (aug, "106.17 EUR")
    assert _card(html, "change") == (sep - aug, "-5.17 EUR (-4.9 %)")


def test_summary_cards_days_and_a_range_without_a_previous_spend(g: Grid) -> None:
    # The first supported month has no previous range to read: zero, not an error.
    assert g.api("summary", start="1900-01-01", end="1900-02-01")["cards"] == []
    data = g.api("summary", start="2026-09-01", end="2026-09-11")
    assert data["previous"] == {"start": "2026-08-22", "end": "2026-09-01"}
    [card] = data["cards"]
    now = net(date(2026, 9, 1), date(2026, 9, 11))
    before = net(date(2026, 8, 22), date(2026, 9, 1))
    assert Decimal(card["current"]["net_amount"]) == now
    assert Decimal(card["previous"]["net_amount"]) == before
    assert now == before  # same customers, same usage every day since Aug 16
    assert card["change_percent"] == "0.0"
    # July has no published run: no percentage of nothing.
    [card] = g.api("summary", start=AUG[0], end=AUG[1])["cards"]
    assert card["previous"]["net_amount"] == "0"
    assert card["change_percent"] is None
    html = _page(g, mode="monthly", from_month="2026-08")
    assert "(no previous spend)" in html
    # Filters apply to both ranges: Cust A1y billed nothing in September.
    [card] = g.api("summary", start=SEP[0], end=SEP[1], customer_id=g.id("cust_a1y"))["cards"]
    assert Decimal(card["current"]["net_amount"]) == 0
    assert Decimal(card["previous"]["net_amount"]) == net(
        date(2026, 8, 1), date(2026, 9, 1), ("a1y",)
    )
    assert card["change_percent"] == "-100.0"


# --- the page: mode, filters, sorting, paging ---------------------------------------------


def _set_default_monthly(g: Grid, value: str | None, node: str | None = None) -> None:
    from sqlalchemy import delete

    node_id = g.id(node) if node else None
    with g.db.session() as s:
        s.execute(
            delete(Setting).where(
                Setting.key == SettingKey.DEFAULT_BILLING_AGGREGATION_MONTHLY.value,
                Setting.node_id.is_(None) if node_id is None else Setting.node_id == node_id,
            )
        )
        if value is not None:
            s.add(
                Setting(
                    key=SettingKey.DEFAULT_BILLING_AGGREGATION_MONTHLY.value,
                    node_id=node_id,
                    value=value,
                )
            )
        s.commit()


def test_the_mode_opens_as_the_setting_says_and_the_toggle_stays_in_the_links(g: Grid) -> None:
    html = _page(g, **{"from": "2026-09-01", "to": "2026-09-30"})
    assert "Daily rows</h2>" in html
    assert "Opens daily" in html
    try:
        _set_default_monthly(g, "true")
        html = _page(g, **{"from": "2026-09-01", "to": "2026-09-30"})
        assert "Monthly rows</h2>" in html
        assert "Opens monthly" in html
        # A partner's override reaches its own users (and its customers' users).
        _set_default_monthly(g, "false", "partner_a1")
        assert "Daily rows</h2>" in _page(g, **{"from": "2026-09-01", "to": "2026-09-30"})
        assert "Daily rows</h2>" in _page(g, "customer_user", **{"from": "2026-09-01"})
        assert "Monthly rows</h2>" in _page(g, "platform_admin", **{"from": "2026-09-01"})
    finally:
        _set_default_monthly(g, None, "partner_a1")
        _set_default_monthly(g, None)
    # The toggle keeps the range and the filters; every link keeps the mode.
    html = _page(g, **_daily("2026-09-01", "2026-09-30", region="westeurope"))
    toggle = re.search(r'href="([^"]+)" data-mode="monthly"', html)
    assert toggle
    target = parse_qs(urlsplit(toggle.group(1).replace("&amp;", "&")).query)
    assert target["mode"] == ["monthly"]
    assert target["from_month"] == ["2026-09"]
    assert target["region"] == ["westeurope"]
    monthly = g.client.get(
        toggle.group(1).replace("&amp;", "&"), headers=g.world.headers("partner_admin")
    ).text
    assert "Monthly rows</h2>" in monthly
    for href in re.findall(r'href="(/billing/grid\?[^"]+)"', monthly):
        assert "mode=monthly" in href or 'data-mode="daily"' in monthly
    sort_links = _links(monthly, 'data-sort="net_amount"')
    assert sort_links
    assert "mode=monthly" in sort_links[0]
    assert '<input type="hidden" name="mode" value="monthly">' in monthly
    # Monthly rows: one per account, SKU and region for September.
    assert _total(monthly) == 4  # acc-x west vm and disk, north vm; mover: vm, disk on a1x
    assert _cells(monthly, "Month") == ["2026-09"] * 4 or _total(monthly) == 5


def test_filters_region_tenant_subscription_service_and_sku(g: Grid) -> None:
    everything = _page(g, **_daily(*("2026-09-01", "2026-09-30")))
    assert _total(everything) == 150
    north = _page(g, **_daily("2026-09-01", "2026-09-30", region="northeurope"))
    assert _total(north) == 30
    assert set(_cells(north, "Region")) == {"northeurope"}
    # The region filter still offers every region seen in the range.
    assert '<option value="westeurope">westeurope</option>' in north
    assert _card(north, "current") == (30 * NORTH, "16.20 EUR")
    storage = _page(g, **_daily("2026-09-01", "2026-09-30", service="Storage"))
    assert _total(storage) == 60
    assert set(_cells(storage, "SKU")) == {"disk.gb"}
    sku = _page(g, **_daily("2026-08-01", "2026-08-31", sku="disk.gb"))
    assert _total(sku) == 62
    tenant = _page(g, **_daily("2026-08-01", "2026-08-31", customer_id=g.id("cust_a1y")))
    assert set(_cells(tenant, "Tenant")) == {"Cust A1y"}
    assert _total(tenant) == 30
    mover = g.billing.accounts["acc-mover"]
    sub = _page(
        g,
        **_daily("2026-08-01", "2026-08-31", customer_id=g.id("cust_a1x"), account_id=mover),
    )
    assert set(_cells(sub, "Subscription")) == {"acc-mover"}
    assert _total(sub) == 32
    assert f'<option value="{mover}" selected>acc-mover</option>' in sub
    none = _page(g, **_daily("2026-09-01", "2026-09-30", region="nowhere"))
    assert _total(none) == 0
    assert "No billing rows for this selection." in none
    assert "No billing in either range." in none


def test_sorting_and_paging_follow_the_api(g: Grid) -> None:
    params = _daily("2026-08-01", "2026-09-30", sort="-net_amount")
    first = _page(g, **params)
    assert _total(first) == 31 * 5 + 30 * 5  # August: a1y's mover days, 4+1 rows
    assert re.search(
        r'aria-sort="descending">\s*<a class="sort-link"[^>]*data-sort="net_amount"', first
    )
    api = _range_items(g, start="2026-08-01", end="2026-10-01", sort="-net_amount")
    nets = [Decimal(i["net_amount"]) for i in api]
    assert nets == sorted(nets, reverse=True)
    shown = _cells(first, "Net")
    assert len(shown) == 50
    assert shown[0] == "1.20 EUR"  # a1y's undiscounted vm.small
    # Page 3 shows the API's rows 101-150, in the same order.
    third = _page(g, **params, page="3")
    days = _cells(third, "Day")
    assert days == [i["day"] for i in api[100:150]]
    assert "Page 3 of 7" in third
    nxt = _links(third, 'rel="next"') or re.findall(r'href="([^"]+)" rel="next"', third)
    assert nxt
    assert "page=4" in nxt[0]
    assert "sort=-net_amount" in nxt[0]
    # Clicking the sorted column again sorts the other way.
    [again] = _links(first, 'data-sort="net_amount"')
    assert "sort=net_amount" in again
    ascending = g.client.get(again, headers=g.world.headers("partner_admin")).text
    assert _cells(ascending, "Net")[0] == "0.33 EUR"
    by_day = _page(g, **_daily("2026-08-01", "2026-09-30", sort="day"))
    assert _cells(by_day, "Day")[0] == "2026-08-01"


def test_bad_input_is_a_422_naming_the_field(g: Grid) -> None:
    for params, field in (
        ({"mode": "daily", "from": "yesterday"}, "from"),
        ({"mode": "daily", "from": "2026-09-10", "to": "2026-09-01"}, "to"),
        ({"mode": "monthly", "from_month": "2026-13"}, "from_month"),
        ({"mode": "weekly"}, "mode"),
        ({"mode": "daily", "sort": "price"}, "sort"),
        ({"mode": "daily", "customer_id": "x"}, "customer_id"),
        ({"mode": "daily", "page": "0"}, "page"),
        ({"mode": "daily", "from": "2024-01-01", "to": "2026-01-01"}, "to"),
        ({"mode": "daily", "from": "0001-01-01"}, "from"),
    ):
        html = _page(g, status=422, **params)
        assert re.search(rf'role="alert">{field}\b', html) or f"{field}:" in html, (
            params,
            html[-3000:],
        )
    r = g.get("/api/v1/billing/export.csv", start="2026-09-10", end="2026-09-01")
    assert r.status_code == 422
    assert "end" in r.text
    r = g.get("/api/v1/billing/summary", start="2026-09-01", end="2026-10-01", sort="nope")
    assert r.status_code == 422
    assert "sort" in r.text


def test_parse_params_defaults_to_the_current_month() -> None:
    p = parse_params({}, default_monthly=False, today=date(2026, 2, 14))
    assert (p.monthly, p.start, p.end) == (False, date(2026, 2, 1), date(2026, 3, 1))
    p = parse_params({}, default_monthly=True, today=date(2026, 2, 14))
    assert (p.monthly, p.start, p.end) == (True, date(2026, 2, 1), date(2026, 3, 1))
    # Switching keeps the range: a daily range becomes the months it touches.
    p = parse_params(
        {"mode": "monthly", "from": "2026-08-20", "to": "2026-09-02"},
        default_monthly=False,
        today=date(2026, 2, 14),
    )
    assert (p.start, p.end) == (date(2026, 8, 1), date(2026, 10, 1))
    p = parse_params(
        {"mode": "daily", "from_month": "2026-02", "to_month": "2026-03"},
        default_monthly=True,
        today=date(2026, 2, 14),
    )
    assert (p.start, p.end) == (date(2026, 2, 1), date(2026, 4, 1))


# --- details ------------------------------------------------------------------------------


def test_row_details_pricing_hosting_resource_and_usage_rows(g: Grid) -> None:
    html = _page(g, **_daily("2026-09-01", "2026-09-01", region="northeurope"))
    [href] = _links(html, "data-details")
    r = g.client.get(href, headers=g.world.headers("partner_admin"))
    assert r.status_code == 200, r.text
    page = r.text
    assert "Price entry</dt><dd>#" in page
    assert "vm.small at 0.0500000000 per h" in page
    assert "Cloud EUR v1" in page
    assert "discount #" in page
    assert "10.0 % on Compute" in page
    assert "northeurope (North Europe)" in page
    assert "CloudStack" in page
    assert "acc-x (Production subscription)" in page
    assert "0.54 EUR" in page
    [billing_tab] = _links(page, "data-billing-tab")
    assert billing_tab.startswith("/billing/records?record_id=acc-x-north-2026-09-01")
    tab = g.client.get(billing_tab, headers=g.world.headers("partner_admin"))
    assert tab.status_code == 200
    assert "Price-book version" in tab.text
    assert "0.5400000000" in tab.text or "0.54" in tab.text
    # Back goes to the same view.
    back = re.search(r'<a class="btn btn-sm" href="([^"]+)">Back to the grid', page)
    assert back
    assert "region=northeurope" in back.group(1)

    # The API: the same details, usage rows counted.
    query = parse_qs(urlsplit(href).query)
    params = {k: v[0] for k, v in query.items() if k != "back"}
    data = g.api("row", **params)
    assert data["row"]["net_amount"] == "0.5400000000"
    assert data["usage_rows_total"] == data["row"]["usage_rows"] == 1
    assert data["pricing"]["price_book_version"]["version"] == 1
    assert [r["kind"] for r in data["pricing"]["rules"]] == ["discount"]
    assert data["pricing"]["rules"][0]["rule"]["percent"].startswith("10")
    assert data["hosting"] == {
        "region": "northeurope",
        "region_name": "North Europe",
        "platform": "CloudStack",
    }
    # A key that names no row: 404.
    r = g.get("/api/v1/billing/row", **{**params, "sku": "vm.huge"})
    assert r.status_code == 404
    r = g.get("/billing/grid/row", **{**params, "day": "2026-09-40"})
    assert r.status_code == 422
    assert "day:" in r.text


def test_monthly_rows_open_their_days(g: Grid) -> None:
    html = _page(g, mode="monthly", from_month="2026-09", region="northeurope")
    [href] = _links(html, "data-details")
    q = parse_qs(urlsplit(href).query)
    assert q["mode"] == ["daily"]
    assert q["from"] == ["2026-09-01"]
    assert q["to"] == ["2026-09-30"]
    assert q["region"] == ["northeurope"]
    assert q["sku"] == ["vm.small"]
    days = g.client.get(href, headers=g.world.headers("partner_admin")).text
    assert _total(days) == 30


# --- charts -------------------------------------------------------------------------------


def test_charts_sum_to_the_totals_and_render_as_accessible_svg(g: Grid) -> None:
    data = g.api("charts", start=AUG[0], end=SEP[1])
    assert data["bucket"] == "day"
    [eur] = data["charts"]
    total = Decimal(data["totals"][0]["net_amount"])
    assert total == net(date(2026, 8, 1), date(2026, 10, 1))
    for key in ("by_service", "by_region"):
        chart = eur[key]
        assert len(chart["buckets"]) == 61
        summed = sum(Decimal(v) for s in chart["series"] for v in s["values"])
        assert summed == total
    assert [s["name"] for s in eur["by_region"]["series"]] == ["westeurope", "northeurope"]
    north = next(s for s in eur["by_region"]["series"] if s["name"] == "northeurope")
    assert {Decimal(v) for v in north["values"]} == {NORTH}
    tenants = eur["top_tenants"]
    assert [t["name"] for t in tenants] == ["Cust A1x", "Cust A1y"]
    assert Decimal(tenants[1]["net_amount"]) == net(date(2026, 8, 1), date(2026, 10, 1), ("a1y",))
    assert [t["name"] for t in eur["top_subscriptions"]] == ["acc-x", "acc-mover"]
    # A range longer than 62 days is charted by month.
    assert g.api("charts", start="2026-07-01", end="2026-10-01")["bucket"] == "month"
    monthly = g.api("charts", start=AUG[0], end=SEP[1], monthly="true")
    assert monthly["charts"][0]["by_service"]["buckets"] == ["2026-08", "2026-09"]

    html = _page(g, **_daily("2026-08-01", "2026-09-30"))
    for chart in ("chart-service-0", "chart-region-0", "chart-tenants-0", "chart-subscriptions-0"):
        assert re.search(
            rf'<svg class="chart" id="{chart}" viewBox="[^"]+" role="img" '
            rf'aria-labelledby="{chart}-t {chart}-d"',
            html,
        ), chart
        assert f'<title id="{chart}-t">' in html
        assert f'<desc id="{chart}-d">' in html
    assert "Net spend per day by service, EUR as a table</summary>" in html
    assert '<th scope="row" class="mono nowrap">2026-08-01</th>' in html
    assert "<script" not in html.split("<main", 1)[1]  # drawn on the server


def test_chart_svg_helpers() -> None:
    from rerate.billing.grid_charts import nice_max, ranked_bars, short_amount, stacked_bars

    assert short_amount(Decimal("1234.5")) == "1.2k"
    assert short_amount(Decimal("35000")) == "35k"
    assert short_amount(Decimal("-2.5")) == "-2.5"
    assert short_amount(Decimal("0")) == "0"
    assert nice_max(Decimal("7.3")) == 10
    assert nice_max(Decimal("230")) == Decimal("250")
    data = grid.Stacked(
        ["2026-08-01", "2026-08-02"],
        ["Compute", "Other"],
        {("2026-08-01", "Compute"): Decimal("5"), ("2026-08-02", "Other"): Decimal("-1")},
    )
    svg = str(stacked_bars("c", "Spend <by> service", data, "EUR"))
    assert "Spend &lt;by&gt; service" in svg
    assert svg.count("<rect") == 2
    assert "2026-08-02 · Other: -1 EUR" in svg
    svg = str(ranked_bars("t", "Top", [grid.Ranked(1, "<b>", Decimal("3"))], "EUR"))
    assert "&lt;b&gt;" in svg
    assert "<b>" not in svg


# --- CSV export ---------------------------------------------------------------------------


def _csv(g: Grid, who: str = "partner_admin", **params: Any) -> list[dict[str, str]]:
    r = g.get("/api/v1/billing/export.csv", who, **params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(r.text)))


def test_export_is_exactly_the_filtered_rows_in_the_grid_order(g: Grid) -> None:
    params = {"start": "2026-08-01", "end": "2026-10-01", "sort": "-net_amount,account"}
    rows = _csv(g, **params)
    items = _range_items(g, **params)
    assert len(rows) == len(items) == 31 * 5 + 30 * 5
    for row, item in zip(rows, items, strict=True):
        assert row["day"] == item["day"]
        assert row["customer"] == item["customer"]["name"]
        assert int(row["account_id"]) == item["account"]["id"]
        assert row["sku"] == item["sku"]
        assert row["region"] == item["region"]
        assert row["net_amount"] == item["net_amount"]  # exact, as stored
        assert row["list_amount"] == item["list_amount"]
        assert row["currency"] == "EUR"
    assert sum(Decimal(r["net_amount"]) for r in rows) == net(date(2026, 8, 1), date(2026, 10, 1))
    # Filters as on the page: the page's export link is this route.
    html = _page(g, **_daily("2026-09-01", "2026-09-30", region="northeurope"))
    [export] = re.findall(r'<a class="btn btn-sm" href="([^"]+)" download data-export>', html)
    export = export.replace("&amp;", "&")
    assert export.startswith("/api/v1/billing/export.csv?")
    r = g.client.get(export, headers=g.world.headers("partner_admin"))
    got = list(csv.DictReader(io.StringIO(r.text)))
    assert len(got) == _total(html) == 30
    assert {x["region"] for x in got} == {"northeurope"}
    monthly = _csv(g, start=SEP[0], end=SEP[1], monthly="true")
    assert len(monthly) == 5
    assert {r["period"] for r in monthly} == {"2026-09"}
    assert sum(Decimal(r["net_amount"]) for r in monthly) == net(
        date(2026, 9, 1), date(2026, 10, 1)
    )
    assert list(monthly[0])[:3] == ["period", "first_day", "last_day"]
    assert _csv(g, start=SEP[0], end=SEP[1], region="nowhere") == []


def test_export_cells_are_formula_injection_safe(g: Grid) -> None:
    from sqlalchemy import update

    from rerate.models import Account, Node

    mover = g.billing.accounts["acc-mover"]
    with g.db.session() as s:
        s.execute(update(Account).where(Account.id == mover).values(name='=HYPERLINK("x")'))
        s.execute(update(Node).where(Node.id == g.id("cust_a1y")).values(name="@SUM(A1)"))
        s.commit()
    try:
        rows = _csv(g, start="2026-08-01", end="2026-08-02", customer_id=g.id("cust_a1y"))
        assert rows
        assert {r["account_name"] for r in rows} == {'\'=HYPERLINK("x")'}
        assert {r["customer"] for r in rows} == {"'@SUM(A1)"}
    finally:
        with g.db.session() as s:
            s.execute(update(Account).where(Account.id == mover).values(name="acc-mover"))
            s.execute(update(Node).where(Node.id == g.id("cust_a1y")).values(name="Cust A1y"))
            s.commit()
    # The rule, cell by cell, as the export's SQL applies it.
    import duckdb

    samples = ["-2+3", "+1", "\tx", "\rcmd", "=A1", "@SUM", "ok=fine", "", "a-b", "'quoted"]
    con = duckdb.connect()
    try:
        for text in samples:
            [(got,)] = con.execute(f"SELECT {grid._safe_sql('?')}", [text] * 3).fetchall()
            assert got == grid.safe_cell(text)
    finally:
        con.close()
    assert grid.safe_cell("-2+3") == "'-2+3"
    assert grid.safe_cell("ok=fine") == "ok=fine"  # only a leading character is dangerous
    # Numbers stay numbers: a credit's negative amount is not prefixed.
    credit = _csv(g, start="2026-08-01", end="2026-08-02", sort="net_amount")
    assert all(not r["net_amount"].startswith("'") for r in credit)


# --- scope --------------------------------------------------------------------------------


def test_a_tenant_sees_its_own_rows_only_and_foreign_ids_are_404(g: Grid) -> None:
    html = _page(g, "customer_user", **_daily("2026-08-01", "2026-08-31"))
    assert set(_cells(html, "Tenant")) == {"Cust A1x"}
    assert "Cust A1y" not in html
    rows = _csv(g, "customer_user", start=AUG[0], end=AUG[1])
    assert {r["customer"] for r in rows} == {"Cust A1x"}
    a1y = g.id("cust_a1y")
    assert g.get("/billing/grid", "customer_user", customer_id=a1y).status_code == 404
    for path in ("summary", "charts", "export.csv", "range"):
        r = g.get(
            f"/api/v1/billing/{path}", "customer_user", start=AUG[0], end=AUG[1], customer_id=a1y
        )
        assert r.status_code == 404, (path, r.text)
    # A partner sees its customers, not another partner's.
    partner = _page(g, **_daily("2026-08-01", "2026-08-31"))
    assert set(_cells(partner, "Tenant")) == {"Cust A1x", "Cust A1y"}
    assert "Cust A2x" not in partner
    assert "Cust B1x" not in partner
    other = g.id("cust_a2x")
    assert g.get("/billing/grid", customer_id=other).status_code == 404
    r = g.get("/api/v1/billing/export.csv", start=AUG[0], end=AUG[1], customer_id=other)
    assert r.status_code == 404
    r = g.get("/api/v1/billing/summary", start=AUG[0], end=AUG[1], account_id=99_999)
    assert r.status_code == 404
    # A row of another tenant: its details are 404 (not "no such row").
    [href] = _links(
        _page(g, **_daily("2026-08-01", "2026-08-01", customer_id=a1y, sku="disk.gb")),
        "data-details",
    )
    assert g.client.get(href, headers=g.world.headers("partner_admin")).status_code == 200
    assert g.client.get(href, headers=g.world.headers("customer_user")).status_code == 404
    query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items() if k != "back"}
    assert g.get("/api/v1/billing/row", "customer_user", **query).status_code == 404
    # The platform sees everyone's; the menu links the page.
    assert set(
        _cells(_page(g, "platform_admin", **_daily("2026-08-01", "2026-08-31")), "Tenant")
    ) == {
        "Cust A1x",
        "Cust A1y",
    }
    assert 'href="/billing/grid"' in partner


# --- CLI ----------------------------------------------------------------------------------


def _cli(g: Grid, *args: str) -> Any:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "RERATE_DATABASE_URL": g.db.url,
        "RERATE_DATA_DIR": str(g.data_dir),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", "billing", "export", *args],
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )


def test_cli_export_and_summary_match_the_api(g: Grid, tmp_path: Path) -> None:
    partner = g.world.users["partner_admin"].email
    done = _cli(g, "--as", partner, "--start", SEP[0], "--end", SEP[1], "--region", "northeurope")
    assert done.returncode == 0, done.stderr
    api = g.get("/api/v1/billing/export.csv", start=SEP[0], end=SEP[1], region="northeurope")
    assert done.stdout == api.content
    assert len(list(csv.DictReader(io.StringIO(done.stdout.decode())))) == 30
    out = tmp_path / "sep.csv"
    done = _cli(g, "--as", partner, "--start", SEP[0], "--end", SEP[1], "--monthly", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert b"5 rows written" in done.stderr
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == 5
    done = _cli(g, "--as", partner, "--start", SEP[0], "--end", SEP[1], "--summary")
    assert done.returncode == 0, done.stderr
    summary = g.api("summary", start=SEP[0], end=SEP[1])
    summary.pop("unreadable_runs")
    import json

    assert json.loads(done.stdout) == summary
    # Scope and bad input: one line, exit code 2.
    customer = g.world.users["customer_user"].email
    a1y = str(g.id("cust_a1y"))
    done = _cli(g, "--as", customer, "--start", SEP[0], "--end", SEP[1], "--customer", a1y)
    assert done.returncode == 2
    assert b"not found" in done.stderr
    done = _cli(g, "--as", partner, "--start", "2026-09-10", "--end", "2026-09-01")
    assert done.returncode == 2
    assert b"end" in done.stderr
