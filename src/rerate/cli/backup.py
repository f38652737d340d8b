"""`rerate backup`, `rerate restore`: the database and the data directory together."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from rerate.cli import context

console = Console(stderr=True)


def backup(
    out: Path | None = typer.Option(
        None,
        "--out",
        help="A .tar.gz archive, or else a directory, that must not exist yet "
        "(default <data dir>/backups/rerate-<UTC time>.tar.gz).",
    ),
) -> None:
    """Back up the database and the data directory together, consistently, while
    rerate runs (PostgreSQL needs pg_dump on PATH)."""
    from rerate.operations.backup import create_backup

    s = context.settings()
    result = create_backup(s.resolved_database_url, s.data_dir, out)
    m = result.manifest
    console.print(
        f"backup of {m['dialect']} at revision {m['alembic_revision']} with "
        f"{len(m['files'])} data files:"
    )
    typer.echo(str(result.path))


def restore(
    source: Path = typer.Argument(..., help="A backup archive or directory (`rerate backup`)."),
    yes: bool = typer.Option(
        False, "--yes", help="Replace a database that holds rows and a data directory with files."
    ),
) -> None:
    """Restore the database and the data directory from a backup. Stop `serve` and
    every worker first; refuses a backup from a newer schema revision."""
    from rerate.operations.backup import restore_backup

    s = context.settings()
    result = restore_backup(s.resolved_database_url, s.data_dir, source, overwrite=yes)
    console.print(
        f"restored revision {result.revision}: {result.files} data files"
        + (f", {result.removed} newer files removed" if result.removed else "")
    )
    for note in result.notes:
        console.print(note, soft_wrap=True)
    console.print("next: `rerate check` (and on PostgreSQL `rerate db grant-app-role`)")
