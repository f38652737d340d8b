"""Commission statements as CSV and PDF (docs/commissions.md, "Statements").

Both print the statement's already-rounded figures through `kit.present`
(never re-computed), so the CSV, the PDF, the API and the console agree to
the minor unit. The PDF reuses the invoice PDF's document class and its
embedded DejaVu fonts: "Müller & Søn" prints as written.
"""

from __future__ import annotations

import io
from decimal import Decimal

from fpdf import FontFace

from rerate.commissions.service import ROUNDING, Statement
from rerate.invoicing.pdf import FONT, Document, Paper
from rerate.kit import csvout
from rerate.kit.present import money_plain, money_text


def rate_text(rate: Decimal | None) -> str:
    """0.05 -> "5 %", 0.0125 -> "1.25 %"; no rule -> "-"."""
    if rate is None:
        return "-"
    percent = (rate * 100).normalize()
    return f"{format(percent, 'f')} %"


def rate_plain(rate: Decimal | None) -> str:
    return "" if rate is None else format(rate.normalize(), "f")


CSV_HEADER = (
    "node",
    "period",
    "customer_id",
    "customer",
    "service",
    "currency",
    "basis_net",
    "rule",
    "rate",
    "commission",
)


def file_name(st: Statement, ext: str) -> str:
    return f"commission-{st.node.id}-{st.period}.{ext}"


def to_csv(st: Statement) -> str:
    """One row per (customer, service, currency, rule), then one `total` row per currency."""
    out = io.StringIO()
    writer = csvout.Writer(out)
    writer.writerow(CSV_HEADER)
    for ln in st.lines:
        writer.writerow(
            (
                st.node.name,
                st.period,
                ln.customer_id,
                ln.customer,
                ln.service,
                ln.currency,
                money_plain(ln.basis, ln.currency),
                ln.rule_id or "",
                rate_plain(ln.rate),
                money_plain(ln.commission, ln.currency),
            )
        )
    for t in st.totals():
        writer.writerow(
            (
                st.node.name,
                st.period,
                "",
                "total",
                "",
                t.currency,
                money_plain(t.basis, t.currency),
                "",
                "",
                money_plain(t.commission, t.currency),
            )
        )
    return out.getvalue()


def to_pdf(st: Statement, *, paper: Paper = Paper.A4) -> bytes:
    node = st.node
    title = f"Commission statement {st.period}"
    name = node.legal_name or node.name
    pdf = Document(paper, f"{title} - {name}")
    pdf.set_title(title)
    pdf.set_author("rerate")
    pdf.set_creator("rerate")
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(0, 6, name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    for text in (
        *(ln.strip() for ln in node.address.splitlines() if ln.strip()),
        *((f"Tax ID: {node.tax_id}",) if node.tax_id else ()),
        f"{node.kind.capitalize()} #{node.id}",
        f"Period: {st.start.isoformat()} to {st.end.isoformat()} (end excluded, UTC issue dates)",
        "Basis: invoiced net (invoice lines excluding tax) of issued invoices, less credit "
        "notes and cancelled invoices in the period.",
        f"Rounding: each line's commission to the minor unit ({ROUNDING.value}); "
        "totals add the rounded lines.",
        f"Documents counted: {st.documents}",
    ):
        pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    heading = FontFace(emphasis="BOLD", fill_color=(230, 230, 230))
    pdf.set_font(FONT, "", 8.5)
    with pdf.table(
        col_widths=(48, 36, 20, 28, 18, 30),
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=heading,
        repeat_headings=1,
        line_height=4.4,
        borders_layout="HORIZONTAL_LINES",
        padding=(0.8, 1),
    ) as table:
        table.row(("Customer", "Service", "Currency", "Invoiced net", "Rate", "Commission"))
        if not st.lines:
            table.row().cell("No invoiced net in this period.", colspan=6, align="LEFT")
        for ln in st.lines:
            table.row(
                (
                    ln.customer,
                    ln.service,
                    ln.currency,
                    money_text(ln.basis, ln.currency),
                    rate_text(ln.rate),
                    money_text(ln.commission, ln.currency),
                )
            )
    pdf.ln(4)
    for t in st.totals():
        for label, amount in (
            (f"Invoiced net ({t.currency})", t.basis),
            (f"Commission due ({t.currency})", t.commission),
        ):
            bold = label.startswith("Commission")
            pdf.set_font(FONT, "B" if bold else "", 10)
            pdf.set_x(pdf.l_margin + pdf.epw - 100)
            pdf.cell(60, 6, label, border="T" if bold else 0)
            pdf.cell(40, 6, money_text(amount, t.currency), border="T" if bold else 0, align="R")
            pdf.ln()
    return bytes(pdf.output())
