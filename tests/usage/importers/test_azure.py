from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import ImportOptions, parse

from ..helpers import EXAMPLES, write

SUB = "8f3d2c1a-0b7e-4e59-9a51-3c2f1d0e4b6a"
# MCA spelling: lower camel case column names.
HEADER = (
    "subscriptionId,resourceGroup,resourceLocation,date,meterCategory,meterId,quantity,"
    "unitOfMeasure,costInBillingCurrency,paygCostInBillingCurrency,billingCurrency,resourceId,tags\n"
)


def row(
    date: str = "2026-08-01",
    *,
    cost: str = "2.0",
    payg: str = "2.5",
    tags: str = "",
    rid: str = "/r/VM1",
) -> str:
    cells = [SUB, "rg-a", "westeurope", date, "Virtual Machines", "meter-1", "24", "1 Hour"]
    return ",".join([*cells, cost, payg, "eur", rid, f'"{tags}"']) + "\n"


def test_example_maps_subscription_meter_and_payg_cost() -> None:
    result = parse("azure", EXAMPLES / "azure" / "cost-details.csv")
    first = result.table.to_pylist()[0]
    assert first["account_ref"] == SUB
    assert first["sku"] == "6f2e41a4-6e2b-4b8a-bf0b-0f7c2c1f5a01"
    assert first["service"] == "Virtual Machines"
    assert first["region"] == "westeurope"
    assert (first["quantity"], first["unit"]) == (Decimal("24"), "1 Hour")
    assert (first["list_cost"], first["currency"]) == (Decimal("2.304"), "EUR")
    assert first["usage_start"] == datetime(2026, 8, 1, tzinfo=UTC)
    assert first["usage_end"] == datetime(2026, 8, 2, tzinfo=UTC)
    # Day 2 is discounted (CostInBillingCurrency 2.0736): list cost stays PAYG.
    assert result.table.column("list_cost").to_pylist()[3] == Decimal("2.304")
    assert result.account_column == "SubscriptionId"


def test_tag_key_extends_the_account_with_the_tag_value_ignoring_case() -> None:
    result = parse(
        "azure", EXAMPLES / "azure" / "cost-details.csv", ImportOptions(tag_key="CMS-TENANT")
    )
    assert result.table.column("account_ref").to_pylist() == [
        f"{SUB}/tenant-a",
        f"{SUB}/tenant-b",
        f"{SUB}/tenant-a",
        f"{SUB}/tenant-a",
    ]
    assert result.account_column == "SubscriptionId+Tags"


def test_rows_without_the_tag_keep_the_bare_subscription(tmp_path: Path) -> None:
    text = HEADER + row(tags='{""cms-tenant"": ""t1""}') + row("2026-08-02", tags="")
    result = parse("azure", write(tmp_path / "c.csv", text), ImportOptions(tag_key="cms-tenant"))
    assert result.table.column("account_ref").to_pylist() == [f"{SUB}/t1", SUB]


def test_ea_tags_without_braces_are_read(tmp_path: Path) -> None:
    text = HEADER + row(tags='""cms-tenant"": ""t1"",""env"": ""prod""')
    result = parse("azure", write(tmp_path / "c.csv", text), ImportOptions(tag_key="cms-tenant"))
    assert result.table.column("account_ref").to_pylist() == [f"{SUB}/t1"]


def test_unparsable_tags_reject_the_row_when_a_tag_key_is_set(tmp_path: Path) -> None:
    text = HEADER + row() + row("2026-08-02", tags="{broken")
    with pytest.raises(ImportRejected) as err:
        parse("azure", write(tmp_path / "c.csv", text), ImportOptions(tag_key="cms-tenant"))
    assert str(err.value) == "c.csv:3: tags: unparsable tags: '{broken'"


def test_us_dates_are_read(tmp_path: Path) -> None:
    result = parse("azure", write(tmp_path / "c.csv", HEADER + row("08/01/2026") + row("8/2/2026")))
    assert result.table.column("usage_start").to_pylist() == [
        datetime(2026, 8, 1, tzinfo=UTC),
        datetime(2026, 8, 2, tzinfo=UTC),
    ]


def test_bad_date_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse("azure", write(tmp_path / "c.csv", HEADER + row() + row("13/45/2026")))
    assert str(err.value) == "c.csv:3: date: unparsable date: '13/45/2026'"


def test_cost_falls_back_when_payg_is_empty(tmp_path: Path) -> None:
    result = parse("azure", write(tmp_path / "c.csv", HEADER + row(payg="")))
    assert result.table.column("list_cost").to_pylist() == [Decimal("2.0")]


def test_missing_subscription_column(tmp_path: Path) -> None:
    text = HEADER.replace("subscriptionId", "subscription") + row()
    with pytest.raises(ImportRejected) as err:
        parse("azure", write(tmp_path / "c.csv", text))
    assert str(err.value) == "c.csv:1: SubscriptionId: missing column"


def test_negative_quantity_is_rejected(tmp_path: Path) -> None:
    text = HEADER + row().replace(",24,", ",-24,")
    with pytest.raises(ImportRejected) as err:
        parse("azure", write(tmp_path / "c.csv", text))
    assert str(err.value) == "c.csv:2: quantity: negative quantity: '-24'"


