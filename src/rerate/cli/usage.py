"""`rerate import FORMAT FILE...`: import usage files, all or nothing per file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TimeRemainingColumn

from rerate.cli import context
from rerate.kit.errors import Invalid, RerateError
from rerate.usage.errors import ImportRejected
from rerate.usage.importers import IMPORTERS, split_columns
from rerate.usage.importers.base import ImportOptions

console = Console(stderr=True)


def import_command(
    format_name: str = typer.Argument(
        ..., metavar="FORMAT", help=f"One of: {', '.join(sorted(IMPORTERS))}."
    ),
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Files to import."),
    as_user: str = typer.Option(
        ..., "--as", envvar="RERATE_AS", help="Email of the user the import is attributed to."
    ),
    skip_bad_rows: bool = typer.Option(
        False, help="Import the good rows; write the rejected ones to a rejects file."
    ),
    rejects: Path | None = typer.Option(
        None, help="Rejects CSV (default: <file>.rejects.csv next to the file)."
    ),
    create_accounts: bool = typer.Option(
        False,
        help="Create accounts the file names but rerate lacks (needs --owner: an account "
        "without an owner bills nobody).",
    ),
    owner_customer_id: int | None = typer.Option(
        None,
        "--owner",
        "--owner-customer-id",
        metavar="CUSTOMER_ID",
        help="Customer owning the created accounts, from the first imported instant.",
    ),
    source_tz: str = typer.Option("UTC", help="Zone of timestamps without an offset."),
    country_code: str | None = typer.Option(
        None, help="Country code of the source: replaces the trunk prefix of national numbers."
    ),
    numbering: str | None = typer.Option(
        None,
        help="Numbering preset of the source: NANP (or US, CA), GB (UK), DE, FR, RU, DEFAULT "
        "(docs/formats.md).",
    ),
    international_prefix: str | None = typer.Option(
        None, help="International access prefix(es), comma-separated (overrides the preset)."
    ),
    trunk_prefix: str | None = typer.Option(
        None, help="National trunk prefix, or 'none' (overrides the preset)."
    ),
    tag_key: str | None = typer.Option(None, help="Azure: resource-group tag mapped to accounts."),
    columns: str | None = typer.Option(
        None,
        help="Asterisk, FreeSWITCH: the file's fields in order, comma-separated "
        "(cdr_custom layouts, custom templates); '-' skips a field.",
    ),
    account_from: str | None = typer.Option(
        None,
        help="Asterisk, FreeSWITCH: the field holding the account (default accountcode), "
        "e.g. channel-peer, dstchannel-peer, src, caller_id_number.",
    ),
) -> None:
    """Import usage files; each file is imported whole or not at all."""
    from rerate.auth import service as auth
    from rerate.usage import service
    from rerate.usage.store import UsageStore

    try:  # invalid options (zone, numbering): one line via the CLI's net
        base_options = ImportOptions(
            skip_bad_rows=skip_bad_rows,
            source_tz=source_tz,
            country_code=country_code,
            numbering=numbering,
            international_prefix=international_prefix,
            trunk_prefix=trunk_prefix,
            tag_key=tag_key,
            columns=split_columns(columns),
            account_from=account_from,
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    settings = context.settings()
    store = UsageStore(settings.data_dir)
    failed = False
    for path in files:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"reading {path.name}", total=path.stat().st_size)

            def on_progress(done: int, total: int, _task: TaskID = task) -> None:
                bar.update(_task, completed=done, total=total)

            try:
                options = replace(base_options, progress=on_progress)
                with context.database().session() as session:
                    user = auth.get_user_by_email(session, as_user)
                    principal = auth.principal_for(session, user, via="cli")
                    context.act_as(session, principal)
                    report = service.import_file(
                        session,
                        store,
                        principal,
                        path,
                        format_name=format_name,
                        options=options,
                        create_accounts=create_accounts,
                        owner_id=owner_customer_id,
                        rejects_path=rejects or path.with_name(path.name + ".rejects.csv"),
                    )
            except ImportRejected as exc:
                console.print(f"[red]rejected, nothing imported:[/red] {exc}")
                failed = True
                continue
            except RerateError as exc:  # refused before reading: say why, no traceback
                console.print(f"error: {exc.detail}")
                raise typer.Exit(2) from None
            except ValueError as exc:  # a bad option (zone, columns, account_from)
                console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None
        console.print(
            f"{path.name}: read {report.rows_read}, new {report.new}, corrected "
            f"{report.corrected}, unchanged {report.unchanged}, rejected {report.rejected}"
            + (f" (see {report.rejects_file})" if report.rejects_file else "")
        )
        if report.notice:
            console.print(f"[yellow]{path.name}: {report.notice}[/yellow]")
    if failed:
        raise typer.Exit(1)
