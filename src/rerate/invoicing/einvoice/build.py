"""From a stored invoice (and its seller and buyer nodes) to an EN 16931 `Document`.

Pure: no database access, so it is tested on invoice-like objects built in
memory. `export.py` loads what it needs and calls `build_document`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from rerate.invoicing.einvoice.model import (
    ZERO,
    Document,
    EInvoiceRefused,
    Line,
    Party,
    Preceding,
    Totals,
    TypeCode,
    VatBreakdown,
    VatCategory,
    parse_address,
    unit_code,
    vat_identifier,
)
from rerate.kit.errors import Conflict
from rerate.kit.money import UnknownCurrency, minor_units

# Drafts and Ready versions were never sent; Superseded ones neither. Cancelled
# invoices were sent once, so their e-invoice stays available for the record;
# a Credited invoice stands as issued (its credit note is a document of its
# own that cites it), so it stays exportable too.
EXPORTABLE_STATUSES = frozenset({"issued", "paid", "cancelled", "credited"})
_PERIOD = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})")


class InvoiceLike(Protocol):
    """What the builder reads of an invoice (`rerate.models.Invoice` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def number(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def period(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def subtotal(self) -> Decimal: ...
    @property
    def tax_rate(self) -> Decimal: ...
    @property
    def tax(self) -> Decimal: ...
    @property
    def total(self) -> Decimal: ...
    @property
    def lines(self) -> Sequence[LineLike]: ...


class LineLike(Protocol):
    @property
    def position(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def unit(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...


class PartyNode(Protocol):
    """What is read of a tenancy node (`rerate.models.Node` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def legal_name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def tax_id(self) -> str: ...


def check_exportable(invoice: InvoiceLike) -> None:
    if invoice.status not in EXPORTABLE_STATUSES:
        raise Conflict(
            f"invoice {invoice.id} is {invoice.status}: only an Issued, Paid, Credited or "
            "Cancelled invoice (or an issued credit note) has an e-invoice (a draft or Ready "
            "version was never sent)"
        )


def party(node: PartyNode, *, role: str, vat_required: bool) -> Party:
    """BG-4 / BG-7 from a tenancy node; refuses what EN 16931 cannot go without."""
    label = f"{role} (node {node.id})"
    name = (node.legal_name or node.name).strip()
    if not name:
        raise EInvoiceRefused(f"{label} has no name (BT-27/BT-44)")
    vat_id = vat_identifier(node.tax_id or "")
    if vat_required and not vat_id:
        what = f"tax_id {node.tax_id!r} is not" if node.tax_id else "tax_id is empty, not"
        raise EInvoiceRefused(
            f"{label}: {what} a VAT identifier with its country prefix such as FR12345678901 "
            "(BT-31, required with VAT categories S and Z: BR-S-2, BR-Z-2, BR-CO-9)"
        )
    if not (node.address or "").strip():
        raise EInvoiceRefused(f"{label} has no address (BG-5/BG-8): set its address")
    address = parse_address(node.address, role=label, vat_id=vat_id)
    return Party(name=name, address=address, vat_id=vat_id, node_id=node.id)


def billing_period(period: str) -> tuple[date, date]:
    """BG-14 from a "YYYY-MM" period: its first and last day (EN 16931's end is inclusive).
    A quarterly or true-up invoice's "YYYY-Qn": the quarter's first and last day."""
    quarter = re.fullmatch(r"(\d{4})-Q([1-4])", period)
    if quarter is not None:
        year, first = int(quarter[1]), 3 * int(quarter[2]) - 2
        return date(year, first, 1), date(year, first + 2, calendar.monthrange(year, first + 2)[1])
    match = _PERIOD.fullmatch(period)
    if match is None or not 1 <= int(match["month"]) <= 12:
        raise EInvoiceRefused(f"period {period!r} is not YYYY-MM (BG-14)")
    year, month = int(match["year"]), int(match["month"])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _line(source: LineLike, *, sign: int, rate: Decimal, category: VatCategory) -> Line:
    net = source.amount * sign
    quantity = source.quantity * sign
    unit = unit_code(source.unit)
    if quantity == 0 and net != 0:
        # A fee with no counted quantity: one of it, at the amount.
        quantity, unit = Decimal(1), "C62"
    # BR-27: the price is never negative; the quantity carries the sign of the
    # amount instead (a credit of 300 is -1 x 300).
    if (net < 0 < quantity) or (quantity < 0 < net):
        quantity = -quantity
    price = (abs(net) / abs(quantity)) if quantity != 0 else ZERO
    # Ten places: quantity x price reproduces the net amount to far below a cent.
    price = price.quantize(Decimal("1e-10")).normalize()
    return Line(
        id=str(source.position),
        name=source.description.strip() or source.kind,
        quantity=quantity,
        unit_code=unit,
        price=price,
        net=net,
        vat_category=category,
        vat_rate=rate,
    )


def build_document(
    invoice: InvoiceLike,
    *,
    seller: PartyNode,
    buyer: PartyNode,
    issue_date: date,
    type_code: TypeCode = TypeCode.INVOICE,
    payment_terms_days: int | None = None,
    due_date: date | None = None,
    preceding: Sequence[Preceding] = (),
    terms_text: str | None = None,
    notes: Sequence[str] = (),
) -> Document:
    """The EN 16931 document of a sent invoice (Issued, Paid, Credited or
    Cancelled) or credit note.

    Amounts are the stored ones (already rounded at the invoice's boundary),
    checked to add up, never recomputed. A credit note (381) states positive
    amounts, as EN 16931 reads them: a credit note stored with negative
    amounts (a reversal) has its signs turned.

    `terms_text` replaces the payment terms (BT-20) built from
    `payment_terms_days`: a credit note's say what it settled, not a number of
    days. `notes` are invoice notes (BT-22), e.g. a credit note's reason.
    """
    check_exportable(invoice)
    if not invoice.number:
        raise EInvoiceRefused(f"invoice {invoice.id} has no number (BT-1)")
    try:
        decimals = minor_units(invoice.currency)
    except UnknownCurrency as exc:
        raise EInvoiceRefused(f"currency (BT-5): {exc}") from None
    if decimals > 2:
        raise EInvoiceRefused(
            f"currency (BT-5) {invoice.currency} has {decimals} decimals; EN 16931 amounts "
            "have at most 2 (BR-DEC-*)"
        )
    if invoice.tax_rate < 0:
        raise EInvoiceRefused(f"tax rate {invoice.tax_rate} is negative (BT-119)")
    rate = invoice.tax_rate * 100
    category = VatCategory.STANDARD if rate > 0 else VatCategory.ZERO_RATED
    sign = -1 if type_code == TypeCode.CREDIT_NOTE and invoice.total < 0 else 1
    quantum = Decimal(1).scaleb(-decimals)
    for source in invoice.lines:
        if source.amount != source.amount.quantize(quantum):
            raise Conflict(
                f"invoice {invoice.number} line {source.position}: amount {source.amount} is "
                f"not at the {invoice.currency} minor unit"
            )
    items = [s for s in invoice.lines if s.kind != "tax"]
    if not items:
        raise EInvoiceRefused(f"invoice {invoice.number} has no lines (BG-25 needs one)")
    lines = tuple(_line(s, sign=sign, rate=rate, category=category) for s in items)
    line_net = sum((ln.net for ln in lines), ZERO)
    tax_lines = sum((s.amount for s in invoice.lines if s.kind == "tax"), ZERO) * sign
    vat, without_vat, with_vat = invoice.tax * sign, invoice.subtotal * sign, invoice.total * sign
    # The stored figures must already satisfy BR-CO-10/13/15 and the tax line
    # must be the tax: an invoice that does not add up is never exported.
    if line_net != without_vat or tax_lines != vat or without_vat + vat != with_vat:
        raise Conflict(
            f"invoice {invoice.number} does not add up (lines {line_net}, subtotal "
            f"{without_vat}, tax {vat} vs tax line {tax_lines}, total {with_vat}); "
            "it cannot be exported"
        )
    start, end = billing_period(invoice.period)
    terms = ""
    if payment_terms_days is not None:
        terms = f"Payment within {payment_terms_days} days of the invoice date"
        if due_date is None and type_code == TypeCode.INVOICE:
            due_date = issue_date + timedelta(days=payment_terms_days)
    if terms_text is not None:
        terms = terms_text
    if due_date is None and not terms and with_vat > 0:
        raise EInvoiceRefused("neither a due date (BT-9) nor payment terms (BT-20): BR-CO-25")
    all_notes = tuple(n for n in notes if n.strip())
    if invoice.status == "cancelled":
        all_notes += ("This invoice was cancelled after issue; it is kept for the record.",)
    return Document(
        number=invoice.number,
        issue_date=issue_date,
        type_code=type_code,
        currency=invoice.currency,
        due_date=due_date if type_code == TypeCode.INVOICE else None,
        payment_terms=terms,
        buyer_reference=str(invoice.customer_id),
        period_start=start,
        period_end=end,
        seller=party(seller, role="seller", vat_required=True),
        buyer=party(buyer, role="buyer", vat_required=False),
        lines=lines,
        vat=(VatBreakdown(category=category, rate=rate, taxable=without_vat, tax=vat),),
        totals=Totals(
            line_net=line_net,
            without_vat=without_vat,
            vat=vat,
            with_vat=with_vat,
            payable=with_vat,
        ),
        preceding=tuple(preceding),
        notes=all_notes,
        decimals=decimals,
    )
