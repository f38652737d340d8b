"""The diff of a recalculation: per account and SKU or destination, old and new
quantity and amount, plus totals. Computed from two runs' daily rows."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from rerate.billing.aggregates import item_aggregates
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
    before, after = _groups(old), _groups(new)
    rows: list[dict[str, object]] = []
    zero = (Decimal(0), Decimal(0))
    for key in sorted(before.keys() | after.keys()):
        (oq, oa), (nq, na) = before.get(key, zero), after.get(key, zero)
        rows.append(
            {
                "account_id": key[0],
                "item": key[1],
                "old_quantity": oq,
                "new_quantity": nq,
                "old_amount": oa,
                "new_amount": na,
                "delta_amount": na - oa,
            }
        )
    return rows


def diff_csv(rows: list[dict[str, object]]) -> str:
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
    totals = {f: Decimal(0) for f in fields[2:]}
    for row in rows:
        writer.writerow(row)
        for f in totals:
            totals[f] += row[f]  # type: ignore[operator]
    writer.writerow({"account_id": "TOTAL", "item": "", **totals})
    return out.getvalue()


def save_diff(path: Path, rows: list[dict[str, object]]) -> Path:
    """Write the diff next to the other job outputs (once; a retry rewrites it whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(diff_csv(rows))
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
