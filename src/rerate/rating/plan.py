"""The plan snapshot: everything the rater needs besides the usage rows.

A `RatingPlan` is an immutable value built by the caller (from the database,
or from files by `rerate.rating.formats`). The engine never reaches outside
it: no session, no clock. Every object carries an integer `id` so a rated row
can name the exact price entry, tariff entry, version and contract rule that
produced it.

Validation happens here, once, in `__post_init__`, so the vectorised code can
assume clean inputs (digit-only prefixes, tiers starting at 0, increments >= 1,
amounts with at most 10 decimal places, aware UTC instants ...).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rerate.kit.money import DEFAULT_ROUNDING, PRICE_SCALE, RoundingMode, minor_units
from rerate.rating.deck import TariffColumns, tariff_columns

# A prefix or a destination is matched on at most this many digits (E.164's
# maximum length). Longer destinations are matched on their first 15 digits.
MAX_PREFIX_DIGITS = 15
# Percentages may carry at most this many decimal places, so that the factor
# (100 +- pct) / 100 is exact at scale PERCENT_SCALE + 2 (see fixed.py).
PERCENT_SCALE = 10

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class TierMode(StrEnum):
    """How tiers price a cumulative quantity (see docs/rating.md, "Tiers")."""

    NONE = "none"
    GRADUATED = "graduated"
    VOLUME = "volume"


class ProfileUnit(StrEnum):
    MINUTES = "minutes"  # CDRs: billable seconds after increments, counted in minutes
    UNITS = "units"  # cloud usage: the row's quantity, for one SKU


class RuleKind(StrEnum):
    UNIT_PRICE_OVERRIDE = "unit_price_override"
    DISCOUNT = "discount"
    MARKUP = "markup"
    SUPPORT_FEE = "support_fee"
    MINIMUM_COMMITMENT = "minimum_commitment"
    CREDIT = "credit"


class PlanError(ValueError):
    """The plan snapshot is inconsistent; the message names the object and field."""


def check_zone(tz: object, what: str) -> None:
    """An IANA zone name that exists here; zoneinfo's own error is a KeyError
    subclass (ZoneInfoNotFoundError) that callers would not take for bad input."""
    if not isinstance(tz, str) or not tz:
        raise PlanError(f"{what}: a time zone name is required, got {tz!r}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise PlanError(f"{what}: unknown time zone {tz!r}") from None


def check_band(band: object, what: str) -> None:
    """A band name is a non-empty string: a null default band would make every
    call outside the rules band-less without anyone having said so."""
    if not isinstance(band, str) or not band.strip():
        raise PlanError(f"{what}: a band name is required, got {band!r}")


def utc_us(instant: datetime) -> int:
    """Microseconds since the Unix epoch of an aware instant (exact integer)."""
    if instant.tzinfo is None:
        raise PlanError(f"naive datetime {instant!r}: plan instants must be timezone-aware")
    return (instant - _EPOCH) // _US


def _check_decimal(value: Decimal, what: str, *, places: int = PRICE_SCALE) -> None:
    if not isinstance(value, Decimal):
        raise PlanError(f"{what} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise PlanError(f"{what} must be finite, got {value}")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise PlanError(f"{what} has more than {places} decimal places: {value}")


def _check_tiers(tiers: tuple[Tier, ...], mode: TierMode, what: str) -> None:
    if mode is TierMode.NONE:
        if tiers:
            raise PlanError(f"{what}: tiers given but tier_mode is 'none'")
        return
    if not tiers:
        raise PlanError(f"{what}: tier_mode {mode.value!r} needs at least one tier")
    if tiers[0].from_qty != 0:
        raise PlanError(f"{what}: the first tier must start at 0")
    for prev, cur in itertools.pairwise(tiers):
        if cur.from_qty <= prev.from_qty:
            raise PlanError(f"{what}: tier boundaries must increase strictly")


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: quantities from `from_qty` (inclusive) up to the next tier's
    `from_qty` cost `unit_price` each (graduated); in volume mode the tier whose
    `from_qty` is the largest one <= the period total prices every unit."""

    from_qty: Decimal
    unit_price: Decimal

    def __post_init__(self) -> None:
        _check_decimal(self.from_qty, "tier from_qty")
        _check_decimal(self.unit_price, "tier unit_price")
        if self.from_qty < 0:
            raise PlanError(f"tier from_qty must be >= 0, got {self.from_qty}")


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """A cloud price: per SKU, optionally per region (region-specific beats generic)."""

    id: int
    sku: str
    unit_price: Decimal
    region: str | None = None
    unit: str = ""
    tier_mode: TierMode = TierMode.NONE
    tiers: tuple[Tier, ...] = ()

    def __post_init__(self) -> None:
        what = f"price entry {self.id}"
        if not self.sku:
            raise PlanError(f"{what}: empty sku")
        _check_decimal(self.unit_price, f"{what} unit_price")
        _check_tiers(self.tiers, self.tier_mode, what)


