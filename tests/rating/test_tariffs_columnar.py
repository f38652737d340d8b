"""The columnar tariffs reader gives what the line reader gives, for any file:
the same entries, or (the file not plain) the very same error message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rerate.rating import formats

HEADER = (
    "version,effective_from,prefix,destination_group,rate_per_minute,connect_fee,"
    "min_seconds,initial_increment,subsequent_increment,band,charge_unanswered,currency"
)


def _by_lines(path: Path) -> object:
    try:
        return formats._read(
            path,
            "deck.csv",
            formats._TARIFF_REQUIRED,
            formats._tariff_entry,
            lambda t: (t.prefix, t.band),
            "prefix/band",
        )
    except (formats.FormatError, UnicodeDecodeError) as exc:
        return (type(exc), str(exc))


def _read(path: Path) -> object:
    try:
        return formats.read_tariffs(path, name="deck.csv")
    except (formats.FormatError, UnicodeDecodeError) as exc:
        return (type(exc), str(exc))


CELLS = {
    "version": st.sampled_from(["1", "2", " 1", "x", ""]),
    "effective_from": st.sampled_from(
        ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00Z", "soon", ""]
    ),
    "prefix": st.sampled_from(["33", "336", " 44", "4a", "", "1234567890123456", "'33"]),
    "destination_group": st.sampled_from(["France", " UK ", "", "'=SUM(A1)", "Ünïcode", "x" * 201]),
    "rate_per_minute": st.sampled_from(["0.02", "0.10", "1e-2", "-1", "0.12345678901", "", "a"]),
    "connect_fee": st.sampled_from(["", "0", "0.5", "NaN"]),
    "min_seconds": st.sampled_from(["", "0", "30", "-1", "1.5"]),
    "initial_increment": st.sampled_from(["", "1", "60", "0"]),
    "subsequent_increment": st.sampled_from(["", "1", "6", "0"]),
    "band": st.sampled_from(["", "peak", " peak", "x" * 33]),
    "charge_unanswered": st.sampled_from(["", "true", "FALSE", "y", "maybe"]),
    "currency": st.sampled_from(["", "EUR", "USD"]),
}


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if ("," in cell or '"' in cell) else cell


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.fixed_dictionaries(CELLS), min_size=1, max_size=6))
def test_columnar_reads_any_file_as_the_line_reader_does(tmp_path: Path, rows):
    path = tmp_path / "deck.csv"
    lines = [",".join(_quote(r[c]) for c in HEADER.split(",")) for r in rows]
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert _read(path) == _by_lines(path)


@pytest.mark.parametrize(
    "text",
    [
        HEADER + "\n1,2026-01-01T00:00:00Z,33,France,0.02\n",  # a short line
        HEADER + "\n1,2026-01-01T00:00:00Z,33,France,0.02,0,0,1,1,,false,EUR,extra\n",
        "\ufeff" + HEADER + "\n1,2026-01-01T00:00:00Z,33,France,0.02,0,0,1,1,,false,EUR\n",
        HEADER + "\n\n1,2026-01-01T00:00:00Z,33,France,0.02,0,0,1,1,,false,EUR\n",
        HEADER + '\n1,2026-01-01T00:00:00Z,33,"Fr\nance",0.02,0,0,1,1,,false,EUR\n'
        "1,2026-01-01T00:00:00Z,33x,France,0.02,0,0,1,1,,false,EUR\n",
        "version,version,effective_from,prefix,destination_group,rate_per_minute\n"
        "1,2,2026-01-01T00:00:00Z,33,France,0.02\n",
        "version,effective_from,prefix,destination_group,rate_per_minute,id\n"
        "1,2026-01-01T00:00:00Z,33,France,0.02,7\n1,2026-01-01T00:00:00Z,34,France,0.02,\n",
        "version,effective_from,prefix,destination_group\n1,2026-01-01T00:00:00Z,33,France\n",
        "",
    ],
)
def test_odd_files_read_alike(tmp_path: Path, text: str):
    path = tmp_path / "deck.csv"
    path.write_text(text, encoding="utf-8")
    assert _read(path) == _by_lines(path)


def test_not_utf8_reads_alike(tmp_path: Path):
    path = tmp_path / "deck.csv"
    path.write_bytes((HEADER + "\n1,2026-01-01T00:00:00Z,33,Fr\xe9,0.02\n").encode("latin-1"))
    assert _read(path) == _by_lines(path)


def test_a_plain_deck_is_read_columnar(tmp_path: Path):
    path = tmp_path / "deck.csv"
    body = "".join(
        f"1,2026-01-01T00:00:00Z,{100 + i},G{i % 3},0.0{i % 9},0,0,60,60,,false,EUR\n"
        for i in range(500)
    )
    path.write_text(HEADER + "\n" + body)
    fast = formats._tariffs_columnar(path, "deck.csv")
    assert fast is not None
    assert fast == _by_lines(path)
    assert fast.versions[0].entries[-1][0] == 501
