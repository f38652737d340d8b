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
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer

from rerate.kit import csvout
from rerate.kit.periods import Month
from rerate.rating.e164 import rules_from_options
from rerate.rating.engine import RatingResult, rate
from rerate.rating.fixed import RatingOverflow
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
from rerate.rating.plan import (
    Contract,
    Ownership,
    PlanError,
    PriceBook,
    RatingPlan,
    check_zone,
)
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
    profiles = load_profiles(profiles_file) if profiles_file is not None else ()
    if ownership_file is not None:
        ownership = load_ownership(ownership_file)
    else:
        # Offline convenience: every account of the usage file and of the
        # profiles belongs to the customer, so a profile account without usage
        # this month still pays its period fee (docs/rating.md, section 10).
        accounts = set(usage.column("account_id").to_pylist())
        accounts |= {a for p in profiles for a in p.account_ids}
        since = datetime(1970, 1, 1, tzinfo=UTC)
        ownership = tuple(Ownership(int(a), contract.customer_id, since) for a in sorted(accounts))
    return RatingPlan(
        contract=contract,
        price_book=book,
        timetable=load_timetable(timetable_file) if timetable_file is not None else None,
        profiles=profiles,
        ownership=ownership,
        overlap_selection=overlap,
    )


def _check_args(out: Path, tz: str) -> None:
    """Options checked before any file is read: their errors name the option."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise _fail(f"--out must end in .csv or .parquet, got {out.name}")
    try:
        check_zone(tz, "--tz")
    except PlanError as exc:
        raise _fail(f"{exc} (an IANA name such as Europe/Paris)") from None


def _overflow(usage: Path, exc: RatingOverflow) -> typer.Exit:
    # Parquet input (and amounts: quantity x price) reach the engine unchecked;
    # the engine refuses rather than round, and says so in one line.
    return _fail(
        f"{usage}: {exc}: a quantity or amount is beyond what one row can hold"
        " (docs/rating.md, section 8)"
    )


def _csv_text(col: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """A rated column as the CSV writes it (docs/rating.md, section 10): strings
    for dictionaries (CSV has no such type); decimals with all 10 places but
    zero as `0` and never an exponent (Arrow writes 0 as `0E-10` and |x| < 1e-6
    as `1E-10`); instants as the input files write them, ISO 8601 in UTC with a
    `T` and a `Z` and a fraction only when there is one."""
    if pa.types.is_dictionary(col.type):
        return col.cast(pa.string())
    if pa.types.is_timestamp(col.type):
        text = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.string())
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
        return pc.replace_substring_regex(text, r"\.0+Z$", "Z")
    if pa.types.is_decimal(col.type):
        text = col.cast(pa.string())
        odd = pc.fill_null(pc.match_substring(text, "E"), False)
        if not pc.any(odd).as_py():
            return text
        # Few rows: zeros and tiny amounts. Formatted one by one, in place.
        values = col.to_pylist()
        fixed = [None if v is None else ("0" if v.is_zero() else format(v, "f")) for v in values]
        return pc.if_else(odd, pa.array(fixed, pa.string()), text)
    return col


def _write(result: RatingResult, out: Path, run_dir: Path | None) -> None:
    table = result.rated
    if out.suffix.lower() == ".parquet":
        pq.write_table(table, out)
    elif out.suffix.lower() == ".csv":
        plain = pa.table(
            {
                name: _csv_text(col)
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
    _check_args(out, tz)
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
    except RatingOverflow as exc:
        raise _overflow(usage, exc) from None
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
    _check_args(out, tz)
    try:
        table = load_usage(usage, UsageKind.CLOUD)
        book = load_prices(prices, currency)
        plan = _plan(book, table, contract, profiles, ownership, customer, tz, overlap)
        result = rate(table, plan, Month.parse(period).in_zone(plan.contract.billing_tz))
    except RatingOverflow as exc:
        raise _overflow(usage, exc) from None
    except (FormatError, PlanError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    _write(result, out, run_dir)