def test_record_id_ignores_tags_and_resource_id_case(tmp_path: Path) -> None:
    a = parse("azure", write(tmp_path / "a.csv", HEADER + row(tags="")))
    b = parse("azure", write(tmp_path / "b.csv", HEADER + row(tags='{""x"": ""y""}', rid="/R/vm1")))
    assert a.table.column("record_id") == b.table.column("record_id")


# --------------------------------------------------------------------------- real variants
# Our own rows reproducing what real EA exports do (Microsoft's FinOps toolkit
# test exports): two rows of one meter, resource and day that differ only in
# AdditionalInfo; a reservation Purchase row next to usage.

EA_HEADER = (
    "SubscriptionId,Date,MeterId,MeterCategory,Quantity,UnitOfMeasure,Cost,PayGPrice,"
    "BillingCurrency,ResourceId,ResourceGroup,ChargeType,PricingModel,Frequency,"
    "ProductOrderId,AdditionalInfo\n"
)


def ea_row(
    info: str,
    *,
    charge: str = "Usage",
    qty: str = "2",
    cost: str = "0.5",
    meter: str = "m-vcore",
    model: str = "OnDemand",
) -> str:
    cells = [SUB, "09/04/2026", meter, "SQL Managed Instance", qty, "1 Hour", cost, "0"]
    cells += ["USD", "/subscriptions/x/sql/mi1", "Analytics", charge, model, "UsageBased", ""]
    return ",".join([*cells, '"' + info.replace('"', '""') + '"']) + "\n"


def test_rows_differing_only_in_additional_info_are_both_kept(tmp_path: Path) -> None:
    text = (
        EA_HEADER
        + ea_row('{"AHB":"False","vCores":2,"ReservationOrderId":"order-1"}', qty="47")
        + ea_row('{"AHB":"False","vCores":2,"ReservationOrderId":"order-2"}', qty="1")
    )
    rows = parse("azure", write(tmp_path / "c.csv", text)).table.to_pylist()
    assert len({r["record_id"] for r in rows}) == 2
    assert [r["quantity"] for r in rows] == [Decimal(47), Decimal(1)]


def test_additional_info_spacing_and_key_order_do_not_change_the_id(tmp_path: Path) -> None:
    a = parse("azure", write(tmp_path / "a.csv", EA_HEADER + ea_row('{"a": 1, "b": "x"}')))
    b = parse("azure", write(tmp_path / "b.csv", EA_HEADER + ea_row('{ "b":"x","a":1 }')))
    assert a.table.column("record_id") == b.table.column("record_id")


def test_rows_without_additional_info_keep_their_former_ids(tmp_path: Path) -> None:
    # Ids of rows without AdditionalInfo are those of a file without the column,
    # so stored usage imported before AdditionalInfo joined the identity stays.
    with_column = parse("azure", write(tmp_path / "a.csv", EA_HEADER + ea_row("")))
    header = EA_HEADER.replace(",AdditionalInfo", "")
    body = ea_row("").rsplit(",", 1)[0] + "\n"
    without = parse("azure", write(tmp_path / "b.csv", header + body))
    assert with_column.table.column("record_id") == without.table.column("record_id")


def test_purchases_pass_through_at_their_stated_cost(tmp_path: Path) -> None:
    text = (
        EA_HEADER
        + ea_row("", qty="24", cost="1.2")
        + ea_row("", charge="Purchase", qty="1", cost="3.25", meter="m-ri", model="Reservation")
        + ea_row("", charge="Refund", qty="-1", cost="-3.25", meter="m-ri", model="Reservation")
        + ea_row("", charge="UnusedReservation", qty="5", cost="0.4", meter="m-vcore")
    )
    rows = parse("azure", write(tmp_path / "c.csv", text)).table.to_pylist()
    assert [r["sku"] for r in rows] == [
        "m-vcore",
        "Purchase:m-ri",
        "Refund:m-ri",
        "UnusedReservation:m-vcore",
    ]
    assert [r["list_cost"] for r in rows] == [
        Decimal("1.2"),
        Decimal("3.25"),
        Decimal("-3.25"),
        Decimal("0.4"),
    ]
    assert [r["quantity"] for r in rows] == [Decimal(24), Decimal(1), Decimal(-1), Decimal(5)]


def test_a_purchase_is_not_priced_as_usage(tmp_path: Path) -> None:
    from rerate.rating import engine

    from ...rating.test_golden import AUG, plan, price

    text = (
        EA_HEADER.replace(",Cost,", ",CostInBillingCurrency,").replace("USD", "EUR")
        + ea_row("", qty="24", cost="1.2").replace("USD", "EUR").replace("09/04/2026", "08/04/2026")
        + ea_row("", charge="Purchase", qty="1", cost="300", meter="m-vcore")
        .replace("USD", "EUR")
        .replace("09/04/2026", "08/04/2026")
    )
    result = parse("azure", write(tmp_path / "c.csv", text))
    table = result.table.set_column(
        result.table.schema.get_field_index("account_id"),
        "account_id",
        pa.array([1] * result.table.num_rows, pa.int64()),
    )
    # The usage meter has a price of 0.10/h; the purchase of the same meter is
    # not 1 h of it but a 300 charge, passed through as stated.
    rated = engine.rate(table, plan((price(1, "m-vcore", "0.10"),), passthrough=True), AUG)
    assert sorted(r["net_amount"] for r in rated.rated.to_pylist()) == [
        Decimal("2.4"),  # 24 h * 0.10
        Decimal(300),
    ]
