"""The neutral EN 16931 document: what goes in, what is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rerate.invoicing.einvoice import build
from rerate.invoicing.einvoice.model import (
    EInvoiceRefused,
    Preceding,
    TypeCode,
    VatCategory,
    parse_address,
    unit_code,
    vat_identifier,
)
from rerate.kit.errors import Conflict
from tests.invoicing.einvoice import samples


def test_units_map_to_rec20_codes_and_anything_else_is_one() -> None:
    assert [unit_code(u) for u in ("second", "min", "minute", "GB", "hour", "h")] == [
        "SEC",
        "MIN",
        "MIN",
        "E34",
        "HUR",
        "HUR",
    ]
    assert unit_code("GB-day") == "C62"
    assert unit_code("") == "C62"


def test_address_lines_postcode_city_and_country() -> None:
    a = parse_address("12 rue de la Paix\nBâtiment B\n75002 Paris\nFR", role="seller")
    assert (a.lines, a.postcode, a.city, a.country) == (
        ("12 rue de la Paix", "Bâtiment B"),
        "75002",
        "Paris",
        "FR",
    )
    b = parse_address("Hauptstraße 5\n10115 Berlin\nDeutschland", role="buyer")
    assert (b.postcode, b.city, b.country) == ("10115", "Berlin", "DE")
    # no country line: the VAT identifier's prefix (Greece writes EL) gives it
    c = parse_address("Odos 1\n10431 Athina", role="buyer", vat_id="EL123456789")
    assert c.country == "GR"


def test_an_address_without_a_country_is_refused_naming_the_field() -> None:
    with pytest.raises(EInvoiceRefused, match=r"seller address has no country \(BT-40"):
        parse_address("12 rue de la Paix\n75002 Paris", role="seller")


def test_a_seller_without_a_country_line_takes_its_vat_prefix() -> None:
    doc = samples.document(seller_node=samples.seller(address="12 rue de la Paix\n75002 Paris"))
    assert doc.seller.address.country == "FR"


def test_vat_identifier_needs_its_country_prefix() -> None:
    assert vat_identifier("FR 40 303 265 045") == "FR40303265045"
    assert vat_identifier("123456789") == ""


def test_lines_totals_and_vat_come_from_the_stored_invoice() -> None:
    doc = samples.document()
    assert doc.type_code == TypeCode.INVOICE
    assert [ln.net for ln in doc.lines] == [
        Decimal("128.85"),
        Decimal("36.00"),
        Decimal("-30.00"),
    ]
    assert doc.totals.line_net == doc.totals.without_vat == Decimal("134.85")
    assert doc.totals.vat == Decimal("26.97")
    assert doc.totals.with_vat == doc.totals.payable == Decimal("161.82")
    (vat,) = doc.vat
    assert (vat.category, vat.rate, vat.taxable, vat.tax) == (
        VatCategory.STANDARD,
        Decimal("20.0"),
        Decimal("134.85"),
        Decimal("26.97"),
    )
    assert str(doc.due_date) == "2026-11-02"  # issue date + 30 days of terms
    assert (str(doc.period_start), str(doc.period_end)) == ("2026-09-01", "2026-09-30")
    assert doc.buyer_reference == "9"
    assert doc.seller.name == "Société Générale des Télécoms SA"
    assert doc.buyer.name == "Müller & Söhne GmbH"


def test_a_credit_line_has_a_negative_quantity_never_a_negative_price() -> None:
    credit = samples.document().lines[2]
    assert (credit.quantity, credit.price, credit.net) == (
        Decimal(-1),
        Decimal(30),
        Decimal("-30.00"),
    )


def test_zero_tax_is_zero_rated() -> None:
    doc = samples.document(samples.invoice(tax_rate="0"))
    assert {ln.vat_category for ln in doc.lines} == {VatCategory.ZERO_RATED}
    assert doc.vat[0].tax == 0


def test_a_credit_note_states_positive_amounts_and_cites_its_original() -> None:
    # A credit note stored as a reversal (negative amounts) of invoice ACME-000007.
    reversal = samples.invoice(
        (("usage", "Calls to France", "1234.5", "min", "-128.85"),),
        number="ACME-CN-000001",
        type_="credit_note",
    )
    original = Preceding(number="ACME-000007", issue_date=samples.ISSUED.date())
    doc = samples.document(reversal, type_code=TypeCode.CREDIT_NOTE, preceding=[original])
    assert doc.type_code == TypeCode.CREDIT_NOTE
    assert doc.totals.with_vat == Decimal("154.62")
    assert (doc.lines[0].quantity, doc.lines[0].net) == (Decimal("1234.5"), Decimal("128.85"))
    assert doc.preceding == (original,)
    assert doc.due_date is None  # nothing falls due on a credit note; the terms say so


@pytest.mark.parametrize("status", ["draft", "ready", "superseded"])
def test_an_invoice_that_was_never_sent_is_refused(status: str) -> None:
    with pytest.raises(Conflict, match="only an Issued, Paid, Credited or"):
        samples.document(samples.invoice(status=status))


def test_a_cancelled_invoice_is_exported_for_the_record_with_a_note() -> None:
    doc = samples.document(samples.invoice(status="cancelled"))
    assert len(doc.notes) == 1
    assert "cancelled" in doc.notes[0]


@pytest.mark.parametrize(
    ("who", "over", "message"),
    [
        ("seller", {"address": "12 rue de la Paix\n75002 Paris", "tax_id": ""}, "tax_id is empty"),
        ("seller", {"tax_id": "303265045"}, "not a VAT identifier"),
        ("seller", {"address": ""}, r"has no address \(BG-5/BG-8\)"),
        (
            "buyer",
            {"address": "Hauptstraße 5\n10115 Berlin", "tax_id": ""},
            r"buyer \(node 9\) address has no country \(BT-40",
        ),
        ("buyer", {"name": "", "legal_name": ""}, r"has no name \(BT-27/BT-44\)"),
    ],
)
def test_a_party_missing_a_required_field_is_refused_naming_it(
    who: str, over: dict[str, str], message: str
) -> None:
    nodes = {"seller_node": samples.seller(), "buyer_node": samples.buyer()}
    nodes[f"{who}_node"] = (samples.seller if who == "seller" else samples.buyer)(**over)
    with pytest.raises(EInvoiceRefused, match=message):
        samples.document(**nodes)


def test_a_currency_with_three_decimals_is_refused() -> None:
    with pytest.raises(EInvoiceRefused, match="KWD has 3 decimals"):
        samples.document(
            samples.invoice((("usage", "x", "1", "", "1.000"),), tax_rate="0", currency="KWD")
        )


def test_an_invoice_whose_lines_do_not_add_up_is_never_exported() -> None:
    inv = samples.invoice()
    inv.subtotal += Decimal("0.01")
    with pytest.raises(Conflict, match="does not add up"):
        samples.document(inv)


def test_a_fee_without_a_quantity_is_one_of_it() -> None:
    doc = samples.document(samples.invoice((("support", "Support fee", "0", "", "49.00"),)))
    line = doc.lines[0]
    assert (line.quantity, line.unit_code, line.price) == (Decimal(1), "C62", Decimal(49))


def test_billing_period_is_the_whole_month() -> None:
    assert [str(d) for d in build.billing_period("2024-02")] == ["2024-02-01", "2024-02-29"]
    with pytest.raises(EInvoiceRefused, match="BG-14"):
        build.billing_period("2024-13")
