"""A CGRateS tariff plan as the entries of one deck version (docs/formats.md,
"CGRateS tariff plans"). Pure: files in, entries (with warnings and notes)
out, or a FormatError naming the file, line and field.

What becomes the deck: one RatingPlan (`plan`), or a subject's rating profile
(`subject`, `tenant`, `category`): the plan of its latest activation, then
the plans of its fallback subjects and of the `*any` subject, each adding
only the prefixes no earlier plan covers (CGRateS tries the fallbacks only
where the subject's plan has no destination for the number).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path

from rerate.kit.money import PRICE_SCALE, RoundingMode, parse_decimal
from rerate.pricebooks.cgrates_files import Row, load, whole_seconds
from rerate.rating import tariff_terms
from rerate.rating.formats import FormatError, parse_instant
from rerate.rating.plan import MAX_PREFIX_DIGITS, PlanError, RateGroup, TariffEntry, Timing

ANY = "*any"
DEFAULT_CATEGORY = "call"
# CGRateS rounds each increment's cost to `general.rounding_decimals`
# (default 5) before adding them up.
DEFAULT_INCREMENT_DECIMALS = 5
_ROUNDING = {
    "*up": RoundingMode.CEILING,
    "*down": RoundingMode.FLOOR,
    "*middle": RoundingMode.HALF_UP,
}
_STRATEGIES = {"", "*free", "*disconnect"}


@dataclass(frozen=True, slots=True)
class Imported:
    """The deck's entries (ids 1..n, in file order), the plans they come from
    (primary first), and what the user should read: warnings (something left
    out) and notes (something CGRateS does that rerate need not)."""

    plans: tuple[str, ...]
    entries: list[TariffEntry]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Rating:
    """A Rates.csv tag as a rerate entry's price terms."""

    connect_fee: Decimal
    rate_per_minute: Decimal
    increment: int
    groups: tuple[RateGroup, ...]


