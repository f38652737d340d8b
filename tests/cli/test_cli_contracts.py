"""The catalog commands as a reseller admin types them: a timetable edited as
versions, a profile, a contract with rules from CSV then JSON, activation
refused in one line while another contract is active, custom line items."""

from __future__ import annotations

import json
from pathlib import Path

from rerate.kit.db import Database
from tests.billing.fixtures import build_billing
from tests.cli.test_cli_audit import _rerate, _run
from tests.world import World

AS = ["--as", "partner_admin@test.example"]


def test_a_reseller_runs_timetables_profiles_contracts_and_items_from_the_shell(
    database: Database, world: World, tmp_path: Path, data_dir: Path
) -> None:
    billing = build_billing(database, data_dir, world)
    partner, customer = world.nodes["partner_a1"].id, world.nodes["cust_a1x"].id

    out = _rerate(
        database,
        tmp_path,
        "timetables", "create", "--owner", str(partner), "--name", "Office hours",
        "--tz", "Europe/Paris", "--default-band", "offpeak", *AS,
    ).stdout  # fmt: skip
    timetable = out.split()[2]
    _rerate(
        database,
        tmp_path,
        "timetables", "add-rule", timetable, "--band", "peak", "--weekdays", "01234",
        "--start", "08:00", "--end", "20:00", "--effective-from", "2026-08-16T00:00:00Z",
        "--reason", "summer", *AS,
    )  # fmt: skip
    shown = json.loads(_rerate(database, tmp_path, "timetables", "show", timetable, *AS).stdout)
    assert [(v["version"], len(v["rules"])) for v in shown["versions"]] == [(1, 0), (2, 1)]

    out = _rerate(
        database,
        tmp_path,
        "profiles", "create", "--owner", str(partner), "--name", "Volume", "--unit", "minutes",
        "--tier-mode", "graduated", "--tier", "0:0.05", "--tier", "1000:0.04", *AS,
    ).stdout  # fmt: skip
    assert out.startswith("created profile")

    rules_csv = tmp_path / "rules.csv"
    rules_csv.write_text("kind,service,percent,description\ndiscount,Compute,10,Ten off\n")
    out = _rerate(
        database,
        tmp_path,
        "contracts", "create", "--customer", str(customer), "--seller", str(partner),
        "--currency", "EUR", "--coverage-start", "2027-01-01", "--timetable", timetable,
        "--cloud-price-book", str(billing.price_book_id), "--rules", str(rules_csv),
        "--reason", "renewal", *AS,
    ).stdout  # fmt: skip
    contract = out.split()[2]
    rules_json = tmp_path / "rules.json"
    rules_json.write_text(json.dumps({"rules": [{"kind": "markup", "percent": "4.5"}]}))
    _rerate(
        database, tmp_path, "contracts", "set-rules", contract, "--file", str(rules_json),
        "--reason", "price review", *AS,
    )  # fmt: skip
    versions = json.loads(_rerate(database, tmp_path, "contracts", "rules", contract, *AS).stdout)
    assert [(v["version"], v["rules"][0]["kind"]) for v in versions] == [
        (2, "markup"),
        (1, "discount"),
    ]
    assert versions[0]["reason"] == "price review"

    refused = _run(database, tmp_path, "contracts", "activate", contract, *AS)
    assert refused.returncode == 2
    existing = billing.contract_ids["cust_a1x"]
    assert refused.stderr.strip().splitlines() == [
        f"error: the customer already has an active contract: {existing}; deactivate it first"
    ]
    bad_rules = tmp_path / "bad.csv"
    bad_rules.write_text("kind,percent\ndiscount,ten\n")
    bad = _run(
        database, tmp_path, "contracts", "set-rules", contract, "--file", str(bad_rules),
        "--reason", "x", *AS,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "bad.csv: line 2: percent: not a decimal number" in bad.stderr

    out = _rerate(
        database, tmp_path, "custom-items", "add", "--customer", str(customer),
        "--description", "Setup", "--amount", "99.90", "--one-off", "2026-08-20", *AS,
    ).stdout  # fmt: skip
    item = out.split()[2].rstrip(";")
    listed = _rerate(database, tmp_path, "custom-items", "list", "--customer", str(customer), *AS)
    assert "Setup\t99.9\tEUR\t2026-08-20" in listed.stdout
    _rerate(database, tmp_path, "custom-items", "delete", item, *AS)
    listed = _rerate(database, tmp_path, "custom-items", "list", "--customer", str(customer), *AS)
    assert "Setup" not in listed.stdout


def test_a_contract_s_terms_are_edited_from_the_shell(
    database: Database, world: World, tmp_path: Path, data_dir: Path
) -> None:
    billing = build_billing(database, data_dir, world)
    contract = str(billing.contract_ids["cust_a1x"])
    out = _rerate(
        database, tmp_path, "contracts", "edit", contract, "--name", "Amended",
        "--payment-terms-days", "60", "--coverage-end", "2028-01-01",
        "--reason", "amendment", *AS,
    ).stdout  # fmt: skip
    assert out.strip() == f"contract {contract}: changed name, coverage_end, payment_terms_days"
    shown = json.loads(_rerate(database, tmp_path, "contracts", "show", contract, *AS).stdout)
    assert (shown["name"], shown["coverage_end"], shown["payment_terms_days"]) == (
        "Amended",
        "2028-01-01",
        60,
    )
    out = _rerate(
        database, tmp_path, "contracts", "edit", contract, "--clear", "coverage_end",
        "--clear", "cloud_price_book_id", "--reason", "open-ended", *AS,
    ).stdout  # fmt: skip
    assert "changed coverage_end, cloud_price_book_id" in out
    refused = _run(
        database, tmp_path, "contracts", "edit", contract, "--clear", "currency",
        "--reason", "x", *AS,
    )  # fmt: skip
    assert refused.returncode == 2
    assert " ".join(refused.stderr.split()) == (
        "error: currency: not a term that can change after creation (these can: name, "
        "coverage_end, payment_terms_days, correction_policy, invoice_type, "
        "cloud_price_book_id, voip_price_book_id, timetable_id)"
    )
    bad_end = _run(
        database, tmp_path, "contracts", "edit", contract, "--coverage-end", "2027-03-15",
        "--reason", "x", *AS,
    )  # fmt: skip
    assert bad_end.returncode == 2
    assert "coverage_end: coverage is in whole months" in bad_end.stderr
