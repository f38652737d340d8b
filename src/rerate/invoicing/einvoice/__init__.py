"""EN 16931 e-invoices: UBL 2.1, UN/CEFACT CII and Factur-X (docs/invoicing.md)."""