def _decimal(row: Row, name: str, *, empty: str = "") -> Decimal:
    text = row[name] or empty
    try:
        value = parse_decimal(text)
    except (InvalidOperation, ValueError):
        raise FormatError(f"{row.where(name)}: not a decimal number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise FormatError(f"{row.where(name)}: must be 0 or more: {text!r}")
    return value


def _exact(row: Row, name: str, value: Decimal) -> Decimal:
    if value != value.quantize(Decimal(1).scaleb(-PRICE_SCALE)):
        raise FormatError(
            f"{row.where(name)}: {row[name]!r} is {value} per minute, more than {PRICE_SCALE} "
            "decimal places; rerate stores prices exactly"
        )
    return value.normalize() if value else Decimal(0)


def _per_minute(row: Row) -> tuple[Decimal, int]:
    """(rate per minute, increment seconds) of a Rates.csv row; a unit or
    increment of 0 is 1 s, as CGRateS takes it."""
    rate = _decimal(row, "Rate")
    unit = whole_seconds(row, "RateUnit") or 1
    increment = whole_seconds(row, "RateIncrement") or 1
    with localcontext() as ctx:
        ctx.prec = 60
        per_minute = rate * 60 / unit
    return _exact(row, "Rate", per_minute), increment


class _Plan:
    """The files, indexed, and the conversions they need (each once)."""

    def __init__(self, files: dict[str, list[Row]], increment_decimals: int) -> None:
        self.files = files
        self.increment_decimals = increment_decimals
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.destinations = self._by_id("Destinations.csv")
        self.rates = self._by_id("Rates.csv")
        self.destination_rates = self._by_id("DestinationRates.csv")
        self.plans = self._by_id("RatingPlans.csv")
        self.timing_rows = {r["Id"]: r for r in files.get("Timings.csv", [])}
        self._ratings: dict[str, _Rating] = {}
        self._timings: dict[str, Timing] = {}
        self._prefixes: dict[str, list[tuple[str, Row]]] = {}

    def _by_id(self, name: str) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = defaultdict(list)
        for row in self.files.get(name, []):
            if not row["Id"]:
                raise FormatError(f"{row.where('Id')}: required")
            out[row["Id"]].append(row)
        return out

    def rating(self, tag: str, used_by: Row) -> _Rating:
        if tag not in self._ratings:
            self._ratings[tag] = self._rating(tag, used_by)
        return self._ratings[tag]

    def _rating(self, tag: str, used_by: Row) -> _Rating:
        rows = self.rates.get(tag)
        if not rows:
            raise FormatError(f"{used_by.where('RatesTag')}: no rates {tag!r} in Rates.csv")
        starts: dict[int, Row] = {}
        for row in rows:
            start = whole_seconds(row, "GroupIntervalStart")
            if start in starts:
                raise FormatError(
                    f"{row.where('GroupIntervalStart')}: rates {tag!r} already have a group "
                    f"starting at {start} s (line {starts[start].line})"
                )
            starts[start] = row
        if 0 not in starts:
            first = min(starts)
            raise FormatError(
                f"{starts[first].where('GroupIntervalStart')}: rates {tag!r} have no group "
                f"starting at 0 (the first starts at {first} s); rerate needs the price of a "
                "call's first second"
            )
        first_row = starts.pop(0)
        rate, increment = _per_minute(first_row)
        groups = []
        for start in sorted(starts):
            group_rate, group_increment = _per_minute(starts[start])
            groups.append(RateGroup(start, group_rate, group_increment))
        fee = _decimal(first_row, "ConnectFee", empty="0")
        return _Rating(_exact(first_row, "ConnectFee", fee), rate, increment, tuple(groups))

    def timing(self, tag: str, used_by: Row) -> Timing | None:
        if tag in ("", ANY):
            return None
        if tag not in self._timings:
            row = self.timing_rows.get(tag)
            if row is None:
                where = (
                    "no Timings.csv" if "Timings.csv" not in self.files else "not in Timings.csv"
                )
                raise FormatError(f"{used_by.where('TimingTag')}: timing {tag!r} {where}")
            self._timings[tag] = _timing(row)
        return self._timings[tag]

    def prefixes(self, destination: str, used_by: Row) -> list[tuple[str, Row]]:
        """(rerate prefix, Destinations.csv row) of a destination id; `*any` is ""."""
        if destination == ANY:
            return [("", used_by)]
        if destination not in self._prefixes:
            rows = self.destinations.get(destination)
            if not rows:
                raise FormatError(
                    f"{used_by.where('DestinationId')}: no destination {destination!r} in "
                    "Destinations.csv"
                )
            out = []
            for row in rows:
                prefix = row["Prefix"]
                digits = "" if prefix == ANY else prefix.removeprefix("+")
                if digits and not (digits.isascii() and digits.isdigit()):
                    self.warnings.append(
                        f"{row.where('Prefix')}: {prefix!r} is not a number; rerate "
                        "destinations are numbers: skipped"
                    )
                    continue
                if len(digits) > MAX_PREFIX_DIGITS:
                    raise FormatError(
                        f"{row.where('Prefix')}: longer than {MAX_PREFIX_DIGITS} digits: {prefix!r}"
                    )
                out.append((digits, row))
            self._prefixes[destination] = out
        return self._prefixes[destination]

    def terms(self, row: Row) -> dict[str, object]:
        """Call rounding and cap of a DestinationRates.csv row."""
        method = row["RoundingMethod"]
        out: dict[str, object] = {}
        if method in _ROUNDING:
            try:
                places = int(row["RoundingDecimals"])
            except ValueError:
                raise FormatError(
                    f"{row.where('RoundingDecimals')}: not a whole number: "
                    f"{row['RoundingDecimals']!r}"
                ) from None
            if not 0 <= places <= PRICE_SCALE:
                raise FormatError(f"{row.where('RoundingDecimals')}: must be 0 to {PRICE_SCALE}")
            out.update(call_decimals=places, call_rounding=_ROUNDING[method])
        elif method:
            self.warnings.append(
                f"{row.where('RoundingMethod')}: {method!r} is not *up, *down or *middle; "
                "calls are not rounded (as in CGRateS)"
            )
        strategy = row["MaxCostStrategy"]
        if strategy not in _STRATEGIES:
            raise FormatError(
                f"{row.where('MaxCostStrategy')}: {strategy!r} is not *free or *disconnect"
            )
        cap = _decimal(row, "MaxCost", empty="0")
        if cap > 0 and strategy == "*free":
            out["max_cost"] = _exact(row, "MaxCost", cap)
        elif cap > 0:
            self.notes.append(
                f"{row.where('MaxCost')}: {row['MaxCost']} with "
                f"{strategy or 'no strategy'} is not a cap on a completed call's cost in "
                "CGRateS (*disconnect only ends calls while they run): not imported"
            )
        return out

    def entries(self, plan_id: str) -> list[tuple[TariffEntry, str]]:
        """A rating plan's entries (ids 0: numbered later), each with where it
        comes from, for messages."""
        out: list[tuple[TariffEntry, str]] = []
        seen: dict[tuple[object, ...], str] = {}
        for plan_row in self.plans[plan_id]:
            dr_id = plan_row["DestinationRatesId"]
            dr_rows = self.destination_rates.get(dr_id)
            if not dr_rows:
                raise FormatError(
                    f"{plan_row.where('DestinationRatesId')}: no destination rates {dr_id!r} "
                    "in DestinationRates.csv"
                )
            timing = self.timing(plan_row["TimingTag"], plan_row)
            weight = _weight(plan_row)
            for dr in dr_rows:
                rating = self.rating(dr["RatesTag"], dr)
                terms = self.terms(dr)
                for prefix, dest in self.prefixes(dr["DestinationId"], dr):
                    origin = f"{plan_row.file} line {plan_row.line}, {dr.file} line {dr.line}"
                    if dest is not dr:
                        origin += f", {dest.file} line {dest.line}"
                    try:
                        entry = TariffEntry(
                            id=0,
                            prefix=prefix,
                            destination_group=dr["DestinationId"],
                            rate_per_minute=rating.rate_per_minute,
                            connect_fee=rating.connect_fee,
                            initial_increment=rating.increment,
                            subsequent_increment=rating.increment,
                            rate_groups=rating.groups,
                            increment_decimals=self.increment_decimals,
                            timing=timing,
                            weight=weight,
                            **terms,  # type: ignore[arg-type]
                        )
                    except PlanError as exc:
                        raise FormatError(f"{origin}: {exc}") from None
                    key = (entry.prefix, entry.band, None if timing is None else timing.key)
                    if key in seen:
                        raise FormatError(
                            f"plan {plan_id}: prefix {prefix or ANY} at timing "
                            f"{plan_row['TimingTag'] or ANY} comes twice: {seen[key]} and {origin}"
                        )
                    seen[key] = origin
                    out.append((entry, origin))
        return out


def _weight(row: Row) -> int:
    text = row["Weight"] or "0"
    try:
        value = Decimal(text)
        if value != value.to_integral_value():
            raise ValueError
    except (InvalidOperation, ValueError):
        raise FormatError(f"{row.where('Weight')}: not a whole number: {text!r}") from None
    return int(value)


def _timing(row: Row) -> Timing:
    start, _, end = row["Time"].partition(";")
    if end.strip() and end.strip() != ANY:
        raise FormatError(
            f"{row.where('Time')}: {row['Time']!r} has an end time; a rerate timing runs from "
            "its start to the end of the day"
        )
    try:
        return tariff_terms.make_timing(
            row["Id"], row["Years"], row["Months"], row["MonthDays"], row["WeekDays"], start
        )
    except ValueError as exc:
        message = str(exc)
        column = {
            "years": "Years",
            "months": "Months",
            "month days": "MonthDays",
            "weekdays": "WeekDays",
            "time": "Time",
        }.get(message.split(":", 1)[0], "Id")
        raise FormatError(f"{row.where(column)}: {message}") from None


def _profile(
    files: dict[str, list[Row]], tenant: str | None, category: str, subject: str
) -> Row | None:
    """The rating profile row of the latest activation for the key, or None."""
    rows = [
        r
        for r in files.get("RatingProfiles.csv", [])
        if r["Subject"] == subject
        and r["Category"] == category
        and (tenant is None or r["Tenant"] == tenant)
    ]
    tenants = sorted({r["Tenant"] for r in rows})
    if len(tenants) > 1:
        raise FormatError(
            f"subject {subject!r} (category {category}) has profiles for tenants "
            f"{', '.join(tenants)}: say which tenant"
        )
    best: tuple[datetime, Row] | None = None
    for row in rows:
        try:
            when = parse_instant(row["ActivationTime"])
        except ValueError as exc:
            raise FormatError(f"{row.where('ActivationTime')}: {exc}") from None
        if best is not None and when == best[0]:
            raise FormatError(
                f"{row.where('ActivationTime')}: the same activation as line {best[1].line}"
            )
        if best is None or when > best[0]:
            best = (when, row)
    return None if best is None else best[1]


def _chosen_plans(
    files: dict[str, list[Row]],
    known: Mapping[str, list[Row]],
    plan: str | None,
    subject: str | None,
    tenant: str | None,
    category: str,
    warnings: list[str],
) -> list[str]:
    """The plan ids, primary first, then the fallbacks in CGRateS's order."""
    if plan and subject:
        raise FormatError("give a rating plan or a subject, not both")
    if plan:
        if plan not in known:
            raise FormatError(
                f"RatingPlans.csv: no rating plan {plan!r} (there are {', '.join(known)})"
            )
        return [plan]
    if subject:
        if "RatingProfiles.csv" not in files:
            raise FormatError("RatingProfiles.csv: missing (needed to choose by subject)")
        primary = _profile(files, tenant, category, subject)
        if primary is None and subject != ANY:
            # CGRateS rates a subject without a profile of its own by the
            # tenant's `*any` subject (as it does when a plan has no rate).
            primary = _profile(files, tenant, category, ANY)
            if primary is not None:
                warnings.append(
                    f"RatingProfiles.csv: no profile for subject {subject!r} in category "
                    f"{category!r}: the {ANY} subject's applies (line {primary.line}), "
                    "as in CGRateS"
                )
        if primary is None:
            raise FormatError(
                f"RatingProfiles.csv: no profile for subject {subject!r} in category "
                f"{category!r}" + (f" of tenant {tenant!r}" if tenant else "")
            )
        tenant = primary["Tenant"]
        order = [primary]
        listed = [s.strip() for s in primary["RatesFallbackSubject"].split(";") if s.strip()]
        # CGRateS tries the tenant's `*any` subject last, listed or not.
        implicit = [ANY] if subject != ANY and ANY not in listed else []
        for fb in listed + implicit:
            row = _profile(files, tenant, category, fb)
            if row is None:
                if fb in listed:
                    warnings.append(
                        f"{primary.where('RatesFallbackSubject')}: no profile for fallback "
                        f"subject {fb!r}: left out"
                    )
                continue
            order.append(row)
        plans: list[str] = []
        for row in order:
            plan_id = row["RatingPlanId"]
            if plan_id not in known:
                raise FormatError(
                    f"{row.where('RatingPlanId')}: no rating plan {plan_id!r} in RatingPlans.csv"
                )
            if plan_id not in plans:
                plans.append(plan_id)
        return plans
    if len(known) != 1:
        raise FormatError(
            f"RatingPlans.csv holds rating plans {', '.join(known)}: choose one (plan) or a subject"
        )
    return list(known)


def _covered(prefix: str, earlier: set[str]) -> bool:
    """Whether an earlier plan has a prefix a number with `prefix` matches
    first ("" covers everything)."""
    return any(prefix.startswith(p) for p in earlier)


def import_plan(
    source: Path | Mapping[str, bytes],
    *,
    plan: str | None = None,
    subject: str | None = None,
    tenant: str | None = None,
    category: str = DEFAULT_CATEGORY,
    increment_decimals: int = DEFAULT_INCREMENT_DECIMALS,
) -> Imported:
    """A CGRateS tariff plan (a directory, or {file name: bytes}) as deck entries."""
    if not 0 <= increment_decimals <= PRICE_SCALE:
        raise FormatError(f"increment_decimals: must be 0 to {PRICE_SCALE}")
    files = load(source)
    rp = _Plan(files, increment_decimals)
    chosen = _chosen_plans(
        files, rp.plans, plan, subject, tenant, category or DEFAULT_CATEGORY, rp.warnings
    )
    entries: list[TariffEntry] = []
    earlier: set[str] = set()
    for n, plan_id in enumerate(chosen):
        own = rp.entries(plan_id)
        kept = [e for e, _ in own if n == 0 or not _covered(e.prefix, earlier)]
        if n and len(kept) < len(own):
            rp.notes.append(
                f"fallback plan {plan_id}: {len(own) - len(kept)} entries left out, their "
                "prefixes covered by an earlier plan"
            )
        entries.extend(kept)
        earlier.update(e.prefix for e in kept)
    numbered = [_renumber(e, i) for i, e in enumerate(entries, start=1)]
    if not numbered:
        raise FormatError(f"plan {chosen[0]}: no entries to import")
    # A DestinationRates row used by several plan rows says its note once.
    unique = list(dict.fromkeys(rp.notes))
    return Imported(tuple(chosen), numbered, list(dict.fromkeys(rp.warnings)), unique)


def _renumber(entry: TariffEntry, new_id: int) -> TariffEntry:
    return replace(entry, id=new_id)
