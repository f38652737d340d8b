"""`rerate check`: verify the invariants between the database and the data directory.

Each check is named, reads only, and reports *problems* (an invariant does
not hold: the check fails) and *notes* (harmless leftovers, such as files of
an import that never committed). Every finding says what `--repair` does
about it, or why rerate cannot repair it (an issued invoice that changed is
evidence, not something to overwrite). `repair` runs the repairs of every
check whose findings can be repaired, then the checks again.

Run it after a restore, an upgrade, a crash, or from monitoring
(docs/operations.md). The checks live in `invoice_checks`, `data_checks`
and `job_checks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rerate.kit.db import Database


@dataclass(frozen=True, slots=True)
class Finding:
    detail: str
    # What `--repair` does about it; None: rerate cannot repair it (see `manual`).
    repair: str | None = None
    manual: str | None = None  # what a person should do instead


@dataclass(slots=True)
class CheckResult:
    name: str
    description: str
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "ok": self.ok,
            "problems": [asdict(f) for f in self.problems],
            "notes": [asdict(f) for f in self.notes],
        }


@dataclass(frozen=True, slots=True)
class Context:
    db: Database
    data_dir: Path
    deep: bool = True  # re-hash every run file (slow on large data directories)
    actor_label: str = "rerate check --repair"


Run = Callable[[Context], CheckResult]
Repair = Callable[[Context, CheckResult], list[str]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    run: Run
    repair: Repair | None = None


@dataclass(slots=True)
class Report:
    checks: list[CheckResult]
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.as_dict() for c in self.checks],
            "repaired": self.repaired,
        }


def all_checks() -> list[Check]:
    from rerate.operations import data_checks, invoice_checks, job_checks

    # Jobs first: `repair` runs in this order, and a released job no longer
    # holds back the cleanup of the files it left.
    return [*job_checks.CHECKS, *invoice_checks.CHECKS, *data_checks.CHECKS]


def run_checks(ctx: Context, names: list[str] | None = None) -> Report:
    checks = [c for c in all_checks() if names is None or c.name in names]
    return Report([c.run(ctx) for c in checks])


def repair(ctx: Context) -> Report:
    """Repair what can be repaired, then check again; the report lists what was done.

    Jobs are released first, then runs, caches and files (`all_checks` order).
    """
    done: list[str] = []
    for check in all_checks():
        if check.repair is None:
            continue
        result = check.run(ctx)
        if any(f.repair for f in [*result.problems, *result.notes]):
            done += check.repair(ctx, result)
    report = run_checks(ctx)
    report.repaired = done
    return report


def render(report: Report) -> str:
    """The report as text for a terminal."""
    lines: list[str] = []
    for c in report.checks:
        mark = "ok  " if c.ok else "FAIL"
        lines.append(f"{mark} {c.name}: {c.description}")
        for f in c.problems:
            lines.append(f"       problem: {f.detail}")
            if f.repair:
                lines.append(f"         --repair: {f.repair}")
            elif f.manual:
                lines.append(f"         cannot be repaired by rerate: {f.manual}")
        for f in c.notes:
            lines.append(
                f"       note: {f.detail}" + (f" (--repair: {f.repair})" if f.repair else "")
            )
    for action in report.repaired:
        lines.append(f"repaired: {action}")
    failed = sum(1 for c in report.checks if not c.ok)
    lines.append(
        f"{len(report.checks)} checks, {failed} failed"
        if failed
        else f"all {len(report.checks)} checks passed"
    )
    return "\n".join(lines)
