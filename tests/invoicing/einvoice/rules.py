"""The EN 16931 business rules the tests can express, checked on the XML
itself (UBL or CII read into one shape), not on rerate's own model.

Rule names are EN 16931-1's: BR-n (mandatory fields), BR-CO-n (calculations),
BR-S-n / BR-Z-n (VAT categories), BR-DEC-n (decimals).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lxml import etree

UBL_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CII_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}


@dataclass
class Figures:
    """One e-invoice's business terms, whatever the syntax."""

    fields: dict[str, str] = field(default_factory=dict)  # BT-n -> text ("" if absent)
    amounts: dict[str, str] = field(default_factory=dict)  # BT-106.. -> text
    lines: list[dict[str, str]] = field(default_factory=list)
    vat: list[dict[str, str]] = field(default_factory=list)  # BG-23


def _text(node: Any, path: str, ns: dict[str, str]) -> str:
    found = node.xpath(path, namespaces=ns)
    if not found:
        return ""
    value = found[0]
    return str(value if isinstance(value, str) else value.text or "").strip()


def ubl_figures(xml: bytes) -> Figures:
    root = etree.fromstring(xml)
    credit = etree.QName(root).localname == "CreditNote"
    t = lambda path, node=root: _text(node, path, UBL_NS)  # noqa: E731
    f = Figures()
    f.fields = {
        "BT-24": t("cbc:CustomizationID"),
        "BT-1": t("cbc:ID"),
        "BT-2": t("cbc:IssueDate"),
        "BT-3": t("cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode"),
        "BT-5": t("cbc:DocumentCurrencyCode"),
        "BT-9": t("cbc:DueDate"),
        "BT-10": t("cbc:BuyerReference"),
        "BT-20": t("cac:PaymentTerms/cbc:Note"),
        "BT-25": t("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
        "BT-73": t("cac:InvoicePeriod/cbc:StartDate"),
        "BT-74": t("cac:InvoicePeriod/cbc:EndDate"),
        "BT-27": t(
            "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"
        ),
        "BT-31": t("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"),
        "BT-40": t(
            "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode"
        ),
        "BT-44": t(
            "cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"
        ),
        "BT-48": t("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"),
        "BT-55": t(
            "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode"
        ),
    }
    total = "cac:LegalMonetaryTotal/cbc:"
    f.amounts = {
        "BT-106": t(total + "LineExtensionAmount"),
        "BT-107": t(total + "AllowanceTotalAmount"),
        "BT-108": t(total + "ChargeTotalAmount"),
        "BT-109": t(total + "TaxExclusiveAmount"),
        "BT-110": t("cac:TaxTotal/cbc:TaxAmount"),
        "BT-112": t(total + "TaxInclusiveAmount"),
        "BT-113": t(total + "PrepaidAmount"),
        "BT-114": t(total + "PayableRoundingAmount"),
        "BT-115": t(total + "PayableAmount"),
    }
    qty = "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity"
    for line in root.xpath("cac:CreditNoteLine|cac:InvoiceLine", namespaces=UBL_NS):
        f.lines.append(
            {
                "BT-126": t("cbc:ID", line),
                "BT-129": t(qty, line),
                "BT-130": t(qty + "/@unitCode", line),
                "BT-131": t("cbc:LineExtensionAmount", line),
                "BT-146": t("cac:Price/cbc:PriceAmount", line),
                "BT-151": t("cac:Item/cac:ClassifiedTaxCategory/cbc:ID", line),
                "BT-152": t("cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", line),
                "BT-153": t("cac:Item/cbc:Name", line),
            }
        )
    for sub in root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=UBL_NS):
        f.vat.append(
            {
                "BT-116": t("cbc:TaxableAmount", sub),
                "BT-117": t("cbc:TaxAmount", sub),
                "BT-118": t("cac:TaxCategory/cbc:ID", sub),
                "BT-119": t("cac:TaxCategory/cbc:Percent", sub),
            }
        )
    return f


def _cii_date(node: Any, path: str) -> str:
    raw = _text(node, path, CII_NS)
    # format 102 (CCYYMMDD) shown as ISO so both syntaxes compare alike
    return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}" if re.fullmatch(r"\d{8}", raw) else raw


