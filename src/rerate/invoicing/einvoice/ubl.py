"""UBL 2.1 Invoice / CreditNote (OASIS), EN 16931 syntax binding.

Element order follows the UBL 2.1 schemas (the tests validate against them).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from rerate.invoicing.einvoice.model import (
    SPECIFICATION_ID,
    Document,
    Party,
    TypeCode,
    decimal_text,
)

_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_ROOT = {
    TypeCode.INVOICE: ("Invoice", "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"),
    TypeCode.CREDIT_NOTE: (
        "CreditNote",
        "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    ),
}


def _cac(parent: Any, name: str) -> Any:
    return etree.SubElement(parent, f"{{{_CAC}}}{name}")


def _cbc(parent: Any, name: str, text: str, **attrs: str) -> Any:
    el = etree.SubElement(parent, f"{{{_CBC}}}{name}", attrs)
    el.text = text
    return el


def _party(parent: Any, role: str, party: Party) -> None:
    node = _cac(_cac(parent, role), "Party")
    address = _cac(node, "PostalAddress")
    street = list(party.address.lines)
    if street:
        _cbc(address, "StreetName", street[0])  # BT-35
    if len(street) > 1:
        _cbc(address, "AdditionalStreetName", street[1])  # BT-36
    if party.address.city:
        _cbc(address, "CityName", party.address.city)  # BT-37
    if party.address.postcode:
        _cbc(address, "PostalZone", party.address.postcode)  # BT-38
    if len(street) > 2:
        _cbc(_cac(address, "AddressLine"), "Line", street[2])  # BT-162
    _cbc(_cac(address, "Country"), "IdentificationCode", party.address.country)  # BT-40
    if party.vat_id:
        scheme = _cac(node, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", party.vat_id)  # BT-31 / BT-48
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    _cbc(_cac(node, "PartyLegalEntity"), "RegistrationName", party.name)  # BT-27 / BT-44


def to_ubl(doc: Document) -> bytes:
    credit = doc.type_code == TypeCode.CREDIT_NOTE
    root_name, root_ns = _ROOT[doc.type_code]
    root = etree.Element(
        f"{{{root_ns}}}{root_name}", nsmap={None: root_ns, "cac": _CAC, "cbc": _CBC}
    )
    cur = {"currencyID": doc.currency}
    _cbc(root, "CustomizationID", SPECIFICATION_ID)  # BT-24
    _cbc(root, "ID", doc.number)  # BT-1
    _cbc(root, "IssueDate", doc.issue_date.isoformat())  # BT-2
    if doc.due_date is not None and not credit:  # a UBL CreditNote has no DueDate
        _cbc(root, "DueDate", doc.due_date.isoformat())  # BT-9
    _cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", str(int(doc.type_code)))
    for note in doc.notes:
        _cbc(root, "Note", note)  # BT-22
    _cbc(root, "DocumentCurrencyCode", doc.currency)  # BT-5
    _cbc(root, "BuyerReference", doc.buyer_reference)  # BT-10
    period = _cac(root, "InvoicePeriod")  # BG-14
    _cbc(period, "StartDate", doc.period_start.isoformat())
    _cbc(period, "EndDate", doc.period_end.isoformat())
    for ref in doc.preceding:  # BG-3
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", ref.number)
        if ref.issue_date is not None:
            _cbc(reference, "IssueDate", ref.issue_date.isoformat())
    _party(root, "AccountingSupplierParty", doc.seller)
    _party(root, "AccountingCustomerParty", doc.buyer)
    if doc.payment_terms:
        _cbc(_cac(root, "PaymentTerms"), "Note", doc.payment_terms)  # BT-20
    tax_total = _cac(root, "TaxTotal")
    _cbc(tax_total, "TaxAmount", doc.amount(doc.totals.vat), **cur)  # BT-110
    for vat in doc.vat:  # BG-23
        sub = _cac(tax_total, "TaxSubtotal")
        _cbc(sub, "TaxableAmount", doc.amount(vat.taxable), **cur)  # BT-116
        _cbc(sub, "TaxAmount", doc.amount(vat.tax), **cur)  # BT-117
        category = _cac(sub, "TaxCategory")
        _cbc(category, "ID", vat.category.value)  # BT-118
        _cbc(category, "Percent", decimal_text(vat.rate))  # BT-119
        _cbc(_cac(category, "TaxScheme"), "ID", "VAT")
    totals = _cac(root, "LegalMonetaryTotal")
    _cbc(totals, "LineExtensionAmount", doc.amount(doc.totals.line_net), **cur)  # BT-106
    _cbc(totals, "TaxExclusiveAmount", doc.amount(doc.totals.without_vat), **cur)  # BT-109
    _cbc(totals, "TaxInclusiveAmount", doc.amount(doc.totals.with_vat), **cur)  # BT-112
    _cbc(totals, "PayableAmount", doc.amount(doc.totals.payable), **cur)  # BT-115
    for line in doc.lines:  # BG-25
        node = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        _cbc(node, "ID", line.id)  # BT-126
        _cbc(
            node,
            "CreditedQuantity" if credit else "InvoicedQuantity",
            decimal_text(line.quantity),
            unitCode=line.unit_code,
        )  # BT-129, BT-130
        _cbc(node, "LineExtensionAmount", doc.amount(line.net), **cur)  # BT-131
        item = _cac(node, "Item")
        _cbc(item, "Name", line.name)  # BT-153
        category = _cac(item, "ClassifiedTaxCategory")
        _cbc(category, "ID", line.vat_category.value)  # BT-151
        _cbc(category, "Percent", decimal_text(line.vat_rate))  # BT-152
        _cbc(_cac(category, "TaxScheme"), "ID", "VAT")
        _cbc(_cac(node, "Price"), "PriceAmount", decimal_text(line.price), **cur)  # BT-146
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
