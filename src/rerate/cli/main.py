"""`rerate`: the command line. Thin shells over the same services as the API."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from rerate.cli import context
from rerate.cli.errors import OneLineErrors
from rerate.kit.runtime import tune_for_batch_work

app = typer.Typer(
    cls=OneLineErrors,
    help="rerate: billing engine whose heart is recalculation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
apikeys_app = typer.Typer(help="API keys for machines.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(apikeys_app, name="apikeys")

console = Console(stderr=True)


# Long-running servers act for the requests and jobs they serve, which carry
# their own actors; every other command acts for the shell user who ran it.
_SERVERS = frozenset({"serve", "worker"})


@app.callback()
def _startup(ctx: typer.Context) -> None:
    """rerate: billing engine whose heart is recalculation."""
    # Every command may rate large runs (worker, serve's in-process worker,
    # rate, demo): allocator settings for that (kit/runtime.py).
    tune_for_batch_work()
    if ctx.invoked_subcommand not in _SERVERS:
        from rerate.kit.audit import audit_context

        # Until the command ends, changes made without an explicit actor are
        # audited as "cli:<os user>" (the context closes after the subcommand).
        ctx.with_resource(audit_context(context.cli_actor()))


from rerate.cli.accounts import accounts_app  # noqa: E402
from rerate.cli.audit import audit_app  # noqa: E402
from rerate.cli.backfill import backfill  # noqa: E402
from rerate.cli.backup import backup, restore  # noqa: E402
from rerate.cli.billing import billing_app  # noqa: E402
from rerate.cli.billing_export import billing_export  # noqa: E402
from rerate.cli.billing_status import status as billing_status  # noqa: E402
from rerate.cli.bulk import recalc  # noqa: E402
from rerate.cli.check import check  # noqa: E402
from rerate.cli.commissions import commissions_app  # noqa: E402
from rerate.cli.contracts import app as contracts_app  # noqa: E402
from rerate.cli.custom_items import app as custom_items_app  # noqa: E402
from rerate.cli.demo import demo  # noqa: E402
from rerate.cli.init import init  # noqa: E402
from rerate.cli.invoices import invoices_app  # noqa: E402
from rerate.cli.jobs import cache_sync, jobs_app, refresh  # noqa: E402
from rerate.cli.people import (  # noqa: E402
    apikeys_list,
    apikeys_revoke,
    users_activate,
    users_deactivate,
    users_grant,
    users_invite,
    users_list,
    users_revoke,
)
from rerate.cli.pricebooks import pricebooks_app  # noqa: E402
from rerate.cli.profiles import app as profiles_app  # noqa: E402
from rerate.cli.rate import app as rate_app  # noqa: E402
from rerate.cli.regions import regions_app  # noqa: E402
from rerate.cli.settings import settings_app  # noqa: E402
from rerate.cli.stale import stale_app  # noqa: E402
from rerate.cli.tenancy import customers_app, nodes_app  # noqa: E402
from rerate.cli.timetables import app as timetables_app  # noqa: E402
from rerate.cli.usage import import_command  # noqa: E402 - after the apps it joins

app.command("import")(import_command)
app.command("init")(init)
app.command("demo")(demo)
app.command("recalc")(recalc)
app.command("refresh")(refresh)
app.command("cache-sync")(cache_sync)
app.command("check")(check)
app.command("backup")(backup)
app.command("backfill")(backfill)
app.command("restore")(restore)
billing_app.command("status")(billing_status)
app.add_typer(jobs_app, name="jobs")
app.add_typer(invoices_app, name="invoices")
app.add_typer(rate_app, name="rate")
app.add_typer(nodes_app, name="nodes")
app.add_typer(customers_app, name="customers")
users_app.command("invite")(users_invite)
users_app.command("list")(users_list)
users_app.command("grant")(users_grant)
users_app.command("revoke")(users_revoke)
users_app.command("deactivate")(users_deactivate)
users_app.command("activate")(users_activate)
apikeys_app.command("list")(apikeys_list)
apikeys_app.command("revoke")(apikeys_revoke)
app.add_typer(accounts_app, name="accounts")
app.add_typer(settings_app, name="settings")
app.add_typer(audit_app, name="audit")
app.add_typer(pricebooks_app, name="pricebooks")
app.add_typer(stale_app, name="stale")
app.add_typer(contracts_app, name="contracts")
app.add_typer(timetables_app, name="timetables")
app.add_typer(profiles_app, name="profiles")
app.add_typer(custom_items_app, name="custom-items")
app.add_typer(billing_app, name="billing")
app.add_typer(commissions_app, name="commissions")
app.add_typer(regions_app, name="regions")
billing_app.command("export")(billing_export)  # cli/billing_export.py: the grid's CSV


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    backup: bool = typer.Option(
        True,
        "--backup/--no-backup",
        help="Back up the database and the data directory first when a migration is pending.",
    ),
    backup_out: Path | None = typer.Option(
        None, "--backup-out", help="Where the backup goes (default <data dir>/backups/)."
    ),
) -> None:
    """Apply migrations to the configured database (RERATE_DATABASE_URL), after a
    backup (`rerate backup`) when one is pending, unless --no-backup."""
    from rerate.kit import migrate
    from rerate.operations.backup import create_backup, pending_migration

    s = context.settings()
    url = s.resolved_database_url
    if backup and pending_migration(url, revision):
        written = create_backup(url, s.data_dir, backup_out)
        # One line, never wrapped: scripts and people copy the path from it.
        typer.echo(f"backup before the upgrade: {written.path}", err=True)
    migrate.upgrade(url, revision)
    console.print(f"database at {revision}: {url.split('@')[-1]}")


@db_app.command("grant-app-role")
def db_grant_app_role(
    role: str = typer.Option("rerate_app", help="The role the application connects as."),
    password: str | None = typer.Option(
        None,
        envvar="RERATE_APP_ROLE_PASSWORD",
        help="Set (or reset) the role's password; default: leave it as it is.",
    ),
) -> None:
    """PostgreSQL: let ROLE use the tables without owning them (run as the owner; idempotent).

    Creates ROLE (LOGIN) if it does not exist; grants read and write on every
    table, but only SELECT and INSERT on audit_log: the application then
    cannot truncate or alter the audit log or disable its triggers. Run it
    with RERATE_DATABASE_URL naming the owner, after every `db upgrade`.
    """
    from rerate.kit.db import make_engine
    from rerate.kit.db_roles import grant_app_role
    from rerate.kit.errors import Invalid

    engine = make_engine(context.settings().resolved_database_url)
    try:
        with engine.begin() as conn:
            done = grant_app_role(conn, role, password=password)
    except Invalid as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for statement in done:
        console.print(statement)
    console.print(f"{role}: privileges set ({len(done)} statements)")


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default RERATE_HOST)."),
    port: int = typer.Option(None, help="Port (default RERATE_PORT or 8000)."),
    worker: bool = typer.Option(True, help="Also run one job worker in-process."),
    workers: int = typer.Option(
        1,
        min=1,
        help="Server processes. One Python process uses one core for requests; production "
        "runs one per core, with --no-worker and separate `rerate worker` processes.",
    ),
) -> None:
    """Serve the API and the web console (and an in-process worker) until Ctrl-C."""
    import os

    import uvicorn

    s = context.settings()
    bind_host, bind_port = host or s.host, port or s.port
    if workers == 1:
        from rerate.app import create_app

        application = create_app(
            s, context.database(), in_process_worker=worker and s.in_process_worker
        )
        uvicorn.run(application, host=bind_host, port=bind_port, log_level="info")
        return
    # Several processes: each builds its app from the environment (settings
    # are read there again), so the CLI's choice travels as a variable.
    os.environ["RERATE_IN_PROCESS_WORKER"] = "true" if worker and s.in_process_worker else "false"
    uvicorn.run(
        "rerate.app:app_from_environment",
        factory=True,
        workers=workers,
        host=bind_host,
        port=bind_port,
        log_level="info",
        # uvicorn kills a process that does not answer its health check in
        # time (5 s by default). Under a burst, a process busy serving is
        # slow, not hung: killing it dropped every connection it held.
        timeout_worker_healthcheck=60,
    )


@app.command()
def worker(
    worker_id: str = typer.Option(None, help="Name shown in the job log (default host:pid)."),
) -> None:
    """Run one job worker until SIGTERM/SIGINT (the first signal finishes the current job)."""
    import logging
    import os

    from rerate.billing.tasks import batch_handlers, expand_schedule, handlers
    from rerate.jobs.worker import run_worker_process

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    s = context.settings()
    if s.worker_nice and hasattr(os, "nice"):
        # Rating is batch work: under load the API's requests go first (RERATE_WORKER_NICE).
        os.nice(s.worker_nice)
    run_worker_process(
        s.resolved_database_url,
        lambda _db: handlers(s.data_dir),
        worker_id=worker_id,
        lease_s=s.worker_lease_s,
        poll_s=s.worker_poll_s,
        expand=expand_schedule,
        db_options=s.database_options(),
        batch_handlers=batch_handlers(s.data_dir),
        batch_size=s.worker_batch_size,
    )


@users_app.command("create")
def users_create(
    email: str,
    role: str = typer.Option(
        ...,
        help="platform_admin, platform_service, distributor, partner_admin, partner_user, "
        "billing_utilities_admin or customer_user.",
    ),
    node_id: int = typer.Option(..., help="The tenancy node the role is held on."),
    name: str = typer.Option("", help="Display name."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="At least RERATE_PASSWORD_MIN_LENGTH (10) characters; not a common password.",
    ),
) -> None:
    """Create a user holding ROLE on NODE_ID."""
    from rerate.auth import service
    from rerate.kit.errors import Invalid
    from rerate.models import Node
    from rerate.models.enums import Role

    with context.database().session() as session:
        node = session.get(Node, node_id)
        if node is None:
            raise typer.BadParameter(f"no node {node_id}", param_hint="--node-id")
        try:
            user = service.create_user(
                session,
                email,
                name=name or email,
                password=password,
                min_password_length=context.settings().password_min_length,
            )
        except Invalid as exc:  # a refused password or email: say why, no traceback
            console.print(f"error: {exc.detail}")
            raise typer.Exit(1) from None
        service.assign_role(session, user, role=Role(role), node=node)
        console.print(f"created user {user.email} (id {user.id}) as {role} on {node.name}")


@apikeys_app.command("create")
def apikeys_create(
    user: str = typer.Option(..., "--user", help="Email of the user the key acts as."),
    name: str = typer.Option("", help="A label for the key."),
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from rerate.auth import service

    with context.database().session() as session:
        owner = service.get_user_by_email(session, user)
        key, secret = service.create_api_key(session, owner, name=name)
    console.print(f"API key {key.prefix}... for {owner.email}; it is shown only now:")
    typer.echo(secret)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
