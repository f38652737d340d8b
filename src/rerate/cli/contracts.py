"""`rerate contracts ...`: contracts, their rule versions and activation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rerate.cli.catalog_common import (
    AS_USER,
    REASON,
    acting,
    console,
    echo_json,
    parse_date,
    table,
)

if TYPE_CHECKING:
    from rerate.contracts.service import RuleIn

app = typer.Typer(help="Contracts and their rules.", no_args_is_help=True)


def _rules(path: Path | None) -> tuple[RuleIn, ...]:
    """The rules of a JSON or CSV file, read whole before anything is stored."""
    from rerate.contracts import rules_file
    from rerate.kit.errors import Invalid

    if path is None:
        return ()
    try:
        return rules_file.parse(path.read_text(encoding="utf-8"), filename=path.name)
    except OSError as exc:
        raise typer.BadParameter(f"{path}: {exc.strerror}", param_hint="--file") from None
    except Invalid as exc:
        console.print(f"error: {exc.detail}", markup=False, highlight=False)
        raise typer.Exit(2) from None


@app.command("create")
def create(
    customer: int = typer.Option(..., "--customer", help="Customer id."),
    seller: int = typer.Option(..., "--seller", help="The reseller, distributor or platform id."),
    currency: str = typer.Option(..., "--currency"),
    coverage_start: str = typer.Option(..., "--coverage-start", help="1st of a month."),
    coverage_end: str = typer.Option(None, "--coverage-end", help="1st of a month, exclusive."),
    name: str = typer.Option("", "--name"),
    billing_tz: str = typer.Option("UTC", "--billing-tz"),
    rounding_mode: str = typer.Option("ROUND_HALF_UP", "--rounding-mode"),
    payment_terms_days: int = typer.Option(30, "--payment-terms-days"),
    correction_policy: str = typer.Option(
        None,
        "--correction-policy",
        help="How an issued invoice is corrected: replace or credit_note.",
    ),
    invoice_type: str = typer.Option(
        None, "--invoice-type", help="The customer's invoices: monthly or quarterly."
    ),
    cloud_book: int = typer.Option(None, "--cloud-price-book"),
    voip_book: int = typer.Option(None, "--voip-price-book"),
    timetable: int = typer.Option(None, "--timetable"),
    passthrough_unpriced: bool = typer.Option(False, "--passthrough-unpriced"),
    rules: Path = typer.Option(None, "--rules", help="Rules file, JSON or CSV."),
    activate: bool = typer.Option(False, "--activate"),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """Create a contract (inactive unless --activate)."""
    from rerate.contracts import service

    data = service.ContractIn(
        customer_id=customer,
        seller_id=seller,
        currency=currency,
        coverage_start=parse_date(coverage_start, "--coverage-start"),
        coverage_end=parse_date(coverage_end, "--coverage-end") if coverage_end else None,
        name=name,
        billing_tz=billing_tz,
        rounding_mode=rounding_mode,
        payment_terms_days=payment_terms_days,
        correction_policy=correction_policy or "replace",
        invoice_type=invoice_type or "monthly",
        cloud_price_book_id=cloud_book,
        voip_price_book_id=voip_book,
        timetable_id=timetable,
        passthrough_unpriced=passthrough_unpriced,
    )
    with acting(as_user, reason) as (session, principal):
        contract = service.create_contract(
            session, principal, data, rules=_rules(rules), activate=activate, reason=reason
        )
        state = "active" if contract.active else "inactive"
        typer.echo(f"created contract {contract.id} ({contract.name}), {state}")


@app.command("list")
def list_(
    customer: int = typer.Option(None, "--customer"),
    q: str = typer.Option("", "--q"),
    limit: int = typer.Option(50, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_user: str = AS_USER,
) -> None:
    from rerate.contracts import service

    with acting(as_user) as (session, principal):
        rows, total = service.list_contracts(
            session, principal, customer_id=customer, q=q, limit=limit, offset=offset
        )
        table(
            [[c.id, c.customer_id, c.name, c.currency, c.active, c.rules_version] for c in rows],
            ["id", "customer", "name", "currency", "active", "rules_version"],
        )
        typer.echo(f"{total} in all")


@app.command("show")
def show(contract_id: int, as_user: str = AS_USER) -> None:
    from rerate.contracts import service

    with acting(as_user) as (session, principal):
        echo_json(service.view(service.get_contract(session, principal, contract_id)))


@app.command("rules")
def rules(contract_id: int, as_user: str = AS_USER) -> None:
    """Every rules version, newest first, with who wrote it and why (JSON)."""
    from rerate.contracts import service

    with acting(as_user) as (session, principal):
        contract = service.get_contract(session, principal, contract_id)
        echo_json(service.rule_versions(session, contract))


@app.command("set-rules")
def set_rules(
    contract_id: int,
    file: Path = typer.Option(..., "--file", help="Rules file, JSON or CSV."),
    as_user: str = AS_USER,
    reason: str = typer.Option(..., "--reason", help="Why the rules change (audit log)."),
) -> None:
    """Write the file's rules as the contract's next rules version."""
    from rerate.contracts import service

    parsed = _rules(file)
    with acting(as_user, reason) as (session, principal):
        contract = service.set_rules(session, principal, contract_id, parsed, reason=reason)
        typer.echo(f"contract {contract_id}: rules version {contract.rules_version}")


@app.command("edit")
def edit(
    contract_id: int,
    name: str = typer.Option(None, "--name"),
    coverage_end: str = typer.Option(None, "--coverage-end", help="1st of a month, exclusive."),
    payment_terms_days: int = typer.Option(None, "--payment-terms-days", min=0, max=365),
    correction_policy: str = typer.Option(
        None,
        "--correction-policy",
        help="How an issued invoice is corrected: replace or credit_note.",
    ),
    invoice_type: str = typer.Option(
        None, "--invoice-type", help="The customer's invoices: monthly or quarterly."
    ),
    cloud_book: int = typer.Option(None, "--cloud-price-book"),
    voip_book: int = typer.Option(None, "--voip-price-book"),
    timetable: int = typer.Option(None, "--timetable"),
    clear: list[str] = typer.Option(
        [],
        "--clear",
        help="Remove a term: coverage_end, cloud_price_book_id, voip_price_book_id, timetable_id.",
    ),
    as_user: str = AS_USER,
    reason: str = typer.Option(..., "--reason", help="Why the terms change (audit log)."),
) -> None:
    """Change a contract's terms after creation; only the options given change."""
    from rerate.contracts import service

    changes: dict[str, object] = dict.fromkeys(clear)
    given = {
        "name": name,
        "coverage_end": parse_date(coverage_end, "--coverage-end") if coverage_end else None,
        "payment_terms_days": payment_terms_days,
        "correction_policy": correction_policy,
        "invoice_type": invoice_type,
        "cloud_price_book_id": cloud_book,
        "voip_price_book_id": voip_book,
        "timetable_id": timetable,
    }
    changes.update({k: v for k, v in given.items() if v is not None})
    if not changes:
        raise typer.BadParameter("give at least one term to change", param_hint="--name")
    with acting(as_user, reason) as (session, principal):
        changed = service.edit_terms(session, principal, contract_id, changes, reason=reason)
        what = ", ".join(changed) if changed else "nothing (the terms were already so)"
        typer.echo(f"contract {contract_id}: changed {what}")


@app.command("activate")
def activate(contract_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
    from rerate.contracts import service

    with acting(as_user, reason) as (session, principal):
        service.activate(session, principal, contract_id)
        typer.echo(f"contract {contract_id} is active")


@app.command("deactivate")
def deactivate(contract_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
    from rerate.contracts import service

    with acting(as_user, reason) as (session, principal):
        service.deactivate(session, principal, contract_id)
        typer.echo(f"contract {contract_id} is inactive")
