"""`rerate pricebooks ...`: the reseller's journey from the shell."""

from __future__ import annotations

import json
from pathlib import Path

from rerate.kit.db import Database
from tests.cli.test_cli_audit import _rerate, _run
from tests.pricebooks.helpers import DECK_V1, semantic
from tests.world import World


def test_import_publish_export_compare(database: Database, world: World, tmp_path: Path):
    who = ("--as", "partner_admin@test.example")
    owner = str(world.nodes["partner_a1"].id)
    created = _rerate(
        database,
        tmp_path,
        "pricebooks",
        "create",
        "--name",
        "Deck",
        "--kind",
        "voip",
        "--currency",
        "EUR",
        "--owner",
        owner,
        *who,
    )
    book = str(json.loads(created.stdout)["id"])
    deck = tmp_path / "tariffs.csv"
    deck.write_text(DECK_V1)
    done = _rerate(
        database,
        tmp_path,
        "pricebooks",
        "import",
        book,
        str(deck),
        "--effective",
        "2026-01-01T00:00:00Z",
        "--publish",
        "--reason",
        "January deck",
        *who,
    )
    assert "3 entries, published" in done.stderr
    # A mismatching instant: one line, exit code 2, nothing stored.
    bad = _run(
        database,
        tmp_path,
        "pricebooks",
        "import",
        book,
        str(deck),
        "--effective",
        "2026-10-15T00:00:00Z",
        *who,
    )
    assert bad.returncode == 2
    assert "tariffs.csv line 2, field effective_from" in bad.stderr
    assert "Traceback" not in bad.stderr
    # The next version: the exported file with a new rate and instant.
    exported = tmp_path / "export.csv"
    shown = json.loads(_rerate(database, tmp_path, "pricebooks", "show", book, *who).stdout)
    v1 = shown["versions"][0]
    _rerate(
        database,
        tmp_path,
        "pricebooks",
        "export",
        book,
        str(v1["id"]),
        "--out",
        str(exported),
        *who,
    )
    assert semantic(exported.read_text(), "voip", tmp_path) == semantic(DECK_V1, "voip", tmp_path)
    october = exported.read_text().replace("2026-01-01T00:00:00Z", "2026-10-15T00:00:00Z")
    october = october.replace("France,0.02,", "France,0.03,")
    exported.write_text(october)
    done = _rerate(database, tmp_path, "pricebooks", "import", book, str(exported), *who)
    assert "version 2" in done.stderr
    assert "draft" in done.stderr
    v2 = json.loads(_rerate(database, tmp_path, "pricebooks", "show", book, *who).stdout)[
        "versions"
    ][1]
    _rerate(
        database,
        tmp_path,
        "pricebooks",
        "publish",
        book,
        str(v2["id"]),
        "--reason",
        "October update",
        *who,
    )
    diff = json.loads(
        _rerate(
            database, tmp_path, "pricebooks", "compare", book, str(v1["id"]), str(v2["id"]), *who
        ).stdout
    )
    assert diff["counts"] == {"added": 0, "removed": 0, "changed": 1, "unchanged": 2}
    listed = _rerate(database, tmp_path, "pricebooks", "list", *who)
    assert f"{book}\tvoip\tEUR\tPartner A1\tDeck" in listed.stdout
    # Outside the user's subtree: not found, one line.
    refused = _run(
        database, tmp_path, "pricebooks", "show", book, "--as", "customer_user@test.example"
    )
    assert refused.returncode == 2
    assert "not found" in refused.stderr


CGRATES = Path(__file__).parents[1] / "pricebooks" / "fixtures" / "cgrates"


def test_import_cgrates_plan(database: Database, world: World, tmp_path: Path):
    who = ("--as", "partner_admin@test.example")
    created = _rerate(
        database,
        tmp_path,
        "pricebooks",
        "create",
        "--name",
        "From CGRateS",
        "--kind",
        "voip",
        "--currency",
        "EUR",
        "--owner",
        str(world.nodes["partner_a1"].id),
        *who,
    )
    book = str(json.loads(created.stdout)["id"])
    base = ("pricebooks", "import", book, "--format", "cgrates", "--effective")
    # A data plan in nanosecond units: refused, naming file, line and field; nothing stored.
    bad = _run(
        database,
        tmp_path,
        *base,
        "2026-01-01T00:00:00Z",
        str(CGRATES / "standard"),
        "--subject",
        "*any",
        "--category",
        "data",
        *who,
    )
    assert bad.returncode == 2
    assert "Rates.csv line 22, RateUnit: '2048' is 2048 ns" in bad.stderr
    assert "Traceback" not in bad.stderr
    shown = json.loads(_rerate(database, tmp_path, "pricebooks", "show", book, *who).stdout)
    assert shown["versions"] == []
    # Without --effective: refused before anything is read.
    missing = _run(
        database,
        tmp_path,
        "pricebooks",
        "import",
        book,
        str(CGRATES / "capped"),
        "--format",
        "cgrates",
        *who,
    )
    assert missing.returncode == 2
    assert "--effective: required with --format cgrates" in missing.stderr
    done = _rerate(
        database,
        tmp_path,
        *base,
        "2026-01-01T00:00:00Z",
        str(CGRATES / "standard"),
        "--subject",
        "alice",
        *who,
    )
    assert "CGRateS rating plan(s): RP_VIP, RP_RETAIL" in done.stderr
    assert "Destinations.csv line 8, Prefix: 'voicemail' is not a number" in done.stderr
    assert "10 entries, draft" in done.stderr
    shown = json.loads(_rerate(database, tmp_path, "pricebooks", "show", book, *who).stdout)
    version = shown["versions"][0]
    exported = _rerate(
        database, tmp_path, "pricebooks", "export", book, str(version["id"]), *who
    ).stdout
    header, *lines = exported.splitlines()
    assert header.endswith(
        ",rate_groups,increment_decimals,call_decimals,call_rounding,max_cost,timing,weight"
    )
    assert any(
        ",447,DST_MOBILE,0.5,0.1,0,30,30,,false,EUR,300:0.25:10,5,2,ROUND_HALF_UP,,,10" in ln
        for ln in lines
    )
    assert any(",DAYTIME=*any|*any|*any|1;2;3;4;5|08:00:00,10" in ln for ln in lines)
