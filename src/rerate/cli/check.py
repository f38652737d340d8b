"""`rerate check [--repair] [--json] [--quick]`."""

from __future__ import annotations

import getpass
import json

import typer

from rerate.cli import context


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a container)
        return "unknown"


def check(
    repair: bool = typer.Option(
        False, "--repair", help="Repair what can be repaired, then check again."
    ),
    as_json: bool = typer.Option(False, "--json", help="The report as JSON on stdout."),
    quick: bool = typer.Option(
        False,
        "--quick",
        help="Check run files by size only, without re-hashing them (large data directories).",
    ),
) -> None:
    """Verify the invariants between the database and the data directory.

    Exits 1 when a check fails (after repairing, with --repair).
    """
    from rerate.operations.check import Context, render, run_checks
    from rerate.operations.check import repair as run_repair

    s = context.settings()
    ctx = Context(
        context.database(),
        s.data_dir,
        deep=not quick,
        actor_label=f"rerate check --repair (OS user {_os_user()})",
    )
    report = run_repair(ctx) if repair else run_checks(ctx)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        typer.echo(render(report))
    if not report.ok:
        raise typer.Exit(1)
