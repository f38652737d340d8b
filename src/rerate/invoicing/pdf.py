"""The invoice as a PDF a finance team can send (docs/invoicing.md, "The invoice PDF").

Every figure is printed from the stored, already-rounded Decimals through
`kit.present` (never re-computed), so the PDF matches the database, the CSV
and the API to the cent. DejaVu Sans is embedded (fonts/, with its licence):
the PDF core fonts cover Latin-1 only, and a buyer called "Łódź Telecom" or
"Müller & Søn" must print as written.

Paper: A4 unless the caller asks for US Letter (`?paper=letter` on the API,
`--paper letter` on the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from fpdf import FPDF, FontFace
from sqlalchemy.orm import Session

from rerate.invoicing import parties, payments
from rerate.invoicing.parties import CreditNoteFacts, Party, Reference
from rerate.kit.present import money_text, quantity_text
from rerate.models import Invoice, InvoiceLine, Node
from rerate.models.enums import InvoiceStatus, InvoiceType

FONTS = Path(__file__).parent / "fonts"
FONT = "DejaVu"

__all__ = ["Facts", "Paper", "Party", "facts_for", "to_pdf"]


class Paper(StrEnum):
    A4 = "a4"
    LETTER = "letter"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the PDF prints besides the invoice row and its lines."""

    seller: Party | None
    buyer: Party
    payment_terms_days: int | None
    replaces_number: str | None
    amount_paid: Decimal
    # Credit notes applied to the invoice (no money moved).
    amount_credited: Decimal = Decimal(0)
    # A Credited invoice: the credit note that reversed it.
    credited_by: Reference | None = None
    # A credit note: what it credits, why, and how its amount was used.
    credit_note: CreditNoteFacts | None = None


def due_date(invoice: Invoice, terms_days: int | None) -> date | None:
    """The due date printed on the invoice: the one stored at issue (issue day
    plus the contract's payment terms, invoicing/service.py); for an invoice
    issued before due dates were stored, issue date plus `terms_days`. A
    credit note has none: nothing falls due on it."""
    if invoice.type == InvoiceType.CREDIT_NOTE.value:
        return None
    if invoice.due_date is not None:
        return invoice.due_date
    if invoice.issued_at is None or terms_days is None:
        return None
    return invoice.issued_at.date() + timedelta(days=terms_days)


def facts_for(session: Session, invoice: Invoice, customer: Node) -> Facts:
    """The parties, terms and links of `invoice`, read from the database."""
    seller = parties.seller_of(session, invoice, customer)
    replaced = session.get(Invoice, invoice.replaces_id) if invoice.replaces_id else None
    # Money received (payments less reversals) apart from credit notes applied.
    settled = payments.settlements(session, [invoice.id])[invoice.id]
    return Facts(
        seller=Party.of(seller) if seller is not None else None,
        buyer=Party.of(customer),
        payment_terms_days=parties.terms_days(session, customer, seller),
        # A replaced version that was never issued (Superseded) has no number
        # and was never sent: nothing to tell the customer.
        replaces_number=replaced.number if replaced is not None else None,
        amount_paid=settled.paid,
        amount_credited=settled.credited,
        credited_by=parties.credited_by(session, invoice),
        credit_note=parties.credit_note_facts(session, invoice),
    )


# --- grouping ------------------------------------------------------------------------------

_PERIOD_GROUPS = {
    "support": "Support",
    "minimum": "Minimum commitment",
    "custom": "Other charges and credits",
    "credit": "Credits",
    "profile": "Profile fees",
}


def group_of(line: InvoiceLine) -> str:
    """The heading a line is listed under: its service (cloud usage, from
    "Service - SKU"), "Calls" (VoIP destination groups), or its kind."""
    if line.kind == "usage":
        if line.description.startswith("Calls to "):
            return "Calls"
        service, sep, _item = line.description.partition(" - ")
        return service if sep and service else "Usage"
    return _PERIOD_GROUPS.get(line.kind, line.kind.replace("_", " ").capitalize())


def grouped_lines(lines: Iterable[InvoiceLine]) -> list[tuple[str, list[InvoiceLine]]]:
    """Lines other than tax by `group_of`, groups in order of first appearance."""
    groups: dict[str, list[InvoiceLine]] = {}
    for line in lines:
        if line.kind != "tax":
            groups.setdefault(group_of(line), []).append(line)
    return list(groups.items())


