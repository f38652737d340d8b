"""The CSV writer: formula-looking text becomes text, numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pyarrow as pa
import pytest

from rerate.kit import csvout

DANGEROUS = [
    '=HYPERLINK("http://evil.example","click")',
    "+SUM(A1:A9)",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "\uff1d1+1",  # full-width equals
    "-",
    "'=already quoted",
    "''=twice",
]
PLAIN = ["Compute - vm.small", "Total", "", "2026-09", "a=b", "x@y.z", "'quoted text"]
NUMBERS = ["-250.00", "+4930123456", "1e-5", "0", "12.5"]


def _written(values: list[object]) -> list[str]:
    out = io.StringIO()
    csvout.Writer(out).writerow(values)
    return next(csv.reader(io.StringIO(out.getvalue())))


@pytest.mark.parametrize("text", DANGEROUS)
def test_formula_looking_text_is_written_as_text(text: str):
    [cell] = _written([text])
    assert cell == "'" + text
    assert csvout.restore(cell) == text


@pytest.mark.parametrize("text", PLAIN + NUMBERS)
def test_plain_text_and_numeric_text_are_left_alone(text: str):
    assert _written([text]) == [text]


def test_numbers_are_written_as_plain_decimals():
    assert _written([Decimal("-250.00"), -3, Decimal("1E+2"), None, True]) == [
        "-250.00",
        "-3",
        "100",
        "",
        "true",
    ]


def test_reading_our_own_file_back_gives_the_original_text():
    rows = [{"a": text, "b": Decimal("-1.5")} for text in DANGEROUS + PLAIN + NUMBERS]
    out = io.StringIO()
    writer = csvout.DictWriter(out, ["a", "b"])
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    back = list(csvout.read_dicts(io.StringIO(out.getvalue())))
    assert [r["a"] for r in back] == [r["a"] for r in rows]
    assert {r["b"] for r in back} == {"-1.5"}


def test_a_dict_row_with_an_unknown_field_is_refused():
    writer = csvout.DictWriter(io.StringIO(), ["a"])
    with pytest.raises(ValueError, match="not in the header"):
        writer.writerow({"a": 1, "b": 2})


def test_arrow_tables_get_the_same_escape():
    texts = DANGEROUS + PLAIN + NUMBERS + [None]
    table = pa.table({"t": texts, "n": list(range(len(texts)))})
    escaped = csvout.escape_arrow(table)
    assert escaped.column("t").to_pylist() == [None if t is None else csvout.cell(t) for t in texts]
    assert escaped.column("n") == table.column("n")


def test_a_carriage_return_inside_a_cell_does_not_split_the_row():
    assert _written(["first\rsecond", Decimal("1.5")]) == ["first\rsecond", "1.5"]