@dataclass(frozen=True, slots=True)
class RateGroup:
    """A later rate group of a tariff entry (CGRateS `GroupIntervalStart`):
    from `from_seconds` of billed time on, the call is charged at
    `rate_per_minute` in increments of `increment` seconds. The entry's own
    rate and increments are the group starting at 0."""

    from_seconds: int
    rate_per_minute: Decimal
    increment: int


@dataclass(frozen=True, slots=True)
class Timing:
    """When an entry applies, evaluated on the call's start (CGRateS
    `Timings.csv`): an empty set means any. `weekdays` 0=Mon ... 6=Sun (as
    BandRule); the timing runs from `start` to the end of the local day."""

    years: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    monthdays: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    start: time = time(0)
    name: str = ""

    def __post_init__(self) -> None:
        what = f"timing {self.name!r}"
        if any(not 1 <= m <= 12 for m in self.months):
            raise PlanError(f"{what}: months are 1-12")
        if any(not 1 <= d <= 31 for d in self.monthdays):
            raise PlanError(f"{what}: month days are 1-31")
        if any(not 0 <= d <= 6 for d in self.weekdays):
            raise PlanError(f"{what}: weekdays are 0 (Monday) to 6 (Sunday)")
        if any(not 1 <= y <= 9999 for y in self.years):
            raise PlanError(f"{what}: years are 1-9999")

    @property
    def key(self) -> tuple[object, ...]:
        """Identity of the condition (the name is only a label)."""
        return (
            tuple(sorted(self.years)),
            tuple(sorted(self.months)),
            tuple(sorted(self.monthdays)),
            tuple(sorted(self.weekdays)),
            self.start,
        )


@dataclass(frozen=True, slots=True)
class TariffEntry:
    """A destination-prefix tariff line.

    `band=None` applies in every band; a banded entry applies only in its band
    and beats a band-less entry with the same prefix. `timing=None` applies at
    any time; among the entries of one prefix applying to a call, the higher
    `weight` wins, then the timing that started later that day.

    The carrier terms (docs/rating.md, "Rate groups, call rounding, maximum
    cost"): `rate_groups` change rate and increment after N seconds;
    `increment_decimals` rounds the cost of each increment (half up) before
    it is counted; `call_decimals`/`call_rounding` round a call's list amount;
    `max_cost` caps it. The empty prefix matches every number (CGRateS `*any`).
    """

    id: int
    prefix: str
    destination_group: str
    rate_per_minute: Decimal
    connect_fee: Decimal = Decimal(0)
    min_seconds: int = 0
    initial_increment: int = 1
    subsequent_increment: int = 1
    band: str | None = None
    charge_unanswered: bool = False
    rate_groups: tuple[RateGroup, ...] = ()
    increment_decimals: int | None = None
    call_decimals: int | None = None
    call_rounding: RoundingMode = DEFAULT_ROUNDING
    max_cost: Decimal | None = None
    timing: Timing | None = None
    weight: int = 0

    def __post_init__(self) -> None:
        what = f"tariff entry {self.id}"
        if self.prefix and not (self.prefix.isascii() and self.prefix.isdigit()):
            raise PlanError(f"{what}: prefix must be digits, got {self.prefix!r}")
        if len(self.prefix) > MAX_PREFIX_DIGITS:
            raise PlanError(f"{what}: prefix longer than {MAX_PREFIX_DIGITS} digits")
        _check_decimal(self.rate_per_minute, f"{what} rate_per_minute")
        _check_decimal(self.connect_fee, f"{what} connect_fee")
        if self.min_seconds < 0:
            raise PlanError(f"{what}: min_seconds must be >= 0")
        if self.initial_increment < 1 or self.subsequent_increment < 1:
            raise PlanError(f"{what}: increments must be >= 1 second")
        last = 0
        for g in self.rate_groups:
            if g.from_seconds <= last:
                raise PlanError(f"{what}: rate groups must start after 0 s, in increasing order")
            if g.increment < 1:
                raise PlanError(f"{what}: rate group increments must be >= 1 second")
            _check_decimal(g.rate_per_minute, f"{what} rate group rate_per_minute")
            if g.rate_per_minute < 0:
                raise PlanError(f"{what}: rate group rate_per_minute must be >= 0")
            last = g.from_seconds
        for name in ("increment_decimals", "call_decimals"):
            places = getattr(self, name)
            if places is not None and not 0 <= places <= PRICE_SCALE:
                raise PlanError(f"{what}: {name} must be 0-{PRICE_SCALE}")
        if self.max_cost is not None:
            _check_decimal(self.max_cost, f"{what} max_cost")
            if self.max_cost <= 0:
                raise PlanError(f"{what}: max_cost must be > 0 (leave it empty for no cap)")