def tax_summary(invoice: Invoice) -> list[tuple[str, Decimal, Decimal]]:
    """(rate text, taxable amount, tax) per rate; an invoice has one rate today."""
    rate = quantity_text(invoice.tax_rate * 100)
    return [(f"{rate} %", invoice.subtotal, invoice.tax)]


# --- layout --------------------------------------------------------------------------------


class Document(FPDF):
    def __init__(self, paper: Paper, footer_text: str) -> None:
        super().__init__(format="A4" if paper is Paper.A4 else "Letter", unit="mm")
        self._footer_text = footer_text
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)
        self.alias_nb_pages()  # "{nb}": the page count, filled in at output

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self._footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)


def _title(invoice: Invoice) -> str:
    status = InvoiceStatus(invoice.status)
    doc = "Credit note" if invoice.type == InvoiceType.CREDIT_NOTE.value else "Invoice"
    if invoice.number and status in (InvoiceStatus.ISSUED, InvoiceStatus.PAID):
        return f"{doc} {invoice.number}"
    if invoice.number:
        return f"{doc} {invoice.number} ({status.value.capitalize()})"
    return f"Draft {doc.lower()} - not issued ({status.value.capitalize()})"


def _party_lines(label: str, party: Party | None) -> list[str]:
    if party is None:
        return [label, "-"]
    lines = [label, party.name, *(ln.strip() for ln in party.address.splitlines() if ln.strip())]
    if party.tax_id:
        lines.append(f"Tax ID: {party.tax_id}")
    return lines


def _parties(pdf: Document, seller: Party | None, buyer: Party, buyer_label: str) -> None:
    half = (pdf.epw - 10) / 2
    top = pdf.get_y()
    bottoms = []
    columns = (_party_lines("From", seller), _party_lines(buyer_label, buyer))
    for column, lines in enumerate(columns):
        pdf.set_xy(pdf.l_margin + column * (half + 10), top)
        for index, text in enumerate(lines):
            pdf.set_font(FONT, "B" if index < 2 else "", 8 if index == 0 else 10)
            pdf.set_x(pdf.l_margin + column * (half + 10))
            pdf.multi_cell(half, 5, text, new_x="LEFT", new_y="NEXT")
        bottoms.append(pdf.get_y())
    pdf.set_xy(pdf.l_margin, max(bottoms) + 4)


def _facts_table(pdf: Document, rows: Sequence[tuple[str, str]]) -> None:
    """Label/value pairs in two columns, filled top to bottom."""
    half = (pdf.epw - 10) / 2
    per_column = (len(rows) + 1) // 2
    top = pdf.get_y()
    bottoms = []
    for column in range(2):
        x = pdf.l_margin + column * (half + 10)
        pdf.set_xy(x, top)
        part = rows[column * per_column : (column + 1) * per_column]
        pdf.set_font(FONT, "B", 9)
        # As wide as the column's longest label: a label is never cut.
        label_w = max([34.0, *(pdf.get_string_width(label) + 3 for label, _ in part)])
        for label, value in part:
            pdf.set_x(x)
            pdf.set_font(FONT, "B", 9)
            pdf.cell(label_w, 5, label)
            pdf.set_font(FONT, "", 9)
            pdf.multi_cell(half - label_w, 5, value, new_x="LEFT", new_y="NEXT")
        bottoms.append(pdf.get_y())
    pdf.set_xy(pdf.l_margin, max(bottoms) + 4)


def _date(value: date | None, missing: str) -> str:
    return value.isoformat() if value is not None else missing


def projection_lines(invoice: Invoice) -> list[str]:
    """What a quarterly invoice states about its charge: the projection
    method, the basis months and amounts, the projection, the override and
    its reason, and the true-up once made (docs/invoicing.md)."""
    # Imported here to keep this block self-contained (one function to merge).
    from rerate.invoicing import quarterly

    view = quarterly.projection_view(invoice)
    if view is None:
        return []
    cur = invoice.currency

    def money(text: str) -> str:
        return money_text(Decimal(text), cur)

    basis = "; ".join(f"{b['period']} {money(b['amount'])}" for b in view["basis"])
    lines = [
        f"Invoiced in advance for {invoice.period}. Projection method: {view['method_text']}.",
        f"Basis: {basis}. Projected: {money(view['projected_amount'])} {cur}.",
    ]
    if view["override_amount"] is not None:
        lines.append(
            f"Override: {money(view['override_amount'])} {cur} charged instead of the "
            f"projection. Reason: {view['override_reason']}"
        )
    if view["actual_amount"] is not None:
        actuals = "; ".join(f"{a['period']} {money(a['amount'])}" for a in view["actuals"])
        lines.append(
            f"Trued up: actual {money(view['actual_amount'])} {cur} ({actuals}); "
            f"difference {money(view['difference'])} {cur}."
        )
    else:
        lines.append(
            "Once the quarter's months are billed, the difference between the actual charges "
            "and this amount is invoiced or credited (true-up)."
        )
    return lines


