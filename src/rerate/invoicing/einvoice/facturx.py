"""Factur-X / ZUGFeRD: the invoice PDF turned PDF/A-3 with the CII XML embedded.

The `factur-x` library (BSD, Akretion, maintained) does the PDF part: it
attaches the XML as `factur-x.xml` with AFRelationship "Data", writes the XMP
metadata naming the Factur-X profile (EN 16931) and checks the XML against the
official Factur-X schema before it embeds it.
"""

from __future__ import annotations

from typing import Any

import facturx

from rerate.invoicing.einvoice.model import Document
from rerate.kit.errors import Conflict

FLAVOR = "factur-x"
LEVEL = "en16931"


def to_facturx(pdf: bytes, cii_xml: bytes, doc: Document) -> bytes:
    """`pdf` is the invoice as `invoicing.render` prints it; `cii_xml` its CII."""
    metadata = {
        "author": doc.seller.name,
        "keywords": f"Factur-X, {'Credit note' if doc.type_code == 381 else 'Invoice'}",
        "title": f"{doc.seller.name}: {'Credit note' if doc.type_code == 381 else 'Invoice'} "
        f"{doc.number}",
        "subject": f"Factur-X {doc.number} dated {doc.issue_date.isoformat()} "
        f"issued by {doc.seller.name}",
    }
    try:
        out: Any = facturx.generate_from_binary(
            pdf,
            cii_xml,
            flavor=FLAVOR,
            level=LEVEL,
            check_xsd=True,
            check_schematron=False,  # needs a Saxon server; the tests check the rules we can
            pdf_metadata=metadata,
        )
    except Exception as exc:  # the library raises bare Exception on an invalid XML
        raise Conflict(f"could not produce the Factur-X PDF of {doc.number}: {exc}") from exc
    return bytes(out)