# The slots' own setters: they bypass the frozen __setattr__ (and cost a
# fraction of it), for checked_tariff.
_SET = {f.name: getattr(TariffEntry, f.name).__set__ for f in dataclasses.fields(TariffEntry)}


def checked_tariff(
    id: int,
    prefix: str,
    destination_group: str,
    rate_per_minute: Decimal,
    connect_fee: Decimal,
    min_seconds: int,
    initial_increment: int,
    subsequent_increment: int,
    band: str | None,
    charge_unanswered: bool,
) -> TariffEntry:
    """A TariffEntry from values that its reader has already put through
    every check `__post_init__` makes (rating.formats' field checks are at
    least as strict), without making them again: a 200,000-prefix deck would
    spend most of its reading time there."""
    entry = object.__new__(TariffEntry)
    _SET["id"](entry, id)
    _SET["prefix"](entry, prefix)
    _SET["destination_group"](entry, destination_group)
    _SET["rate_per_minute"](entry, rate_per_minute)
    _SET["connect_fee"](entry, connect_fee)
    _SET["min_seconds"](entry, min_seconds)
    _SET["initial_increment"](entry, initial_increment)
    _SET["subsequent_increment"](entry, subsequent_increment)
    _SET["band"](entry, band)
    _SET["charge_unanswered"](entry, charge_unanswered)
    _SET["rate_groups"](entry, ())
    _SET["increment_decimals"](entry, None)
    _SET["call_decimals"](entry, None)
    _SET["call_rounding"](entry, DEFAULT_ROUNDING)
    _SET["max_cost"](entry, None)
    _SET["timing"](entry, None)
    _SET["weight"](entry, 0)
    return entry


@dataclass(frozen=True, slots=True)
class PriceBookVersion:
    """A complete deck in force from `effective_from` (UTC) until the next version."""

    id: int
    version_no: int
    effective_from: datetime
    prices: tuple[PriceEntry, ...] = ()
    tariffs: tuple[TariffEntry, ...] = ()
    # The tariffs as arrays (deck.py), built once here: rating reuses them.
    tariff_columns: TariffColumns = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        utc_us(self.effective_from)
        seen_p: set[tuple[str, str | None]] = set()
        for p in self.prices:
            key = (p.sku, p.region)
            if key in seen_p:
                raise PlanError(f"version {self.id}: duplicate price for {key}")
            seen_p.add(key)
        seen_t: set[tuple[object, ...]] = set()
        for t in self.tariffs:
            tkey = (t.prefix, t.band, None if t.timing is None else t.timing.key)
            if tkey in seen_t:
                raise PlanError(
                    f"version {self.id}: duplicate tariff for prefix/band/timing {tkey[:2]}"
                    + ("" if t.timing is None else f" timing {t.timing.name or tkey[2]}")
                )
            seen_t.add(tkey)
        object.__setattr__(self, "tariff_columns", tariff_columns(self.tariffs))

    @property
    def effective_from_us(self) -> int:
        return utc_us(self.effective_from)