def _projection_block(pdf: Document, invoice: Invoice) -> None:
    lines = projection_lines(invoice)
    if not lines:
        return
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, "Quarterly invoice", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    for text in lines:
        pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def to_pdf(invoice: Invoice, facts: Facts, *, paper: Paper = Paper.A4) -> bytes:
    currency = invoice.currency

    def money(amount: Decimal) -> str:
        return money_text(amount, currency)

    title = _title(invoice)
    pdf = Document(paper, f"{title} - {facts.buyer.name}")
    pdf.set_title(title)
    pdf.set_author(facts.seller.name if facts.seller else "rerate")
    pdf.set_creator("rerate")
    pdf.add_page()

    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    # A credit note bills nothing: its buyer is the one it credits.
    _parties(pdf, facts.seller, facts.buyer, "Credit to" if facts.credit_note else "Bill to")

    issued = invoice.issued_at.date() if invoice.issued_at else None
    note = facts.credit_note
    if note is not None:
        _facts_table(pdf, _credit_note_rows(invoice, issued))
        _wide_rows(
            pdf,
            [
                ("Credits invoice", note.credits.text() if note.credits else "-"),
                ("Reason", note.reason or "-"),
            ],
        )
    else:
        _facts_table(pdf, _invoice_rows(invoice, facts, issued))
        _wide_rows(pdf, _invoice_status(invoice, facts))
        _projection_block(pdf, invoice)

    heading = FontFace(emphasis="BOLD", fill_color=(230, 230, 230))
    group_style = FontFace(emphasis="BOLD", fill_color=(245, 245, 245))
    pdf.set_font(FONT, "", 8.5)
    with pdf.table(
        col_widths=(96, 30, 24, 30),
        text_align=("LEFT", "RIGHT", "LEFT", "RIGHT"),
        headings_style=heading,
        repeat_headings=1,
        line_height=4.4,
        borders_layout="HORIZONTAL_LINES",
        padding=(0.8, 1),
    ) as table:
        table.row(("Description", "Quantity", "Unit", f"Amount ({currency})"))
        for group, lines in grouped_lines(invoice.lines):
            table.row().cell(group, colspan=4, style=group_style, align="LEFT")
            for line in lines:
                table.row(
                    (
                        line.description,
                        quantity_text(line.quantity, grouped=True),
                        line.unit,
                        money(line.amount),
                    )
                )
            subtotal = sum((line.amount for line in lines), Decimal(0))
            row = table.row(style=FontFace(emphasis="BOLD"))
            row.cell(f"Subtotal {group}", colspan=3, align="RIGHT")
            row.cell(money(subtotal))
    pdf.ln(4)

    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, "Tax summary", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 8.5)
    with pdf.table(
        col_widths=(60, 60, 60),
        text_align=("LEFT", "RIGHT", "RIGHT"),
        headings_style=heading,
        line_height=4.4,
        borders_layout="HORIZONTAL_LINES",
        padding=(0.8, 1),
    ) as table:
        table.row(("Tax rate", f"Taxable amount ({currency})", f"Tax ({currency})"))
        for rate, base, tax in tax_summary(invoice):
            table.row((rate, money(base), money(tax)))
    pdf.ln(4)

    if note is not None:
        totals = [
            ("Subtotal", money(invoice.subtotal)),
            ("Tax", money(invoice.tax)),
            (f"Total credited ({currency})", money(invoice.total)),
        ]
    else:
        paid = facts.amount_paid
        totals = [
            ("Subtotal", money(invoice.subtotal)),
            ("Tax", money(invoice.tax)),
            (f"Total ({currency})", money(invoice.total)),
            ("Amount paid", money(paid)),
        ]
        if facts.amount_credited:
            totals.append(("Settled by credit notes", money(facts.amount_credited)))
        # A Cancelled invoice asks for nothing any more; a Credited one is
        # settled by its credit note (what was still owed), so this is 0.00.
        due = (
            Decimal(0)
            if invoice.status == InvoiceStatus.CANCELLED.value
            else invoice.total - paid - facts.amount_credited
        )
        totals.append((f"Amount due ({currency})", money(due)))
    _totals(pdf, totals)
    if note is not None:
        _credit_use(pdf, note)
    return bytes(pdf.output())


