from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import ImportOptions, parse
from rerate.usage.schema import USAGE_SCHEMA

from ..helpers import EXAMPLES, write

HEADER = (
    "BillingAccountId,SubAccountId,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
    "ServiceName,SkuId,RegionId,ConsumedQuantity,ConsumedUnit,ListCost,BillingCurrency\n"
)
ROW = "111,222,2026-08-01T00:00:00Z,2026-08-01T01:00:00Z,Usage,EC2,SKU1,eu-west-1,1,Hours,0.5,USD\n"


def test_sample_maps_focus_columns_to_canonical_rows() -> None:
    result = parse("focus", EXAMPLES / "focus" / "sample.csv")
    t = result.table
    assert t.schema == USAGE_SCHEMA
    assert result.rows_read == 4
    assert result.line_numbers.tolist() == [2, 3, 4, 5]
    assert result.account_column == "SubAccountId"
    rows = t.to_pylist()
    first = rows[0]
    assert first["account_ref"] == "444455556666"
    assert first["usage_start"] == datetime(2026, 8, 1, tzinfo=UTC)
    assert first["usage_end"] == datetime(2026, 8, 1, 1, tzinfo=UTC)
    assert (first["service"], first["sku"], first["region"]) == (
        "Amazon Elastic Compute Cloud",
        "EC2-T3M",
        "eu-west-1",
    )
    assert first["quantity"] == Decimal("1")
    assert first["list_cost"] == Decimal("0.0456")
    assert (first["unit"], first["currency"], first["kind"], first["source"]) == (
        "Hours",
        "USD",
        "cloud",
        "focus",
    )
    assert (first["account_id"], first["import_id"]) == (-1, 0)
    # The support purchase has no sub-account: the billing account is used,
    # and its ConsumedQuantity is empty, which FOCUS allows.
    support = rows[3]
    assert support["account_ref"] == "111122223333"
    assert support["quantity"] is None
    assert support["list_cost"] == Decimal("100")
    assert len({r["record_id"] for r in rows}) == 4
    assert all(r["record_id"].startswith("focus::#") for r in rows)


def test_parquet_gives_the_same_rows_as_csv(tmp_path: Path) -> None:
    csv_result = parse("focus", EXAMPLES / "focus" / "sample.csv")
    table = pv.read_csv(EXAMPLES / "focus" / "sample.csv")
    # Typed columns, as a Parquet FOCUS export has them.
    table = table.set_column(
        table.schema.get_field_index("ListCost"),
        "ListCost",
        table.column("ListCost").cast(pa.decimal128(20, 6)),
    )
    pq.write_table(table, tmp_path / "export.parquet")
    pq_result = parse("focus", tmp_path / "export.parquet")
    assert pq_result.line_numbers.tolist() == [1, 2, 3, 4]
    assert pq_result.table.column("record_id") == csv_result.table.column("record_id")
    assert pq_result.table.column("content_hash") == csv_result.table.column("content_hash")


def test_parquet_doubles_are_read_through_their_shortest_text(tmp_path: Path) -> None:
    table = pv.read_csv(write(tmp_path / "in.csv", HEADER + ROW))
    table = table.set_column(
        table.schema.get_field_index("ListCost"), "ListCost", pa.array([0.1], pa.float64())
    )
    pq.write_table(table, tmp_path / "export.parquet")
    result = parse("focus", tmp_path / "export.parquet")
    assert result.table.column("list_cost").to_pylist() == [Decimal("0.1")]


def test_parquet_missing_column_is_reported_on_the_schema(tmp_path: Path) -> None:
    table = pv.read_csv(EXAMPLES / "focus" / "sample.csv").drop_columns(["ListCost"])
    pq.write_table(table, tmp_path / "export.parquet")
    with pytest.raises(ImportRejected) as err:
        parse("focus", tmp_path / "export.parquet")
    assert str(err.value) == "export.parquet:0: ListCost: missing column"


