"""Invoice invariants: one live invoice per (customer, period, type), lines that
add up, issued invoices unchanged since issue, gapless numbers.

None of these can be repaired by rerate: each is evidence of a bug or of a
change made behind rerate's back (a restore that mixed two points in time,
a manual UPDATE with the triggers disabled), for a person to look at.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rerate.invoicing.digest import issued_digest
from rerate.models import AuditEntry, Invoice, InvoiceLine, InvoiceSeries
from rerate.models.enums import LIVE_INVOICE_STATUSES
from rerate.operations.check import Check, CheckResult, Context, Finding

_LIVE = [s.value for s in LIVE_INVOICE_STATUSES]


def one_live_invoice(ctx: Context) -> CheckResult:
    result = CheckResult("one_live_invoice", "one live invoice per customer, period and type")
    with ctx.db.session() as s:
        rows = s.execute(
            select(Invoice.customer_id, Invoice.period, Invoice.type, func.count())
            .where(Invoice.status.in_(_LIVE))
            .group_by(Invoice.customer_id, Invoice.period, Invoice.type)
            .having(func.count() > 1)
        ).all()
    for customer_id, period, type_, count in rows:
        result.problems.append(
            Finding(
                f"customer {customer_id} has {count} live {type_} invoices for {period}",
                manual="keep the right one; cancel or supersede the others",
            )
        )
    return result


def invoice_totals(ctx: Context) -> CheckResult:
    result = CheckResult(
        "invoice_totals", "every invoice's lines add up to its subtotal, tax and total"
    )
    # Summed in Python: SQLite stores money as text and would sum it as floats.
    lines: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    with ctx.db.session() as s:
        for invoice_id, kind, amount in s.execute(
            select(InvoiceLine.invoice_id, InvoiceLine.kind, InvoiceLine.amount)
        ):
            lines[invoice_id].append((kind, amount))
        invoices = s.execute(select(Invoice.id, Invoice.subtotal, Invoice.tax, Invoice.total))
        for invoice_id, subtotal, tax, total in invoices:
            mine = lines.get(invoice_id, [])
            summed = sum((a for _, a in mine), Decimal(0))
            taxed = sum((a for k, a in mine if k == "tax"), Decimal(0))
            if summed != total or taxed != tax or summed - taxed != subtotal:
                result.problems.append(
                    Finding(
                        f"invoice {invoice_id}: lines sum to {summed} (tax {taxed}), "
                        f"the invoice says total {total} (subtotal {subtotal}, tax {tax})",
                        manual="regenerate it if it was never issued; otherwise investigate",
                    )
                )
    return result


def _issue_records(s: Session) -> dict[str, dict[str, str]]:
    records: dict[str, dict[str, str]] = {}
    for object_id, changes in s.execute(
        select(AuditEntry.object_id, AuditEntry.changes)
        .where(AuditEntry.object_type == "invoices", AuditEntry.action == "issue")
        .order_by(AuditEntry.id)
    ):
        records[object_id] = json.loads(changes or "{}")
    return records


def issued_invoices_unchanged(ctx: Context) -> CheckResult:
    result = CheckResult(
        "issued_invoices_unchanged",
        "every issued invoice still says what it said when it was issued",
    )
    with ctx.db.session() as s:
        recorded = _issue_records(s)
        legacy = 0
        for invoice in s.scalars(select(Invoice).where(Invoice.number.is_not(None))):
            entry = recorded.get(str(invoice.id))
            if entry is None:
                result.problems.append(
                    Finding(
                        f"invoice {invoice.id} ({invoice.number}) has no issue record "
                        "in the audit log",
                        manual="compare it with the copy the customer received",
                    )
                )
            elif entry.get("number") != invoice.number:
                result.problems.append(
                    Finding(
                        f"invoice {invoice.id} was issued as {entry.get('number')} "
                        f"and is now numbered {invoice.number}",
                        manual="compare it with the copy the customer received",
                    )
                )
            elif "digest" not in entry:
                legacy += 1  # issued before digests were recorded: number checked only
            elif entry["digest"] != issued_digest(invoice):
                result.problems.append(
                    Finding(
                        f"invoice {invoice.id} ({invoice.number}) changed after it was "
                        "issued (amounts, currency or lines differ from the issue record)",
                        manual="an issued invoice is never edited: restore it from a backup "
                        "or the copy the customer received, and find who changed it",
                    )
                )
    if legacy:
        result.notes.append(
            Finding(f"{legacy} invoices issued before checksums were recorded: numbers checked")
        )
    return result


def gapless_numbers(ctx: Context) -> CheckResult:
    result = CheckResult(
        "gapless_numbers", "each series' issued numbers run 1, 2, 3, ... without gaps"
    )
    with ctx.db.session() as s:
        series = {x.series: x for x in s.scalars(select(InvoiceSeries))}
        taken: dict[str, list[str]] = defaultdict(list)
        for key, number in s.execute(
            select(Invoice.series, Invoice.number).where(Invoice.number.is_not(None))
        ):
            if number is not None:
                taken[key].append(number)
    for key, row in sorted(series.items()):
        pattern = re.compile(rf"^{re.escape(row.prefix)}(\d+)$")
        seen: list[int] = []
        for number in taken.get(key, []):
            m = pattern.match(number)
            if m is None:
                result.problems.append(
                    Finding(
                        f"series {key}: number {number} does not follow its prefix",
                        manual="investigate",
                    )
                )
            else:
                seen.append(int(m.group(1)))
        expected = set(range(1, row.next_number))
        missing = sorted(expected - set(seen))
        beyond = sorted(set(seen) - expected)
        if missing:
            result.problems.append(
                Finding(
                    f"series {key}: numbers {_ranges(missing)} were taken but no invoice has them",
                    manual="numbers are never reused; find the missing invoices (a restore "
                    "from an older backup?)",
                )
            )
        if beyond:
            result.problems.append(
                Finding(
                    f"series {key}: numbers {_ranges(beyond)} are at or beyond the series' "
                    f"next number {row.next_number}",
                    manual="set the series' next number past them",
                )
            )
    for key in sorted(set(taken) - set(series)):
        result.problems.append(
            Finding(
                f"invoices are numbered in series {key}, which does not exist",
                manual="recreate the series row with the next number after the highest",
            )
        )
    return result


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    out: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out[:20]) + (" ..." if len(out) > 20 else "")


CHECKS = [
    Check("one_live_invoice", one_live_invoice),
    Check("invoice_totals", invoice_totals),
    Check("issued_invoices_unchanged", issued_invoices_unchanged),
    Check("gapless_numbers", gapless_numbers),
]