def _invoice_rows(invoice: Invoice, facts: Facts, issued: date | None) -> list[tuple[str, str]]:
    terms = facts.payment_terms_days
    rows = [
        ("Invoice number", invoice.number or "not issued yet"),
        ("Issue date", _date(issued, "not issued yet")),
        ("Due date", _date(due_date(invoice, terms), "set at issue")),
        ("Billing period", invoice.period),
        ("Currency", invoice.currency),
        ("Payment terms", f"{terms} days net" if terms is not None else "-"),
    ]
    if facts.replaces_number:
        rows.append(("Replaces invoice", facts.replaces_number))
    return rows


def _invoice_status(invoice: Invoice, facts: Facts) -> list[tuple[str, str]]:
    """What became of an invoice after it was sent, when something did."""
    if invoice.status == InvoiceStatus.CANCELLED.value:
        return [("Status", "CANCELLED - replaced by a refreshed invoice")]
    if invoice.status == InvoiceStatus.CREDITED.value:
        by = facts.credited_by.text() if facts.credited_by else "a credit note"
        return [("Status", f"CREDITED in full by credit note {by}")]
    return []


def _credit_note_rows(invoice: Invoice, issued: date | None) -> list[tuple[str, str]]:
    """No due date and no payment terms: nothing falls due on a credit note
    (see `_credit_use`). What it credits and why follow, full width."""
    return [
        ("Credit note no.", invoice.number or "not issued yet"),
        ("Issue date", _date(issued, "not issued yet")),
        ("Billing period", invoice.period),
        ("Currency", invoice.currency),
        ("Payment", "none due (see below)"),
    ]


def _wide_rows(pdf: Document, rows: Sequence[tuple[str, str]]) -> None:
    """Label/value pairs over the page's width (a reason may be a sentence or
    two; a reference must not wrap), below `_facts_table`."""
    if not rows:
        return
    pdf.set_y(pdf.get_y() - 2)
    for label, value in rows:
        pdf.set_font(FONT, "B", 9)
        pdf.cell(34, 5, label)
        pdf.set_font(FONT, "", 9)
        pdf.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _totals(pdf: Document, totals: Sequence[tuple[str, str]]) -> None:
    label_w, value_w = 60.0, 40.0
    if pdf.will_page_break(6 * len(totals)):
        pdf.add_page()
    for label, value in totals:
        bold = label.startswith(("Total", "Amount due"))
        pdf.set_font(FONT, "B" if bold else "", 10)
        pdf.set_x(pdf.l_margin + pdf.epw - label_w - value_w)
        pdf.cell(label_w, 6, label, border="T" if bold else 0)
        pdf.cell(value_w, 6, value, border="T" if bold else 0, align="R")
        pdf.ln()


def _credit_use(pdf: Document, note: CreditNoteFacts) -> None:
    """How the credit was used: the terms fixed at issue (as the e-invoice
    states them), then each invoice it was set against and what is open."""
    currency = note.currency
    pdf.ln(4)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, "How this credit is applied", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(0, 5, note.terms(), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    rows = [
        (
            f"Set against invoice {app.invoice.number if app.invoice else '-'} on "
            f"{app.on.isoformat()}",
            money_text(app.amount, currency),
        )
        for app in note.applications
    ]
    still_open = money_text(note.open_amount, currency)
    rows.append((f"Open, for your next invoices ({currency})", still_open))
    label_w, value_w = 110.0, 40.0
    if pdf.will_page_break(6 * len(rows)):
        pdf.add_page()
    for index, (label, value) in enumerate(rows):
        last = index == len(rows) - 1
        pdf.set_font(FONT, "B" if last else "", 10)
        pdf.set_x(pdf.l_margin + pdf.epw - label_w - value_w)
        pdf.cell(label_w, 6, label, border="T" if last else 0)
        pdf.cell(value_w, 6, value, border="T" if last else 0, align="R")
        pdf.ln()