def test_missing_column_rejects_the_file_at_the_header(tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", HEADER.replace(",ListCost", "") + ROW)
    with pytest.raises(ImportRejected) as err:
        parse("focus", path)
    assert (err.value.file, err.value.line, err.value.column) == ("f.csv", 1, "ListCost")
    assert str(err.value) == "f.csv:1: ListCost: missing column"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "ChargePeriodStart",
            "2026-08-32T00:00:00Z",
            "ChargePeriodStart: unparsable timestamp: '2026-08-32T00:00:00Z'",
        ),
        ("ChargePeriodStart", "", "ChargePeriodStart: missing value"),
        (
            "ChargePeriodEnd",
            "2026-07-31T00:00:00Z",
            "ChargePeriodEnd: end before start: '2026-07-31T00:00:00Z'",
        ),
        ("ConsumedQuantity", "1,5", "ConsumedQuantity: unparsable number: '1,5'"),
        ("ListCost", "NaN", "ListCost: unparsable number: 'NaN'"),
        ("ListCost", "", "ListCost: missing value"),
        ("BillingAccountId", "", "BillingAccountId: missing value"),
    ],
)
def test_first_bad_row_rejects_the_file_with_line_and_column(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    names = HEADER.strip().split(",")
    bad = ROW.strip().split(",")
    bad[names.index(field)] = f'"{value}"' if "," in value else value
    if field == "BillingAccountId":
        bad[names.index("SubAccountId")] = ""
    path = write(tmp_path / "f.csv", HEADER + ROW + ",".join(bad) + "\n" + ROW)
    with pytest.raises(ImportRejected) as err:
        parse("focus", path)
    assert str(err.value) == f"f.csv:3: {message}"


def test_deliberately_bad_example_stops_at_its_first_bad_line() -> None:
    with pytest.raises(ImportRejected) as err:
        parse("focus", EXAMPLES / "focus" / "bad.csv")
    assert str(err.value) == "bad.csv:4: ConsumedQuantity: unparsable number: 'one'"


def test_skip_bad_rows_keeps_good_rows_and_lists_rejects() -> None:
    result = parse("focus", EXAMPLES / "focus" / "bad.csv", ImportOptions(skip_bad_rows=True))
    assert result.rows_read == 6
    assert result.table.num_rows == 2
    assert result.line_numbers.tolist() == [2, 3]
    got = [(r.file, r.line, r.column, r.reason) for r in result.rejects]
    assert got == [
        ("bad.csv", 4, "ConsumedQuantity", "unparsable number: 'one'"),
        ("bad.csv", 5, "ChargePeriodStart", "unparsable timestamp: '2026-08-32T00:00:00Z'"),
        ("bad.csv", 6, "ChargePeriodEnd", "end before start: '2026-08-01T04:00:00Z'"),
        ("bad.csv", 7, "ListCost", "unparsable number: 'twelve'"),
    ]
    assert result.rejects[0].raw.startswith("111122223333,444455556666,2026-08-01T02:00:00Z")
    assert ",one," in result.rejects[0].raw


def test_record_id_ignores_timestamp_spelling_and_column_order(tmp_path: Path) -> None:
    a = parse("focus", write(tmp_path / "a.csv", HEADER + ROW))
    reordered_header = "ListCost," + HEADER.replace(",ListCost", "")
    spelled = ROW.replace("2026-08-01T00:00:00Z", "2026-08-01T02:00:00.000+02:00")
    cells = spelled.strip().split(",")
    cost = cells.pop(10)
    b = parse(
        "focus", write(tmp_path / "b.csv", reordered_header + ",".join([cost, *cells]) + "\n")
    )
    assert a.table.column("record_id") == b.table.column("record_id")
    assert a.table.column("content_hash") == b.table.column("content_hash")


def test_changed_cost_keeps_the_record_id_but_not_the_content_hash(tmp_path: Path) -> None:
    a = parse("focus", write(tmp_path / "a.csv", HEADER + ROW))
    b = parse("focus", write(tmp_path / "b.csv", HEADER + ROW.replace(",0.5,", ",0.6,")))
    assert a.table.column("record_id") == b.table.column("record_id")
    assert a.table.column("content_hash") != b.table.column("content_hash")


def test_id_column_is_the_record_id_when_present(tmp_path: Path) -> None:
    text = (
        "x_RecordId,"
        + HEADER
        + "row-1,"
        + ROW
        + ","
        + ROW.replace("T00", "T05").replace("T01", "T06")
    )
    result = parse("focus", write(tmp_path / "f.csv", text))
    ids = result.table.column("record_id").to_pylist()
    assert ids[0] == "focus::row-1"
    assert ids[1].startswith("focus::#")  # an empty id falls back to the hash


def test_explicit_id_column_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse("focus", write(tmp_path / "f.csv", HEADER + ROW), ImportOptions(id_column="LineId"))
    assert str(err.value) == "f.csv:1: LineId: missing column"


def test_namespace_separates_record_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", HEADER + ROW)
    plain = parse("focus", path).table.column("record_id")[0].as_py()
    spaced = (
        parse("focus", path, ImportOptions(namespace="reseller-2"))
        .table.column("record_id")[0]
        .as_py()
    )
    assert spaced.startswith("focus:reseller-2:#")
    assert plain.split("#")[1] != spaced.split("#")[1]


def test_decimals_round_half_away_from_zero_at_ten_places(tmp_path: Path) -> None:
    rows = [
        ROW.replace(",0.5,", f",{cost},")
        .replace("T00", f"T{h:02d}")
        .replace("T01", f"T{h + 1:02d}")
        for h, cost in enumerate(
            ["0.00000000005", "-0.00000000005", "0.123456789049999", "1.5E-05"]
        )
    ]
    result = parse("focus", write(tmp_path / "f.csv", HEADER + "".join(rows)))
    assert result.table.column("list_cost").to_pylist() == [
        Decimal("0.0000000001"),
        Decimal("-0.0000000001"),
        Decimal("0.1234567890"),
        Decimal("0.000015"),
    ]


def test_blank_lines_and_quoted_newlines_keep_exact_line_numbers(tmp_path: Path) -> None:
    quoted = ROW.replace("EC2", '"EC2\nCompute"')
    bad = ROW.replace(",1,Hours", ",x,Hours")
    path = write(tmp_path / "f.csv", HEADER + ROW + "\n" + quoted + bad)
    with pytest.raises(ImportRejected) as err:
        parse("focus", path)
    assert str(err.value) == "f.csv:6: ConsumedQuantity: unparsable number: 'x'"


def test_row_with_missing_fields_names_the_first_missing_column(tmp_path: Path) -> None:
    short = ",".join(ROW.split(",")[:9]) + "\n"
    with pytest.raises(ImportRejected) as err:
        parse("focus", write(tmp_path / "f.csv", HEADER + ROW + short))
    assert err.value.line == 3
    assert err.value.column == "ConsumedUnit"
    assert "expected 12 fields, got 9" in err.value.message


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes((HEADER + ROW).encode() + ROW.replace("EC2", "EC\xff").encode("latin-1"))
    with pytest.raises(ImportRejected) as err:
        parse("focus", path)
    assert str(err.value) == "f.csv:3: ServiceName: invalid UTF-8"


def test_progress_reports_bytes_up_to_the_file_size(tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", HEADER + ROW * 50)
    seen: list[tuple[int, int]] = []
    parse("focus", path, ImportOptions(progress=lambda done, total: seen.append((done, total))))
    size = path.stat().st_size
    assert seen[-1] == (size, size)
    assert all(total == size and 0 <= done <= size for done, total in seen)


def test_empty_file_is_missing_its_header(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse("focus", write(tmp_path / "f.csv", ""))
    assert (err.value.line, err.value.message) == (1, "missing column")


def test_header_only_file_gives_no_rows(tmp_path: Path) -> None:
    result = parse("focus", write(tmp_path / "f.csv", HEADER))
    assert (result.table.num_rows, result.rows_read, result.rejects) == (0, 0, [])


# --------------------------------------------------------------------------- real variants
# Each fixture below reproduces, in a few lines of our own, a variant seen in
# real FOCUS exports (the FinOps FOCUS sample data): refunds with negative
# quantity and cost, unquoted NULL for nulls, the same rows as CSV and Parquet.

REAL_HEADER = (
    "BillingAccountId,SubAccountId,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
    "ChargeClass,ServiceName,SkuId,RegionId,ConsumedQuantity,ConsumedUnit,ListCost,"
    "BillingCurrency\n"
)
REFUND_ROWS = (
    # 3 h of usage, then a refund of 1 h of it (FOCUS: negative quantity and cost).
    "900,901,2026-08-03 10:00:00,2026-08-03 11:00:00,Usage,NULL,VMs,sku-1,eastus,"
    "3.000000000000000,Hours,0.45000000000,EUR\n"
    "900,901,2026-08-03 11:00:00,2026-08-03 12:00:00,Usage,NULL,VMs,sku-1,eastus,"
    "-1.000000000000000,Hours,-0.15000000000,EUR\n"
    # A credit: no quantity, no unit (NULL, as FOCUS allows), negative cost.
    "900,901,2026-08-03 00:00:00,2026-08-04 00:00:00,Credit,NULL,VMs,sku-credit,NULL,"
    "NULL,NULL,-2.50000000000,EUR\n"
)


def test_refund_rows_with_negative_quantity_and_cost_are_kept(tmp_path: Path) -> None:
    result = parse("focus", write(tmp_path / "f.csv", REAL_HEADER + REFUND_ROWS))
    rows = result.table.to_pylist()
    assert result.rejects == []
    assert [r["quantity"] for r in rows] == [Decimal(3), Decimal(-1), None]
    assert [r["list_cost"] for r in rows] == [Decimal("0.45"), Decimal("-0.15"), Decimal("-2.5")]


def test_a_refund_is_rated_as_negative_usage_and_lowers_the_bill(tmp_path: Path) -> None:
    from rerate.rating import engine

    from ...rating.test_golden import AUG, plan, price

    result = parse("focus", write(tmp_path / "f.csv", REAL_HEADER + REFUND_ROWS))
    table = result.table.set_column(
        result.table.schema.get_field_index("account_id"),
        "account_id",
        pa.array([1] * result.table.num_rows, pa.int64()),
    )
    rated = engine.rate(table, plan((price(1, "sku-1", "0.15"),), passthrough=True), AUG)
    nets = [r["net_amount"] for r in rated.rated.to_pylist()]
    # 3 h * 0.15 = 0.45; the refund takes back 1 h: -0.15; the credit passes
    # through at its stated -2.50. Total -2.20, where rejecting both gave 0.45.
    assert sorted(nets) == [Decimal("-2.5"), Decimal("-0.15"), Decimal("0.45")]
    assert sum(nets) == Decimal("-2.2")


def test_unquoted_null_is_null_and_quoted_null_is_text(tmp_path: Path) -> None:
    text = (
        REAL_HEADER
        + '900,NULL,2026-08-03T10:00:00Z,2026-08-03T11:00:00Z,Usage,NULL,VMs,"NULL",,1,Hours,'
        "0.1,EUR\n"
    )
    row = parse("focus", write(tmp_path / "f.csv", text)).table.to_pylist()[0]
    # SubAccountId NULL -> the billing account is the account; RegionId empty
    # -> null; SkuId "NULL" quoted -> the text NULL.
    assert (row["account_ref"], row["region"], row["sku"]) == ("900", None, "NULL")


def test_unquoted_null_is_null_on_the_slow_reading_path_too(tmp_path: Path) -> None:
    # A blank line and a quoted newline send the file through the `csv` module.
    text = (
        REAL_HEADER
        + '900,NULL,2026-08-03T10:00:00Z,2026-08-03T11:00:00Z,Usage,NULL,"Virtual\nMachines",'
        '"NULL",NULL,NULL,NULL,0.1,EUR\n\n'
        + '900,901,2026-08-03T10:00:00Z,2026-08-03T11:00:00Z,Usage,,VMs,sku,"NULL",1,Hours,'
        "0.1,EUR\n"
    )
    result = parse("focus", write(tmp_path / "f.csv", text))
    first, second = result.table.to_pylist()
    assert result.line_numbers.tolist() == [2, 5]
    assert (first["account_ref"], first["sku"], first["region"], first["quantity"]) == (
        "900",
        "NULL",
        None,
        None,
    )
    assert (second["account_ref"], second["region"]) == ("901", "NULL")


def test_null_in_a_column_focus_requires_is_a_missing_value(tmp_path: Path) -> None:
    text = REAL_HEADER + "900,901,2026-08-03T10:00:00Z,NULL,Usage,,VMs,s,r,1,Hours,0.1,EUR\n"
    with pytest.raises(ImportRejected) as err:
        parse("focus", write(tmp_path / "f.csv", text))
    assert str(err.value) == "f.csv:2: ChargePeriodEnd: missing value"


def test_csv_and_parquet_of_the_same_rows_have_the_same_record_ids(tmp_path: Path) -> None:
    from rerate.usage.resolve import resolve_accounts
    from rerate.usage.store import UsageStore

    csv_path = write(tmp_path / "f.csv", REAL_HEADER + REFUND_ROWS)
    # What a Parquet export of these rows holds: typed columns (timestamps,
    # doubles, integers) and real nulls where the CSV says NULL.
    typed = pv.read_csv(
        csv_path,
        convert_options=pv.ConvertOptions(
            strings_can_be_null=True,
            column_types={"ListCost": pa.float64(), "BillingAccountId": pa.int64()},
        ),
    )
    assert typed.schema.field("ChargePeriodStart").type == pa.timestamp("s")
    assert typed.column("RegionId").null_count == 1
    pq.write_table(typed, tmp_path / "f.parquet")
    from_csv = parse("focus", csv_path).table
    from_parquet = parse("focus", tmp_path / "f.parquet").table
    assert from_parquet.column("record_id").to_pylist() == from_csv.column("record_id").to_pylist()
    assert (
        from_parquet.column("content_hash").to_pylist()
        == from_csv.column("content_hash").to_pylist()
    )

    store = UsageStore(tmp_path / "store")
    visible: list[int] = []
    for import_id, path in ((1, csv_path), (2, tmp_path / "f.parquet")):
        result = parse("focus", path)
        table, _ = resolve_accounts(result, {"901": 1}, file=result.file, skip_bad_rows=False)
        with store.import_lock():
            plan = store.plan_import(table, visible)
            store.write_import(plan, import_id)
        visible.append(import_id)
    # Importing the other form of the same data changes nothing.
    assert (plan.new, plan.unchanged, plan.corrected) == (0, 3, 0)


def test_a_focus_0_5_file_is_refused_saying_so(tmp_path: Path) -> None:
    text = REAL_HEADER.replace("ChargeCategory", "ChargeType") + (
        "900,901,2026-08-03T10:00:00Z,2026-08-03T11:00:00Z,Usage,,VMs,s,r,1,Hours,0.1,EUR\n"
    )
    with pytest.raises(ImportRejected) as err:
        parse("focus", write(tmp_path / "f.csv", text))
    assert str(err.value) == (
        "f.csv:1: ChargeCategory: missing column (a FOCUS 0.5 file? rerate reads FOCUS 1.x)"
    )
