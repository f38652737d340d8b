"""`rerate rate ...`: rate usage files against plan files, offline.

A thin shell over `rerate.rating`: load the files (`rating.formats`), call
`rating.engine.rate`, write the rated rows (CSV or Parquet by the --out
suffix) and optionally a complete billing run (--run-dir), print the summary
as JSON. No database is touched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer

from rerate.kit import csvout
from rerate.kit.periods import Month
from rerate.rating.e164 import rules_from_options
from rerate.rating.engine import RatingResult, rate
from rerate.rating.formats import (
    FormatError,
    load_contract,
    load_ownership,
    load_prices,
    load_profiles,
    load_tariffs,
    load_timetable,
    load_usage,
)
from rerate.rating.output import summary_dict, write_run
from rerate.rating.plan import Contract, Ownership, PlanError, PriceBook, RatingPlan
from rerate.usage.schema import UsageKind

app = typer.Typer(
    help="Rate usage files offline: CDRs against tariffs, cloud usage against prices.",
    no_args_is_help=True,
)

UsageOpt = Annotated[Path, typer.Option("--usage", help="Canonical usage .parquet or a .csv.")]
PeriodOpt = Annotated[str, typer.Option("--period", help="Billing month, e.g. 2026-08.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Rated rows: .csv or .parquet.")]
ContractOpt = Annotated[
    Path | None, typer.Option("--contract", help="Contract JSON (default: no rules).")
]
ProfilesOpt = Annotated[Path | None, typer.Option("--profiles", help="Profiles JSON.")]
OwnershipOpt = Annotated[
    Path | None,
    typer.Option("--ownership", help="Ownership CSV (default: every account is the customer's)."),
]
CustomerOpt = Annotated[
    int, typer.Option("--customer", help="Customer id when no contract file is given.")
]
TzOpt = Annotated[str, typer.Option("--tz", help="Billing time zone when no contract is given.")]
CurrencyOpt = Annotated[
    str | None, typer.Option("--currency", help="Currency when the price file has no column.")
]
OverlapOpt = Annotated[
    bool, typer.Option("--overlap/--no-overlap", help="UseOverlapUsageSelection (whole months).")
]
RunDirOpt = Annotated[
    Path | None, typer.Option("--run-dir", help="Also write the full billing run here.")
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _plan(
    book: PriceBook,
    usage: pa.Table,
    contract_file: Path | None,
    profiles_file: Path | None,
    ownership_file: Path | None,
    customer: int,
    tz: str,
    overlap: bool,
    timetable_file: Path | None = None,
) -> RatingPlan:
    contract = (
        load_contract(contract_file)
        if contract_file is not None
        else Contract(id=0, customer_id=customer, currency=book.currency, billing_tz=tz)
    )
    if ownership_file is not None:
        ownership = load_ownership(ownership_file)
    else:
        # Offline convenience: every account in the file belongs to the customer.
        accounts = sorted(set(usage.column("account_id").to_pylist()))
        since = datetime(1970, 1, 1, tzinfo=UTC)
        ownership = tuple(Ownership(int(a), contract.customer_id, since) for a in accounts)
    return RatingPlan(
        contract=contract,
        price_book=book,
        timetable=load_timetable(timetable_file) if timetable_file is not None else None,
        profiles=load_profiles(profiles_file) if profiles_file is not None else (),
        ownership=ownership,
        overlap_selection=overlap,
    )


def _check_out(out: Path) -> None:
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise _fail(f"--out must end in .csv or .parquet, got {out.name}")


def _write(result: RatingResult, out: Path, run_dir: Path | None) -> None:
    table = result.rated
    if out.suffix.lower() == ".parquet":
        pq.write_table(table, out)
    elif out.suffix.lower() == ".csv":
        # CSV has no dictionary type: plain strings; decimals keep all 10 places.
        plain = pa.table(
            {
                name: col.cast(pa.string()) if pa.types.is_dictionary(col.type) else col
                for name, col in zip(table.column_names, table.columns, strict=True)
            }
        )
        pacsv.write_csv(csvout.escape_arrow(plain), out)  # SKUs come from usage files
    if run_dir is not None:
        try:
            write_run(result, run_dir)
        except OSError as exc:
            raise _fail(str(exc)) from None
    typer.echo(json.dumps(summary_dict(result.summary), indent=2))


@app.command("cdrs")
def cdrs(
    usage: UsageOpt,
    tariffs: Annotated[Path, typer.Option("--tariffs", help="Tariff deck CSV.")],
    timetable: Annotated[Path, typer.Option("--timetable", help="Timetable JSON.")],
    period: PeriodOpt,
    out: OutOpt,
    profiles: ProfilesOpt = None,
    contract: ContractOpt = None,
    ownership: OwnershipOpt = None,
    customer: CustomerOpt = 1,
    tz: TzOpt = "UTC",
    currency: CurrencyOpt = None,
    country_code: Annotated[
        str | None,
        typer.Option("--country-code", help="Country code for national numbers in CSV input."),
    ] = None,
    numbering: Annotated[
        str | None,
        typer.Option(
            "--numbering",
            help="Numbering preset for called_number in CSV input: NANP (US, CA), GB (UK), "
            "DE, FR, RU, DEFAULT.",
        ),
    ] = None,
    international_prefix: Annotated[
        str | None,
        typer.Option("--international-prefix", help="International access prefix(es), e.g. 011."),
    ] = None,
    trunk_prefix: Annotated[
        str | None,
        typer.Option("--trunk-prefix", help="National trunk prefix, e.g. 1 in NANP, or 'none'."),
    ] = None,
    overlap: OverlapOpt = False,
    run_dir: RunDirOpt = None,
) -> None:
    """Rate CDRs against a tariff deck, a timetable and consumption profiles."""
    _check_out(out)
    try:
        rules = rules_from_options(
            numbering,
            country_code=country_code,
            international_prefix=international_prefix,
            trunk_prefix=trunk_prefix,
        )
        table = load_usage(usage, UsageKind.CDR, rules)
        book = load_tariffs(tariffs, currency)
        plan = _plan(book, table, contract, profiles, ownership, customer, tz, overlap, timetable)
        result = rate(table, plan, Month.parse(period).in_zone(plan.contract.billing_tz))
    except (FormatError, PlanError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    _write(result, out, run_dir)


@app.command("usage")
def usage_cmd(
    usage: UsageOpt,
    prices: Annotated[Path, typer.Option("--prices", help="Price book CSV.")],
    period: PeriodOpt,
    out: OutOpt,
    contract: ContractOpt = None,
    profiles: ProfilesOpt = None,
    ownership: OwnershipOpt = None,
    customer: CustomerOpt = 1,
    tz: TzOpt = "UTC",
    currency: CurrencyOpt = None,
    overlap: OverlapOpt = False,
    run_dir: RunDirOpt = None,
) -> None:
    """Rate cloud usage against a price book and a contract."""
    _check_out(out)
    try:
        table = load_usage(usage, UsageKind.CLOUD)
        book = load_prices(prices, currency)
        plan = _plan(book, table, contract, profiles, ownership, customer, tz, overlap)
        result = rate(table, plan, Month.parse(period).in_zone(plan.contract.billing_tz))
    except (FormatError, PlanError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    _write(result, out, run_dir)
