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
        ("ConsumedQuantity", "-1", "ConsumedQuantity: negative quantity: '-1'"),
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
        ("bad.csv", 7, "ConsumedQuantity", "negative quantity: '-2'"),
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
