from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import ImportOptions, parse

from ..helpers import EXAMPLES, write

BERLIN = ImportOptions(source_tz="Europe/Berlin", country_code="49")


def cdr(
    *,
    account: str = "peer-1",
    dst: str = "0301234567",
    start: str = "2026-08-01 10:00:00",
    end: str = "2026-08-01 10:01:00",
    duration: str = "60",
    billsec: str = "55",
    extra: tuple[str, ...] = ("1785571200.7", ""),
) -> str:
    fields = [
        account, "+4930999", dst, "ctx", '"Desk" <+4930999>', "SIP/peer-1-01", "SIP/out-02",
        "Dial", "SIP/out/x", start, start, end, duration, billsec, "ANSWERED", "DOCUMENTATION",
        *extra,
    ]  # fmt: skip
    return ",".join(f'"{f}"' if not f.isdigit() else f for f in fields) + "\n"


def test_example_converts_local_time_and_normalises_destinations() -> None:
    result = parse("asterisk", EXAMPLES / "asterisk" / "Master.csv", BERLIN)
    first = result.table.to_pylist()[0]
    assert first["account_ref"] == "peer-acme"
    assert first["usage_start"] == datetime(2026, 8, 1, 7, 30, tzinfo=UTC)  # CEST = UTC+2
    assert first["usage_end"] == datetime(2026, 8, 1, 7, 32, 5, tzinfo=UTC)
    assert (first["duration_seconds"], first["billable_seconds"]) == (125, 120)
    assert (first["calling_number"], first["called_number"]) == ("+4930123456", "0049891234567")
    assert first["destination"] == "49891234567"
    assert first["disposition"] == "ANSWERED"
    assert first["record_id"] == "asterisk::1785569400.1@2026-08-01 09:30:00"
    assert result.table.column("destination").to_pylist()[1] == "4915112345678"
    assert result.account_column == "accountcode"


def test_sixteen_fields_use_a_hash_that_ignores_the_account(tmp_path: Path) -> None:
    a = parse("asterisk", write(tmp_path / "a.csv", cdr(extra=())))
    b = parse("asterisk", write(tmp_path / "b.csv", cdr(extra=(), account="peer-2", billsec="50")))
    assert a.table.column("record_id")[0].as_py().startswith("asterisk::#")
    assert a.table.column("record_id") == b.table.column("record_id")
    assert a.table.column("content_hash") != b.table.column("content_hash")


def test_new_cdr_columns_use_uniqueid_and_sequence(tmp_path: Path) -> None:
    text = cdr(extra=("1785571200.7", "", "peer-1", "1785571200.7", "3"))
    result = parse("asterisk", write(tmp_path / "a.csv", text))
    assert result.table.column("record_id").to_pylist() == ["asterisk::1785571200.7/3"]


def test_unknown_layout_is_rejected_at_line_one(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse("asterisk", write(tmp_path / "a.csv", cdr(extra=("a", "b", "c", "d"))))
    assert err.value.line == 1
    assert "unexpected number of fields 20" in err.value.message


def test_explicit_columns_override_the_layout(tmp_path: Path) -> None:
    from rerate.usage.importers.asterisk import BASE

    options = ImportOptions(columns=(*BASE, "userfield"))
    result = parse("asterisk", write(tmp_path / "a.csv", cdr(extra=("note",))), options)
    assert result.table.column("record_id")[0].as_py().startswith("asterisk::#")


def test_short_row_names_the_first_missing_field(tmp_path: Path) -> None:
    short = ",".join(cdr().split(",")[:12]) + "\n"
    with pytest.raises(ImportRejected) as err:
        parse("asterisk", write(tmp_path / "a.csv", cdr() + short))
    assert err.value.line == 2
    assert err.value.column == "duration"
    assert err.value.message == "missing column: expected 18 fields, got 12"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2026-08-01 25:00:00"}, "start: unparsable timestamp: '2026-08-01 25:00:00'"),
        ({"end": "2026-08-01 09:00:00"}, "end: end before start: '2026-08-01 09:00:00'"),
        ({"duration": "-5"}, "duration: negative duration: '-5'"),
        ({"billsec": "5.5"}, "billsec: unparsable whole number: '5.5'"),
        (
            {"account": ""},
            "accountcode: missing value (set account_from to read the account elsewhere,"
            " e.g. channel-peer)",
        ),
    ],
)
def test_bad_rows_are_located(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    path = write(tmp_path / "Master.csv", cdr() + cdr(**kwargs))  # type: ignore[arg-type]
    with pytest.raises(ImportRejected) as err:
        parse("asterisk", path)
    assert str(err.value) == f"Master.csv:2: {message}"


def test_ambiguous_local_time_takes_the_earlier_instant(tmp_path: Path) -> None:
    # 02:30 happens twice in Berlin on 2026-10-25; the first is CEST (UTC+2).
    text = cdr(start="2026-10-25 02:30:00", end="2026-10-25 02:31:00")
    result = parse("asterisk", write(tmp_path / "a.csv", text), BERLIN)
    assert result.table.column("usage_start").to_pylist() == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    ]


def test_corrected_source_tz_keeps_record_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", cdr(extra=()))
    utc = parse("asterisk", path)
    berlin = parse("asterisk", path, BERLIN)
    assert utc.table.column("record_id") == berlin.table.column("record_id")
    assert utc.table.column("content_hash") != berlin.table.column("content_hash")


def test_short_row_becomes_a_reject_carrying_its_source_line(tmp_path: Path) -> None:
    short = ",".join(cdr().split(",")[:12]) + "\n"
    path = write(tmp_path / "a.csv", cdr() + short + cdr(start="2026-08-01 09:00:00"))
    result = parse("asterisk", path, ImportOptions(skip_bad_rows=True))
    assert result.line_numbers.tolist() == [1, 3]
    (reject,) = result.rejects
    assert (reject.line, reject.column, reject.raw) == (2, "duration", short.strip())
