"""The diff of a recalculation: per account and SKU or destination, and per
period line (support fee, minimum commitment, credit, custom item, profile
fee), old and new quantity and amount, changed items first, plus totals that
add up to the job's delta. Computed from two runs' daily rows and period lines.

When the previous run's files are missing or damaged the old values are
unknown: they are left empty (not zero) and the TOTAL row says why."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from sqlalchemy.orm import Session

from rerate.billing.aggregates import item_aggregates
from rerate.billing.run_files import RunUnreadable
from rerate.billing.runs import read_daily, read_period_lines
from rerate.kit import csvout
from rerate.kit.errors import NotFound
from rerate.models import BillingRun, Job

Key = tuple[int | None, str]  # (account_id or None for a period line, item)

ROUNDING_ITEM = "Usage rounded to the minor unit"


def _period_groups(lines: pa.Table) -> dict[Key, tuple[Decimal, Decimal]]:
    """The run's period lines (support fee, minimum commitment, credits, custom
    items, profile fees) as diff items: one per (account, kind and
    description), quantity = how many such lines."""
    out: dict[Key, tuple[Decimal, Decimal]] = {}
    if not lines.num_rows:
        return out
    for kind, description, account_id, amount in zip(
        lines.column("kind").to_pylist(),
        lines.column("description").to_pylist(),
        lines.column("account_id").to_pylist(),
        lines.column("amount").to_pylist(),
        strict=True,
    ):
        key = (account_id, f"{str(kind).replace('_', ' ')}: {description}")
        q, a = out.get(key, (Decimal(0), Decimal(0)))
        out[key] = (q + 1, a + Decimal(amount))
    return out


def _groups(
    run: BillingRun | None, tables: tuple[pa.Table, pa.Table] | None = None
) -> dict[Key, tuple[Decimal, Decimal]]:
    """Usage items, period lines, and the rounding of usage to the minor unit
    (run totals round the usage sum once), so the rows add up to the run's
    `net_total`, hence the diff's delta to the job's."""
    if run is None:
        return {}
    daily, lines = tables if tables is not None else (read_daily(run), read_period_lines(run))
    groups: dict[Key, tuple[Decimal, Decimal]] = {
        (account, item): value for (account, item), value in item_aggregates(daily).items()
    }
    groups.update(_period_groups(lines))
    rest = run.net_total - sum((a for _q, a in groups.values()), Decimal(0))
    if rest:
        groups[(None, ROUNDING_ITEM)] = (Decimal(0), rest)
    return groups


def diff_rows(old: BillingRun | None, new: BillingRun) -> list[dict[str, object]]:
    return diff_runs(old, new)[0]


def diff_runs(
    old: BillingRun | None,
    new: BillingRun,
    *,
    new_tables: tuple[pa.Table, pa.Table] | None = None,
) -> tuple[list[dict[str, object]], str | None]:
    """The rows, changed items first, and why the old values are unknown (None:
    they are known). `new_tables`: the new run's daily rows and period lines
    as just written (not read back)."""
    unreadable = None
    try:
        before = _groups(old)
    except RunUnreadable as exc:
        before, unreadable = {}, str(exc.extra.get("problem", exc.detail))
    after = _groups(new, new_tables)
    rows: list[dict[str, object]] = []
    zero = (Decimal(0), Decimal(0))
    for key in before.keys() | after.keys():
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

    def order(row: dict[str, object]) -> tuple[bool, bool, int, str]:
        account = row["account_id"]
        return (
            row["delta_amount"] == 0,  # changed items first
            account is None,  # usage before period lines
            account if isinstance(account, int) else 0,
            str(row["item"]),
        )

    rows.sort(key=order)
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
        writer.writerow(row)  # csvout writes a Decimal as format(v, "f"): a number
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
