"""Variants real PBXs write (issue 13): accounts outside accountcode, billsec on
unanswered legs, FreeSWITCH A+B legs, cdr_custom layouts, non-UTF-8 names.

Fixtures are written here, field by field, to reproduce each variant."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import ImportOptions, parse
from rerate.usage.importers.freeswitch import B_LEG_REASON

from ..helpers import write


def ast(
    *,
    account: str = "",
    src: str = "4930111",
    dst: str = "4989222",
    clid: str = '"Desk" <4930111>',
    channel: str = "SIP/alice-00000012",
    dstchannel: str = "SIP/trunk-00000013",
    billsec: str = "40",
    disposition: str = "ANSWERED",
    uniqueid: str = "1785571200.1",
) -> str:
    """One 17-field cdr_csv line (accountcode ... amaflags, uniqueid)."""
    fields = [
        account, src, dst, "from-internal", clid, channel, dstchannel, "Dial", "SIP/trunk/x",
        "2026-08-01 10:00:00", "2026-08-01 10:00:05", "2026-08-01 10:01:00", "60", billsec,
        disposition, "DOCUMENTATION", uniqueid,
    ]  # fmt: skip
    return ",".join(f'"{f}"' for f in fields) + "\n"


def ast_bytes(**kwargs: str) -> bytes:
    return ast(**kwargs).encode("utf-8")


# ---------------------------------------------------------------- 1. account_from


def test_empty_accountcode_is_rejected_by_default_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse("asterisk", write(tmp_path / "Master.csv", ast()))
    assert err.value.line == 1
    assert err.value.column == "accountcode"
    assert "account_from" in err.value.message
    assert "channel-peer" in err.value.message


def test_account_from_channel_peer(tmp_path: Path) -> None:
    text = (
        ast(channel="SIP/alice-00000012", uniqueid="1.1")
        + ast(channel="PJSIP/100-0000ab", uniqueid="1.2")
        + ast(channel="SIP/my-office-peer-0000001f", uniqueid="1.3")
        + ast(channel="Local/ch1@TimeDelay-00000000;2", uniqueid="1.4")
    )
    options = ImportOptions(account_from="channel-peer")
    result = parse("asterisk", write(tmp_path / "Master.csv", text), options)
    assert result.table.column("account_ref").to_pylist() == [
        "alice",
        "100",
        "my-office-peer",
        "ch1@TimeDelay",
    ]
    assert result.account_column == "channel"


def test_account_from_dstchannel_peer_and_src(tmp_path: Path) -> None:
    path = write(tmp_path / "Master.csv", ast(account="ignored", dstchannel="IAX2/carrier-7f"))
    peer = parse("asterisk", path, ImportOptions(account_from="dstchannel-peer"))
    assert peer.table.column("account_ref").to_pylist() == ["carrier"]
    src = parse("asterisk", path, ImportOptions(account_from="src"))
    assert src.table.column("account_ref").to_pylist() == ["4930111"]
    # The account is not part of the record id: switching the option re-bills
    # the same calls (a correction), it does not add new ones.
    assert peer.table.column("record_id") == src.table.column("record_id")


def test_a_channel_without_a_peer_names_line_and_field(tmp_path: Path) -> None:
    text = ast(uniqueid="1.1") + ast(channel="garbage", uniqueid="1.2")
    with pytest.raises(ImportRejected) as err:
        parse(
            "asterisk",
            write(tmp_path / "Master.csv", text),
            ImportOptions(account_from="channel-peer"),
        )
    assert (err.value.line, err.value.column) == (2, "channel")
    assert "no peer in the channel name: 'garbage'" in err.value.message


def test_unknown_account_from_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channel-peer, dstchannel-peer, accountcode, src"):
        parse(
            "asterisk",
            write(tmp_path / "Master.csv", ast()),
            ImportOptions(account_from="peer"),
        )


def test_account_from_a_column_the_layout_lacks_is_a_missing_column(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as err:
        parse(
            "asterisk",
            write(tmp_path / "Master.csv", ast()),
            ImportOptions(account_from="peeraccount"),
        )
    assert (err.value.line, err.value.column) == (1, "peeraccount")


def test_formats_with_a_header_refuse_the_cdr_options(tmp_path: Path) -> None:
    path = write(tmp_path / "cdr.csv", "account,start,calling,called\n")
    with pytest.raises(ValueError, match="apply to asterisk and freeswitch only"):
        parse("generic_cdr", path, ImportOptions(account_from="calling"))


@given(
    tech=st.sampled_from(["SIP", "PJSIP", "IAX2", "DAHDI"]),
    peer=st.from_regex(r"[A-Za-z0-9_.@+-]{1,20}", fullmatch=True),
    seq=st.from_regex(r"[0-9a-f]{1,8}", fullmatch=True),
)
def test_channel_peer_takes_what_lies_between_technology_and_sequence(
    tech: str, peer: str, seq: str
) -> None:
    import pyarrow as pa

    from rerate.usage.importers._cdr import channel_peer

    assert channel_peer(pa.array([f"{tech}/{peer}-{seq}"])).to_pylist() == [peer]


# ---------------------------------------------------------------- 2. unanswered legs


@pytest.mark.parametrize("disposition", ["NO ANSWER", "BUSY", "FAILED", "CONGESTION"])
def test_unanswered_asterisk_legs_carry_no_billable_seconds(
    tmp_path: Path, disposition: str
) -> None:
    # A forked Dial() writes NO ANSWER legs with answer = start and billsec > 0.
    text = ast(account="a", uniqueid="1.1") + ast(
        account="a", uniqueid="1.2", disposition=disposition, billsec="60"
    )
    result = parse("asterisk", write(tmp_path / "Master.csv", text))
    rows = result.table.to_pylist()
    assert [r["billable_seconds"] for r in rows] == [40, 0]
    assert [r["duration_seconds"] for r in rows] == [60, 60]
    assert rows[1]["disposition"] == disposition


def test_unanswered_freeswitch_leg_with_billsec_carries_none(tmp_path: Path) -> None:
    text = fs(uuid="u1", answer="", billsec="12", cause="NO_ANSWER")
    result = parse("freeswitch", write(tmp_path / "Master.csv", text))
    assert result.table.column("billable_seconds").to_pylist() == [0]


# ---------------------------------------------------------------- 3. FreeSWITCH legs="ab"


def fs(
    *,
    uuid: str,
    bleg: str = "",
    name: str = "Desk",
    number: str = "1001",
    dst: str = "1002",
    start: str = "2026-08-01 10:00:00",
    answer: str = "2026-08-01 10:00:02",
    billsec: str = "58",
    cause: str = "NORMAL_CLEARING",
    account: str = "1001",
) -> str:
    fields = [
        name, number, dst, "default", start, answer, "2026-08-01 10:01:00", "60", billsec, cause,
        uuid, bleg, account, "PCMA", "PCMA",
    ]  # fmt: skip
    return ",".join(f'"{f}"' for f in fields) + "\n"


def test_b_legs_of_an_ab_file_are_left_out(tmp_path: Path) -> None:
    # B-leg written first (it hangs up first), with the callee's accountcode;
    # its A-leg names it in bleg_uuid. A third call was never bridged.
    text = (
        fs(uuid="b-1", name="Extension 1001", account="1002")
        + fs(uuid="a-1", bleg="b-1")
        + fs(uuid="a-2", dst="1003", answer="", billsec="0", cause="NO_ANSWER")
    )
    result = parse("freeswitch", write(tmp_path / "Master.csv", text))
    assert result.table.column("record_id").to_pylist() == ["freeswitch::a-1", "freeswitch::a-2"]
    assert result.table.column("account_ref").to_pylist() == ["1001", "1001"]
    assert result.line_numbers.tolist() == [2, 3]
    # The report counts the B-leg apart: read 3 = 2 rows + 1 left out on purpose.
    assert result.rows_read == 3
    assert result.skipped == ((B_LEG_REASON, 1),)


def test_legs_naming_each_other_keep_the_earlier(tmp_path: Path) -> None:
    text = fs(uuid="b-1", bleg="a-1", start="2026-08-01 10:00:01") + fs(uuid="a-1", bleg="b-1")
    result = parse("freeswitch", write(tmp_path / "Master.csv", text))
    assert result.table.column("record_id").to_pylist() == ["freeswitch::a-1"]


def test_an_a_leg_whose_b_leg_is_not_in_the_file_is_kept(tmp_path: Path) -> None:
    result = parse("freeswitch", write(tmp_path / "Master.csv", fs(uuid="a-1", bleg="b-9")))
    assert result.table.num_rows == 1
    assert result.skipped == ()


def test_freeswitch_account_from_caller_id_number(tmp_path: Path) -> None:
    path = write(tmp_path / "Master.csv", fs(uuid="a-1", number="91342657", account=""))
    result = parse("freeswitch", path, ImportOptions(account_from="caller_id_number"))
    assert result.table.column("account_ref").to_pylist() == ["91342657"]
    with pytest.raises(ValueError, match="caller_id_name, caller_id_number"):
        parse("freeswitch", path, ImportOptions(account_from="peer"))


# ---------------------------------------------------------------- 4. cdr_custom columns

# Asterisk's sample cdr_custom.conf mapping: 19 fields, accountcode 16th.
CUSTOM = (
    "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata", "start",
    "answer", "end", "duration", "billsec", "disposition", "amaflags", "accountcode",
    "uniqueid", "userfield", "sequence",
)  # fmt: skip


def custom(*, dst: str = "4989222", disposition: str = "ANSWERED", seq: str = "2") -> str:
    fields = [
        '"Desk" <4930111>', "4930111", dst, "default", "PJSIP/client1-00000002",
        "PJSIP/client2-00000003", "Dial", "PJSIP/client2", "2026-08-01 10:00:00",
        "2026-08-01 10:00:05", "2026-08-01 10:01:00", "60", "55", disposition, "DOCUMENTATION",
        "", "1785571200.2", "", seq,
    ]  # fmt: skip
    return ",".join(f'"{f}"' for f in fields[:-1]) + f",{fields[-1]}\n"


def test_cdr_custom_layout_with_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "Master.csv", custom())
    with pytest.raises(ImportRejected, match="unexpected number of fields 19"):
        parse("asterisk", path)
    options = ImportOptions(columns=CUSTOM, account_from="channel-peer")
    row = parse("asterisk", path, options).table.to_pylist()[0]
    assert row["record_id"] == "asterisk::1785571200.2/2"
    assert (row["account_ref"], row["called_number"], row["billable_seconds"]) == (
        "client1",
        "4989222",
        55,
    )


def test_columns_dash_skips_a_field(tmp_path: Path) -> None:
    names = tuple("-" if n in ("lastapp", "lastdata", "userfield") else n for n in CUSTOM)
    options = ImportOptions(columns=names, account_from="channel-peer")
    result = parse("asterisk", write(tmp_path / "Master.csv", custom()), options)
    assert result.table.num_rows == 1


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ((*CUSTOM[:-1], "seq"), "asterisk columns: unknown name 'seq' (known: accountcode, src,"),
        ((*CUSTOM[:-1], "src"), "asterisk columns: 'src' given twice"),
    ],
)
def test_bad_columns_are_one_line_naming_the_known(
    tmp_path: Path, names: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match="asterisk columns") as err:
        parse("asterisk", write(tmp_path / "Master.csv", custom()), ImportOptions(columns=names))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_columns_without_a_required_field_is_a_missing_column(tmp_path: Path) -> None:
    names = tuple("-" if n == "billsec" else n for n in CUSTOM)
    with pytest.raises(ImportRejected) as err:
        parse("asterisk", write(tmp_path / "Master.csv", custom()), ImportOptions(columns=names))
    assert (err.value.line, err.value.column, err.value.message) == (1, "billsec", "missing column")


# ---------------------------------------------------------------- 5. non-UTF-8 bytes


def test_latin1_name_in_clid_does_not_cost_the_row(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    latin1 = ast(account="a", clid='"Jos\xe9 M\xfcller" <4930111>', uniqueid="1.2")
    path.write_bytes(ast_bytes(account="a", uniqueid="1.1") + latin1.encode("latin-1"))
    result = parse("asterisk", path)
    assert result.table.num_rows == 2
    assert result.rejects == []


def test_latin1_name_in_an_irregular_file_does_not_cost_the_row(tmp_path: Path) -> None:
    # A blank line sends the reader down the slow path, which checks UTF-8 too.
    path = tmp_path / "Master.csv"
    latin1 = ast(account="a", clid='"Jos\xe9" <4930111>', uniqueid="1.2").encode("latin-1")
    path.write_bytes(ast_bytes(account="a", uniqueid="1.1") + b"\n" + latin1)
    assert parse("asterisk", path).table.num_rows == 2


def test_latin1_byte_in_a_field_rerate_reads_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    bad = ast(account="a", dst="4989\xe9", uniqueid="1.2").encode("latin-1")
    path.write_bytes(ast_bytes(account="a", uniqueid="1.1") + bad)
    with pytest.raises(ImportRejected) as err:
        parse("asterisk", path)
    assert str(err.value) == "Master.csv:2: dst: invalid UTF-8"
    skipped = parse("asterisk", path, ImportOptions(skip_bad_rows=True))
    assert skipped.table.num_rows == 1
    assert [(r.line, r.column) for r in skipped.rejects] == [(2, "dst")]


def test_latin1_caller_id_name_in_freeswitch(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_bytes(fs(uuid="a-1", name="Jos\xe9").encode("latin-1"))
    assert parse("freeswitch", path).table.num_rows == 1
