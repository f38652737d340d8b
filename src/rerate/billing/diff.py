"""The diff of a recalculation: per account and SKU or destination, old and new
quantity and amount, plus totals. Computed from two runs' daily rows.

When the previous run's files are missing or damaged the old values are
unknown: they are left empty (not zero) and the TOTAL row says why."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from rerate.billing.aggregates import item_aggregates
from rerate.billing.run_files import RunUnreadable
from rerate.billing.runs import read_daily
from rerate.kit import csvout
from rerate.kit.errors import NotFound
from rerate.models import BillingRun, Job

Key = tuple[int, str]  # (account_id, SKU or destination group)


def _groups(run: BillingRun | None) -> dict[Key, tuple[Decimal, Decimal]]:
    if run is None:
        return {}
    return item_aggregates(read_daily(run))


def diff_rows(old: BillingRun | None, new: BillingRun) -> list[dict[str, object]]:
    return diff_runs(old, new)[0]


def diff_runs(
    old: BillingRun | None, new: BillingRun
) -> tuple[list[dict[str, object]], str | None]:
    """The rows, and why the old values are unknown (None: they are known)."""
    unreadable = None
    try:
        before = _groups(old)
    except RunUnreadable as exc:
        before, unreadable = {}, str(exc.extra.get("problem", exc.detail))
    after = _groups(new)
    rows: list[dict[str, object]] = []
    zero = (Decimal(0), Decimal(0))
    for key in sorted(before.keys() | after.keys()):
        (oq, oa), (nq, na) = before.get(key, zero), after.get(key, zero)
        rows.append(
            {
                "account_id": key[0],
                "item": key[1],
                "old_quantity": None if unreadable else oq,
                "new_quantity": nq,
                "old_amount": None if unreadable else oa,
                "new_amount": na,
                "delta_amount": None if unreadable else na - oa,
            }
        )
    return rows, unreadable


def diff_csv(rows: list[dict[str, object]], unreadable: str | None = None) -> str:
    out = io.StringIO()
    fields = [
        "account_id",
        "item",
        "old_quantity",
        "new_quantity",
        "old_amount",
        "new_amount",
        "delta_amount",
    ]
    writer = csvout.DictWriter(out, fields)
    writer.writeheader()
    totals: dict[str, Decimal | None] = {f: Decimal(0) for f in fields[2:]}
    for row in rows:
        writer.writerow(
            {k: format(v, "f") if isinstance(v, Decimal) else v for k, v in row.items()}
        )
        for f, total in totals.items():
            value = row[f]
            totals[f] = None if total is None or value is None else total + value  # type: ignore[operator]
    note = f"previous run unreadable: {unreadable}; old values unknown" if unreadable else ""
    writer.writerow(
        {
            "account_id": "TOTAL",
            "item": note,
            **{k: "" if v is None else format(v, "f") for k, v in totals.items()},
        }
    )
    return out.getvalue()


def save_diff(path: Path, rows: list[dict[str, object]], unreadable: str | None = None) -> Path:
    """Write the diff next to the other job outputs (once; a retry rewrites it whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(diff_csv(rows, unreadable))
    tmp.replace(path)
    return path


def diff_csv_for_job(session: Session, job: Job, data_dir: Path) -> str:
    """The diff a recalculation job stored with its result."""
    del session  # the job row carries everything needed
    result = json.loads(job.result) if job.result else {}
    # `diff_file` is relative to the data directory; results written before
    # that carried an absolute `diff_path`.
    name = result.get("diff_file") or result.get("diff_path")
    path = Path(data_dir) / str(name) if name else None
    if path is None or not path.is_file():
        raise NotFound("this job has no diff (only finished recalculations have one)")
    return path.read_text()