@dataclass(frozen=True, slots=True)
class PriceBook:
    id: int
    currency: str
    versions: tuple[PriceBookVersion, ...]

    def __post_init__(self) -> None:
        minor_units(self.currency)
        instants = [v.effective_from_us for v in self.versions]
        if len(set(instants)) != len(instants):
            raise PlanError(f"price book {self.id}: two versions with the same effective_from")
        if len({v.version_no for v in self.versions}) != len(self.versions):
            raise PlanError(f"price book {self.id}: duplicate version_no")
        ids = [e.id for v in self.versions for e in v.prices] + [
            e.id for v in self.versions for e in v.tariffs
        ]
        if len(set(ids)) != len(ids):
            raise PlanError(f"price book {self.id}: entry ids must be unique across versions")

    def ordered_versions(self) -> tuple[PriceBookVersion, ...]:
        return tuple(sorted(self.versions, key=lambda v: v.effective_from_us))


@dataclass(frozen=True, slots=True)
class BandRule:
    """`band` applies on local `weekdays` (0=Mon..6=Sun) from `start` to `end`.

    start < end: same-day range [start, end). start > end: crosses midnight,
    [start, 24:00) on the listed weekday and [00:00, end) on the next day.
    start == end: the whole listed weekday.
    """

    band: str
    weekdays: frozenset[int]
    start: time
    end: time
    priority: int = 0

    def __post_init__(self) -> None:
        if not self.weekdays or not all(0 <= d <= 6 for d in self.weekdays):
            raise PlanError(f"band rule {self.band!r}: weekdays must be a non-empty subset of 0..6")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise PlanError(f"band rule {self.band!r}: times are local wall-clock times")


@dataclass(frozen=True, slots=True)
class Holiday:
    day: date
    band: str


@dataclass(frozen=True, slots=True)
class TimetableChange:
    """A later version of a timetable: from `effective_from` (UTC) until the
    next change, its default band, rules and holidays replace the earlier ones."""

    version_id: int
    effective_from: datetime
    default_band: str
    rules: tuple[BandRule, ...] = ()
    holidays: tuple[Holiday, ...] = ()

    def __post_init__(self) -> None:
        utc_us(self.effective_from)
        check_band(self.default_band, f"timetable version {self.version_id} default_band")
        _check_holidays(self.holidays, f"timetable version {self.version_id}")


def _check_holidays(holidays: tuple[Holiday, ...], what: str) -> None:
    days = [h.day for h in holidays]
    if len(set(days)) != len(days):
        raise PlanError(f"{what}: a holiday date is listed twice")


