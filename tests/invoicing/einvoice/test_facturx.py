"""Factur-X: the invoice PDF made PDF/A-3 with its CII XML embedded."""

from __future__ import annotations

import io
from decimal import Decimal

import facturx
from lxml import etree
from pypdf import PdfReader

from rerate.invoicing import pdf as invoice_pdf
from rerate.invoicing.einvoice import cii
from rerate.invoicing.einvoice.facturx import to_facturx
from tests.invoicing.einvoice import samples


def _facturx() -> tuple[bytes, bytes]:
    inv = samples.invoice()
    doc = samples.document(inv)
    xml = cii.to_cii(doc)
    facts = invoice_pdf.Facts(
        seller=invoice_pdf.Party.of(samples.seller()),
        buyer=invoice_pdf.Party.of(samples.buyer()),
        payment_terms_days=30,
        replaces_number=None,
        amount_paid=Decimal(0),
    )
    pdf = invoice_pdf.to_pdf(inv, facts)
    return to_facturx(pdf, xml, doc), xml


def test_the_pdf_carries_the_cii_xml_unchanged_at_the_en16931_level() -> None:
    pdf, xml = _facturx()
    assert pdf.startswith(b"%PDF")
    filename, embedded = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert embedded == xml
    tree = etree.fromstring(embedded)
    assert facturx.get_flavor(tree) == "factur-x"
    assert facturx.get_level(tree) == "en16931"


def test_the_pdf_declares_pdfa3_and_the_factur_x_profile_in_its_metadata() -> None:
    pdf, _xml = _facturx()
    reader = PdfReader(io.BytesIO(pdf))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    # the attachment is the invoice's data (AFRelationship /Data), not a mere annex
    (spec,) = reader.trailer["/Root"]["/AF"]
    assert spec.get_object()["/AFRelationship"] == "/Data"