def cii_figures(xml: bytes) -> Figures:
    root = etree.fromstring(xml)
    t = lambda path, node=root: _text(node, path, CII_NS)  # noqa: E731
    tx = "rsm:SupplyChainTradeTransaction/"
    agr = tx + "ram:ApplicableHeaderTradeAgreement/"
    stl = tx + "ram:ApplicableHeaderTradeSettlement/"
    f = Figures()
    f.fields = {
        "BT-24": t(
            "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"
        ),
        "BT-1": t("rsm:ExchangedDocument/ram:ID"),
        "BT-2": _cii_date(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString"),
        "BT-3": t("rsm:ExchangedDocument/ram:TypeCode"),
        "BT-5": t(stl + "ram:InvoiceCurrencyCode"),
        "BT-9": _cii_date(
            root, stl + "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString"
        ),
        "BT-10": t(agr + "ram:BuyerReference"),
        "BT-20": t(stl + "ram:SpecifiedTradePaymentTerms/ram:Description"),
        "BT-25": t(stl + "ram:InvoiceReferencedDocument/ram:IssuerAssignedID"),
        "BT-73": _cii_date(
            root, stl + "ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString"
        ),
        "BT-74": _cii_date(
            root, stl + "ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString"
        ),
        "BT-27": t(agr + "ram:SellerTradeParty/ram:Name"),
        "BT-31": t(agr + "ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID"),
        "BT-40": t(agr + "ram:SellerTradeParty/ram:PostalTradeAddress/ram:CountryID"),
        "BT-44": t(agr + "ram:BuyerTradeParty/ram:Name"),
        "BT-48": t(agr + "ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID"),
        "BT-55": t(agr + "ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID"),
    }
    sm = stl + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    f.amounts = {
        "BT-106": t(sm + "LineTotalAmount"),
        "BT-107": t(sm + "AllowanceTotalAmount"),
        "BT-108": t(sm + "ChargeTotalAmount"),
        "BT-109": t(sm + "TaxBasisTotalAmount"),
        "BT-110": t(sm + "TaxTotalAmount"),
        "BT-112": t(sm + "GrandTotalAmount"),
        "BT-113": t(sm + "TotalPrepaidAmount"),
        "BT-114": t(sm + "RoundingAmount"),
        "BT-115": t(sm + "DuePayableAmount"),
    }
    for item in root.xpath(tx + "ram:IncludedSupplyChainTradeLineItem", namespaces=CII_NS):
        lt = "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:"
        f.lines.append(
            {
                "BT-126": t("ram:AssociatedDocumentLineDocument/ram:LineID", item),
                "BT-129": t("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", item),
                "BT-130": t("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity/@unitCode", item),
                "BT-131": t(
                    "ram:SpecifiedLineTradeSettlement/"
                    "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
                    item,
                ),
                "BT-146": t(
                    "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount",
                    item,
                ),
                "BT-151": t(lt + "CategoryCode", item),
                "BT-152": t(lt + "RateApplicablePercent", item),
                "BT-153": t("ram:SpecifiedTradeProduct/ram:Name", item),
            }
        )
    for tax in root.xpath(stl + "ram:ApplicableTradeTax", namespaces=CII_NS):
        f.vat.append(
            {
                "BT-116": t("ram:BasisAmount", tax),
                "BT-117": t("ram:CalculatedAmount", tax),
                "BT-118": t("ram:CategoryCode", tax),
                "BT-119": t("ram:RateApplicablePercent", tax),
            }
        )
    return f


def _d(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


_AMOUNT = re.compile(r"-?\d+(\.\d{1,2})?")  # BR-DEC: at most two decimals
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def violations(f: Figures) -> list[str]:
    """The rules broken, by name (empty: all the checked rules hold)."""
    out: list[str] = []
    mandatory = {
        "BR-01": "BT-24", "BR-02": "BT-1", "BR-03": "BT-2", "BR-04": "BT-3", "BR-05": "BT-5",
        "BR-06": "BT-27", "BR-07": "BT-44", "BR-09": "BT-40", "BR-11": "BT-55",
    }  # fmt: skip
    out += [rule for rule, bt in mandatory.items() if not f.fields.get(bt)]
    if f.fields.get("BT-3") not in ("380", "381"):
        out.append("BT-3 code")
    for bt in ("BT-2", "BT-9", "BT-73", "BT-74"):
        if f.fields.get(bt) and not _DATE.fullmatch(f.fields[bt]):
            out.append(f"{bt} date format")
    if not f.lines:
        out.append("BR-16")
    for name, bt in (("BR-12", "BT-106"), ("BR-13", "BT-109"), ("BR-14", "BT-112")):
        if not f.amounts.get(bt):
            out.append(name)
    if not f.amounts.get("BT-115"):
        out.append("BR-15")
    for bt, value in f.amounts.items():
        if value and not _AMOUNT.fullmatch(value):
            out.append(f"BR-DEC {bt}")
    a = {bt: _d(v) for bt, v in f.amounts.items()}
    for i, line in enumerate(f.lines, start=1):
        for rule, bt in (("BR-21", "BT-126"), ("BR-22", "BT-129"), ("BR-23", "BT-130"),
                         ("BR-24", "BT-131"), ("BR-25", "BT-153"), ("BR-26", "BT-146"),
                         ("BR-CO-4", "BT-151")):  # fmt: skip
            if not line.get(bt):
                out.append(f"{rule} line {i}")
        if line.get("BT-146") and _d(line["BT-146"]) < 0:
            out.append(f"BR-27 line {i}")
        if line.get("BT-131") and not _AMOUNT.fullmatch(line["BT-131"]):
            out.append(f"BR-DEC-23 line {i}")
        # quantity x price reproduces the line's net amount (to the cent)
        product = _d(line.get("BT-129", "")) * _d(line.get("BT-146", ""))
        if abs(product - _d(line.get("BT-131", ""))) > Decimal("0.005"):
            out.append(f"quantity x price line {i}")
    line_sum = sum((_d(ln.get("BT-131", "")) for ln in f.lines), Decimal(0))
    if line_sum != a["BT-106"]:
        out.append("BR-CO-10")
    if a["BT-109"] != a["BT-106"] - a["BT-107"] + a["BT-108"]:
        out.append("BR-CO-13")
    if a["BT-110"] != sum((_d(v["BT-117"]) for v in f.vat), Decimal(0)):
        out.append("BR-CO-14")
    if a["BT-112"] != a["BT-109"] + a["BT-110"]:
        out.append("BR-CO-15")
    if a["BT-115"] != a["BT-112"] - a["BT-113"] + a["BT-114"]:
        out.append("BR-CO-16")
    if not f.vat:
        out.append("BR-CO-18")
    for v in f.vat:
        rate = _d(v["BT-119"])
        # The official schematron allows one minor unit either way (rounding modes).
        if abs(_d(v["BT-117"]) - _d(v["BT-116"]) * rate / 100) > Decimal("0.01"):
            out.append(f"BR-CO-17 {v['BT-118']}")
        category_lines = [
            _d(ln["BT-131"])
            for ln in f.lines
            if ln.get("BT-151") == v["BT-118"] and _d(ln.get("BT-152", "")) == rate
        ]
        if sum(category_lines, Decimal(0)) != _d(v["BT-116"]):
            out.append(f"BR-{v['BT-118']}-8")
        if v["BT-118"] == "Z" and (rate != 0 or _d(v["BT-117"]) != 0):
            out.append("BR-Z-9/BR-Z-10")
        if v["BT-118"] in ("S", "Z") and not f.fields.get("BT-31"):
            out.append(f"BR-{v['BT-118']}-2")
    for bt in ("BT-31", "BT-48"):
        if f.fields.get(bt) and not re.fullmatch(r"[A-Z]{2}.+", f.fields[bt]):
            out.append(f"BR-CO-9 {bt}")
    if a["BT-115"] > 0 and not (f.fields.get("BT-9") or f.fields.get("BT-20")):
        out.append("BR-CO-25")
    return out