@dataclass(frozen=True, slots=True)
class Timetable:
    """The bands of a timetable: `default_band`, `rules` and `holidays` are in
    force until the first of `changes` (if any), each change from its
    `effective_from` until the next (docs/administration/contracts.md)."""

    id: int
    tz: str
    default_band: str
    rules: tuple[BandRule, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    changes: tuple[TimetableChange, ...] = ()

    def __post_init__(self) -> None:
        check_zone(self.tz, f"timetable {self.id} tz")
        check_band(self.default_band, f"timetable {self.id} default_band")
        _check_holidays(self.holidays, f"timetable {self.id}")
        instants = [utc_us(c.effective_from) for c in self.changes]
        if instants != sorted(set(instants)):
            raise PlanError(f"timetable {self.id}: changes must have increasing effective_from")

    @property
    def band_names(self) -> tuple[str, ...]:
        """Sorted band names of every version; a band's index in this tuple is its code."""
        names: set[str] = set()
        for default, rules, holidays in self.versions():
            names |= {default} | {r.band for r in rules} | {h.band for h in holidays}
        return tuple(sorted(names))

    def versions(
        self,
    ) -> list[tuple[str, tuple[BandRule, ...], tuple[Holiday, ...]]]:
        """(default band, rules, holidays) of the first version, then of each change."""
        return [(self.default_band, self.rules, self.holidays)] + [
            (c.default_band, c.rules, c.holidays) for c in self.changes
        ]


@dataclass(frozen=True, slots=True)
class ConsumptionProfile:
    """Included quantity and optional tiers per account per period.

    minutes profiles apply to CDRs whose destination group starts with
    `scope_destination_group` (all CDRs when None); units profiles apply to
    cloud rows of `scope_sku` (required). Tier prices replace the tariff rate
    (per minute) or the price entry (per unit). `period_fee` becomes one period
    line per account the customer owned during the period.
    """

    id: int
    name: str
    unit: ProfileUnit
    account_ids: frozenset[int]
    included_quantity: Decimal = Decimal(0)
    tier_mode: TierMode = TierMode.NONE
    tiers: tuple[Tier, ...] = ()
    scope_destination_group: str | None = None
    scope_sku: str | None = None
    period_fee: Decimal | None = None

    def __post_init__(self) -> None:
        what = f"profile {self.id}"
        _check_decimal(self.included_quantity, f"{what} included_quantity")
        if self.included_quantity < 0:
            raise PlanError(f"{what}: included_quantity must be >= 0")
        _check_tiers(self.tiers, self.tier_mode, what)
        if self.period_fee is not None:
            _check_decimal(self.period_fee, f"{what} period_fee")
        if self.unit is ProfileUnit.UNITS:
            if not self.scope_sku:
                raise PlanError(f"{what}: a units profile needs scope_sku")
            if self.scope_destination_group is not None:
                raise PlanError(f"{what}: a units profile cannot scope a destination group")
        else:
            if self.scope_sku is not None:
                raise PlanError(f"{what}: a minutes profile cannot scope a sku")
            # Minutes are counted on whole billable seconds, so every threshold
            # must land on a whole second.
            for q in (self.included_quantity, *(t.from_qty for t in self.tiers)):
                if (q * 60) != (q * 60).to_integral_value():
                    raise PlanError(f"{what}: {q} minutes is not a whole number of seconds")


@dataclass(frozen=True, slots=True)
class ContractRule:
    """One contract rule. Scope fields left None match anything."""

    id: int
    kind: RuleKind
    order: int = 0
    service: str | None = None
    sku: str | None = None
    region: str | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    unit_price: Decimal | None = None
    description: str = ""

    def __post_init__(self) -> None:
        what = f"contract rule {self.id} ({self.kind.value})"
        if self.percent is not None:
            _check_decimal(self.percent, f"{what} percent", places=PERCENT_SCALE)
        if self.amount is not None:
            _check_decimal(self.amount, f"{what} amount")
        if self.unit_price is not None:
            _check_decimal(self.unit_price, f"{what} unit_price")
        kind = self.kind
        if kind is RuleKind.UNIT_PRICE_OVERRIDE:
            if self.unit_price is None or self.sku is None:
                raise PlanError(f"{what}: needs unit_price and a sku scope")
        elif kind in (RuleKind.DISCOUNT, RuleKind.MARKUP, RuleKind.SUPPORT_FEE):
            if self.percent is None or self.percent < 0:
                raise PlanError(f"{what}: needs a percent >= 0")
            if kind is RuleKind.DISCOUNT and self.percent > 100:
                raise PlanError(f"{what}: a discount above 100% is not a discount")
        elif kind is RuleKind.MINIMUM_COMMITMENT:
            if self.amount is None or self.amount < 0:
                raise PlanError(f"{what}: needs an amount >= 0")
        elif kind is RuleKind.CREDIT and (self.amount is None) == (self.percent is None):
            raise PlanError(f"{what}: needs exactly one of amount or percent")

    @property
    def specificity(self) -> int:
        """sku (4) > region (2) > service (1); summed, so sku+region beats sku."""
        return (
            4 * (self.sku is not None) + 2 * (self.region is not None) + (self.service is not None)
        )


@dataclass(frozen=True, slots=True)
class CustomLineItem:
    """A one-off line on `one_off_date`, or a monthly line for every billing month
    that overlaps [recurring_from, recurring_to] (both dates inclusive; an open
    end recurs forever)."""

    id: int
    description: str
    amount: Decimal
    one_off_date: date | None = None
    recurring_from: date | None = None
    recurring_to: date | None = None

    def __post_init__(self) -> None:
        _check_decimal(self.amount, f"custom line item {self.id} amount")
        if (self.one_off_date is None) == (self.recurring_from is None):
            raise PlanError(
                f"custom line item {self.id}: give one_off_date or recurring_from, not both"
            )
        if self.one_off_date is not None and self.recurring_to is not None:
            raise PlanError(f"custom line item {self.id}: recurring_to without recurring_from")


@dataclass(frozen=True, slots=True)
class Contract:
    id: int
    customer_id: int
    currency: str
    billing_tz: str = "UTC"
    rounding: RoundingMode = DEFAULT_ROUNDING
    passthrough_unpriced: bool = False
    rules: tuple[ContractRule, ...] = ()
    custom_line_items: tuple[CustomLineItem, ...] = ()

    def __post_init__(self) -> None:
        minor_units(self.currency)
        check_zone(self.billing_tz, f"contract {self.id} billing_tz")
        if not isinstance(self.rounding, RoundingMode):
            raise PlanError(f"contract {self.id}: rounding must be a RoundingMode")
        if len({r.id for r in self.rules}) != len(self.rules):
            raise PlanError(f"contract {self.id}: duplicate rule id")

    def rules_of(self, *kinds: RuleKind) -> tuple[ContractRule, ...]:
        """Rules of `kinds` in application order: `order`, then id."""
        return tuple(
            sorted((r for r in self.rules if r.kind in kinds), key=lambda r: (r.order, r.id))
        )


@dataclass(frozen=True, slots=True)
class Ownership:
    """Account `account_id` belongs to `customer_id` during [valid_from, valid_to)."""

    account_id: int
    customer_id: int
    valid_from: datetime
    valid_to: datetime | None = None

    def __post_init__(self) -> None:
        start = utc_us(self.valid_from)
        if self.valid_to is not None and utc_us(self.valid_to) <= start:
            raise PlanError(f"ownership of account {self.account_id}: empty interval")


@dataclass(frozen=True, slots=True)
class RatingPlan:
    """Everything one rating call needs for one customer."""

    contract: Contract
    price_book: PriceBook | None = None
    timetable: Timetable | None = None
    profiles: tuple[ConsumptionProfile, ...] = ()
    ownership: tuple[Ownership, ...] = ()
    # The UseOverlapUsageSelection setting (docs/rating.md, "Period selection").
    overlap_selection: bool = False
    # A contract with both a cloud price book and a VoIP tariff deck: the deck
    # that rates CDRs (`price_book` then prices cloud rows). None: CDRs are
    # rated with `price_book` too.
    tariff_book: PriceBook | None = None

    def __post_init__(self) -> None:
        for book in (self.price_book, self.tariff_book):
            if book is not None and book.currency != self.contract.currency:
                raise PlanError(
                    f"price book currency {book.currency} differs from the contract's "
                    f"{self.contract.currency}; rerate does not convert currencies"
                )
        if len({p.id for p in self.profiles}) != len(self.profiles):
            raise PlanError("duplicate profile id")
        by_account: dict[int, list[tuple[int, int]]] = {}
        for o in self.ownership:
            end = utc_us(o.valid_to) if o.valid_to is not None else 2**62
            by_account.setdefault(o.account_id, []).append((utc_us(o.valid_from), end))
        for account, spans in by_account.items():
            spans.sort()
            for (_, end), (start, _) in itertools.pairwise(spans):
                if start < end:
                    raise PlanError(f"account {account}: overlapping ownership intervals")

    @property
    def customer_id(self) -> int:
        return self.contract.customer_id

    @property
    def voice_book(self) -> PriceBook | None:
        """The book whose tariffs rate CDRs."""
        return self.tariff_book if self.tariff_book is not None else self.price_book

    @property
    def version_ids(self) -> list[int]:
        """Ids of every price-book version the plan can rate with."""
        books = [b for b in (self.price_book, self.tariff_book) if b is not None]
        return sorted({v.id for b in books for v in b.versions})
