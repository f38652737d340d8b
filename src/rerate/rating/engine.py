"""The rating entry point: `rate(usage, plan, period) -> RatingResult`.

A pure function: canonical usage rows (Arrow, `rerate.usage.schema`) and a
`RatingPlan` in, rated rows, daily billing rows, period lines and a summary
out. No database, clock or file access; `output.write_run` persists a result.

One call rates one customer (the plan's contract) for one period in the
contract's billing time zone:
1. period selection (selection.py) -- rows of other periods are left out and
   only counted (`out_of_period`);
2. ownership -- rows of accounts the customer did not own at usage_start are
   kept as unrated `account_not_owned` (they belong to another customer's run);
3. CDRs (cdr.py) and cloud rows (cloud.py) are rated;
4. daily rows: rated rows summed per (account, local day, kind, item, region,
   band, unit, service, version, rules); amounts keep the full 10 decimals;
5. period lines (contract.py), each rounded to the minor unit -- the single
   rounding boundary; the summary's usage total is rounded the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rerate.kit.money import round_money
from rerate.kit.periods import Period
from rerate.rating.cdr import CdrDeck, CdrInput, parallel_slices, prepare_deck, rate_cdrs
from rerate.rating.chunks import ChunkColumn, ChunkColumns, chunk_layout
from rerate.rating.cloud import CloudInput, CloudPrices, prepare_prices, rate_cloud
from rerate.rating.contract import PeriodLine, SpendView, period_lines
from rerate.rating.fixed import SCALE, Scaled, decimal_array, from_scaled, safe_sum, validity
from rerate.rating.kernels import (
    SUMS_COUNT,
    SUMS_HI,
    SUMS_LO,
    SUMS_MAX,
    SUMS_MIN,
    compact_codes,
    dense_ranks,
    group_sums,
    radix_push,
    value_range,
)
from rerate.rating.plan import ConsumptionProfile, PlanError, RatingPlan, utc_us
from rerate.rating.prefixes import encode_destinations
from rerate.rating.rows import RATED, REASONS, Reason, RowState, StringPool, reason_code
from rerate.rating.selection import (
    AccountIndex,
    billing_day,
    period_bounds_us,
    select_period,
)
from rerate.rating.timings import timing_bits
from rerate.usage.schema import TIMESTAMP, UsageKind

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

_STATUS = pa.array(["rated", "unrated"], pa.string())
_KINDS = pa.array([UsageKind.CDR.value, UsageKind.CLOUD.value, "other"], pa.string())
_REQUIRED = ("record_id", "kind", "account_id", "usage_start", "usage_end")
# Every usage column `rate` reads (the others -- numbers as sent, hashes,
# sources -- are most of a stored row's bytes): callers read only these.
USAGE_COLUMNS = (
    *_REQUIRED,
    "service",
    "sku",
    "region",
    "quantity",
    "unit",
    "list_cost",
    "currency",
    "destination",
    "billable_seconds",
)
# Daily grouping packs its dimensions into one int64 key below this bound.
_KEY_LIMIT = 2**63
DEC = pa.decimal128(38, 10)

RATED_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("kind", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("account_id", pa.int64(), nullable=False),
        pa.field("usage_start", TIMESTAMP, nullable=False),
        pa.field("usage_end", TIMESTAMP, nullable=False),
        pa.field("day", pa.date32(), nullable=False),  # billing-tz local day
        pa.field("status", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("reason", pa.dictionary(pa.int8(), pa.string())),
        pa.field("service", pa.dictionary(pa.int32(), pa.string())),
        pa.field("item", pa.dictionary(pa.int32(), pa.string())),  # sku or destination group
        pa.field("region", pa.dictionary(pa.int32(), pa.string())),
        pa.field("prefix", pa.dictionary(pa.int32(), pa.string())),
        pa.field("band", pa.dictionary(pa.int32(), pa.string())),
        pa.field("unit", pa.dictionary(pa.int32(), pa.string())),
        pa.field("quantity", DEC),  # cloud: quantity; CDR: billed seconds
        pa.field("billed_seconds", pa.int64()),
        pa.field("included_quantity", DEC),  # covered by a profile allowance
        pa.field("list_amount", DEC),
        pa.field("net_amount", DEC),
        pa.field("currency", pa.dictionary(pa.int32(), pa.string())),
        pa.field("entry_id", pa.int64()),  # price entry or tariff entry
        pa.field("version_id", pa.int64()),
        pa.field("profile_id", pa.int64()),
        pa.field("tier_first", pa.int16()),
        pa.field("tier_last", pa.int16()),
        pa.field("rules", pa.dictionary(pa.int32(), pa.string())),
    ]
)

# Columns of RATED_SCHEMA that run files leave out: the same for every row of
# a run (customer_id, currency: summary.json has them) or fixed by entry_id
# (prefix, version_id: tariff and price entries are immutable and belong to
# one version; the daily rows keep both). Together they were a third of the
# cost of encoding rated CDRs. Rows handed to a part_sink come without them.
RUN_FILE_OMITS = frozenset({"customer_id", "currency", "prefix", "version_id"})

DAILY_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("account_id", pa.int64(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("service", pa.string()),
        pa.field("item", pa.string()),
        pa.field("region", pa.string()),
        pa.field("band", pa.string()),
        pa.field("unit", pa.string()),
        pa.field("prefix", pa.string()),  # when all rows share one prefix
        pa.field("entry_id", pa.int64()),  # when all rows share one entry
        pa.field("version_id", pa.int64()),
        pa.field("rules", pa.string()),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("quantity", DEC, nullable=False),
        pa.field("included_quantity", DEC, nullable=False),
        pa.field("list_amount", DEC, nullable=False),
        pa.field("net_amount", DEC, nullable=False),
    ]
)

LINES_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("line_no", pa.int32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source_id", pa.int64(), nullable=False),
        pa.field("description", pa.string(), nullable=False),
        pa.field("account_id", pa.int64()),
        pa.field("month", pa.string()),
        pa.field("percent", DEC),
        pa.field("base_amount", DEC),
        pa.field("amount", DEC, nullable=False),
        pa.field("currency", pa.string(), nullable=False),
    ]
)


@dataclass(frozen=True, slots=True)
class CurrencyTotals:
    currency: str
    usage_list: Decimal  # sum of rated list amounts, full scale
    usage_net: Decimal  # sum of rated net amounts, full scale
    usage_net_rounded: Decimal  # usage_net rounded to the minor unit
    period_lines: Decimal  # sum of the (rounded) period lines
    total: Decimal  # usage_net_rounded + period_lines


@dataclass(frozen=True, slots=True)
class RatingSummary:
    customer_id: int
    period_start: date
    period_end: date
    tz: str
    input_rows: int
    out_of_period: int  # rows another period's run takes
    rows: int  # rows of this run (rated + unrated)
    rated: int
    unrated: int
    unrated_by_reason: dict[str, int]
    totals: dict[str, CurrencyTotals]


@dataclass(frozen=True, slots=True)
class RatingResult:
    rated: pa.Table
    daily: pa.Table
    period_lines: pa.Table
    lines: tuple[PeriodLine, ...]
    summary: RatingSummary


def _column(usage: pa.Table, name: str, typ: pa.DataType, n: int) -> pa.Array:
    if name not in usage.column_names:
        return pa.nulls(n, typ)
    col = usage.column(name)
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return arr


def _timestamps(arr: pa.Array, name: str) -> I64:
    if arr.null_count:
        raise ValueError(f"usage column {name} has nulls")
    if not pa.types.is_timestamp(arr.type) or arr.type.tz is None:
        raise ValueError(f"usage column {name} must be a timezone-aware timestamp")
    arr = arr.cast(TIMESTAMP)
    return np.asarray(arr.cast(pa.int64()).to_numpy(), dtype=np.int64)


def _int_column(arr: pa.Array) -> tuple[I64, Bool]:
    valid = validity(arr)
    values = np.asarray(arr.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
    return values, valid


def _kind_codes(arr: pa.Array) -> npt.NDArray[np.int8]:
    """0 for 'cdr', 1 for 'cloud', 2 for anything else (null included).

    One hash lookup per row in Arrow (no per-row Python objects); on a
    dictionary column only the dictionary is looked up."""
    kinds = pa.array([UsageKind.CDR.value, UsageKind.CLOUD.value], pa.string())
    if pa.types.is_dictionary(arr.type):
        table = _kind_codes(arr.dictionary)
        idx = np.asarray(arr.indices.cast(pa.int64()).fill_null(-1).to_numpy(), dtype=np.int64)
        return np.asarray(np.append(table, np.int8(2))[idx], dtype=np.int8)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    found = pc.index_in(arr, value_set=kinds.cast(arr.type)).fill_null(2)
    return np.asarray(found.to_numpy(), dtype=np.int8)


def _take(arr: Any, idx: I64 | None) -> Any:
    """Rows `idx` of an Arrow, numpy or Scaled array (None: all)."""
    if idx is None:
        return arr
    if isinstance(arr, np.ndarray):
        return arr[idx]
    return arr.take(idx) if isinstance(arr, Scaled) else arr.take(pa.array(idx))


def _slices(values: npt.NDArray[Any]) -> ChunkColumn:
    return lambda lo, hi: values[lo:hi]


# Rows per chunk. A chunk holds whole accounts (everything cumulative --
# tiers, allowances -- is per account), so chunks are rated independently, on
# all cores, each with temporaries that the allocator reuses. 256 k rows keeps
# every temporary (2-4 MB) below glibc's mmap threshold, so they come from the
# threads' heaps again chunk after chunk; at 1 M rows each one was a fresh
# mapping, faulted in page by page and unmapped again (10 M CDRs: kernel time
# 3.9-4.3 s -> 2.1-2.4 s, 16.0 -> 14.5 CPU-s, peak RSS 3.8 -> 3.4 GB; docs/rating.md).
CHUNK_ROWS = 1 << 18


@dataclass(frozen=True, slots=True)
class _Rows:
    """The selected usage rows of one chunk."""

    start: I64
    end: I64
    account_id: I64
    codes: I32
    owned: Bool
    kind_code: npt.NDArray[np.int8]
    record_id: pa.Array
    # Arrow arrays; numpy pool codes for the cloud string columns.
    column: Callable[[str, pa.DataType], Any]


@dataclass(frozen=True, slots=True)
class Part:
    """What one chunk contributes to the result."""

    rated: pa.Table
    daily: pa.Table
    spend: SpendView
    reasons: I64  # row count per reason code (0 = rated)
    usage_list: int  # sums of the rated rows' amounts, units of 1e-10
    usage_net: int


# part_sink(chunk index, rated rows, daily rows) of one chunk.
PartSink = Callable[[int, pa.Table, pa.Table], None]


def rate(
    usage: pa.Table,
    plan: RatingPlan,
    period: Period,
    *,
    chunk_rows: int = CHUNK_ROWS,
    part_sink: PartSink | None = None,
) -> RatingResult:
    """Rate `usage` for the plan's customer over `period` (see the module docstring).

    More than `chunk_rows` rows are rated in chunks of whole accounts on all
    cores; the rated rows then come chunk by chunk (each chunk a run of
    consecutive account codes, its rows in input order) instead of in input
    order.

    With `part_sink`, each chunk's rated and daily rows are handed to it as
    `part_sink(chunk_index, rated, daily)` (from a worker thread) as soon as
    they are ready (the rated rows without the RUN_FILE_OMITS columns), and
    the rated rows are not kept: `result.rated` is then empty (`result.daily`
    is still complete). This bounds memory on large runs
    and takes their writing off the end of the run (output.RunWriter.write_part
    is such a sink)."""
    contract = plan.contract
    if period.tz != contract.billing_tz:
        raise PlanError(
            f"period zone {period.tz} differs from the contract's billing zone "
            f"{contract.billing_tz}"
        )
    missing = [c for c in _REQUIRED if c not in usage.column_names]
    if missing:
        raise ValueError(f"usage table lacks columns {missing}")
    n_in = usage.num_rows
    start_all, end_all, account_all, kind_all, selected = prepare_rows(
        usage, period, plan.overlap_selection
    )
    idx: I64 | None = None if bool(selected.all()) else np.flatnonzero(selected)
    n = n_in if idx is None else len(idx)
    if idx is None:
        start, end, account_id, kind_code = start_all, end_all, account_all, kind_all
    else:
        start, end = start_all[idx], end_all[idx]
        account_id, kind_code = account_all[idx], kind_all[idx]
    del start_all, end_all, selected, account_all, kind_all
    accounts = AccountIndex(plan.ownership, plan.customer_id)
    codes, owned = _ownership(accounts, account_id, start)
    is_cdr = kind_code == 0
    is_cloud = kind_code == 1
    cdr_start = start[is_cdr]
    facts = UsageFacts(
        cdr_span=_span(cdr_start),
        cloud_span=_span(start[is_cloud]),
        cloud_strings=_cloud_strings(usage) if bool(is_cloud.any()) else None,
    )
    del is_cdr, is_cloud

    def combos_of(timings: Sequence[Any], tz: str) -> I64:
        return np.unique(timing_bits(cdr_start, tz, timings))

    shared = build_shared(plan, facts, combos_of)
    parts = _rate_selected(
        usage,
        plan,
        period,
        shared,
        idx,
        (start, end, account_id, kind_code, codes, owned),
        chunk_rows=chunk_rows,
        part_sink=part_sink,
    )
    return combine(plan, period, shared, parts, n_in, n)


@dataclass(frozen=True, slots=True)
class UsageFacts:
    """What a run's shared rating tables depend on, of its whole usage: the
    first and last usage_start of the selected CDR and cloud rows (which
    price-book versions are compiled; None: no such rows) and the distinct
    values of the cloud string columns over every input row (interned in
    sorted order, so pool codes depend neither on row order nor on how the
    rows are split; None: no cloud rows selected). A distributed backend
    gathers them in one pass over the data (rating/backends/spark.py)."""

    cdr_span: tuple[int, int] | None
    cloud_span: tuple[int, int] | None
    cloud_strings: dict[str, list[str]] | None


@dataclass(slots=True)
class Shared:
    """What every chunk of one run shares: the string pool, the customer's
    accounts, the compiled CDR deck and cloud prices. Built once per run
    (`build_shared`) and read by every chunk, on threads here or pickled to
    the tasks of a distributed backend."""

    pool: StringPool
    accounts: AccountIndex
    deck: CdrDeck | None
    prices: CloudPrices | None


# combos_of(timings, tz): the distinct timing bit masks (timings.timing_bits)
# at the selected CDRs' starts, sorted; asked only when the deck has timings.
CombosOf = Callable[[Sequence[Any], str], I64]


def build_shared(plan: RatingPlan, facts: UsageFacts, combos_of: CombosOf) -> Shared:
    """The shared tables of a run, every string interned up front in a fixed
    order (deck, cloud columns sorted, prices)."""
    pool = StringPool()
    deck = None
    if facts.cdr_span is not None:
        deck = prepare_deck(plan, pool, span=facts.cdr_span, combos_of=combos_of)
    prices = None
    if facts.cloud_span is not None:
        strings = facts.cloud_strings or {}
        for name in CLOUD_STRINGS:
            pool.codes(tuple(sorted(strings.get(name, ()))))
        prices = prepare_prices(plan, pool, span=facts.cloud_span)
    return Shared(pool, AccountIndex(plan.ownership, plan.customer_id), deck, prices)


def _span(start: I64) -> tuple[int, int] | None:
    return (int(start.min()), int(start.max())) if len(start) else None


def _cloud_strings(usage: pa.Table) -> dict[str, list[str]]:
    """Distinct non-null values of each cloud string column, every input row."""
    out: dict[str, list[str]] = {}
    for name in CLOUD_STRINGS:
        if name in usage.column_names:
            out[name] = distinct_strings(usage.column(name).chunks)
    return out


def distinct_strings(chunks: Sequence[pa.Array]) -> list[str]:
    """Sorted distinct non-null values of string-like arrays."""
    values: set[str] = set()
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary.take(pc.unique(chunk.indices).drop_null())
        values.update(pc.unique(chunk.cast(pa.string())).drop_null().to_pylist())
    return sorted(values)


def _ownership(accounts: AccountIndex, account_id: I64, start: I64) -> tuple[I32, Bool]:
    """Account code (-1: never the customer's) and owned-at-start of each row."""
    n = len(account_id)
    codes = np.empty(n, dtype=np.int32)
    owned = np.empty(n, dtype=bool)

    def own(lo: int, hi: int) -> None:
        codes[lo:hi] = accounts.codes(account_id[lo:hi])
        owned[lo:hi] = accounts.owned(codes[lo:hi], start[lo:hi])

    parallel_slices(own, n)
    return codes, owned


def chunk_of_codes(counts: I64, chunk_rows: int = CHUNK_ROWS) -> I64:
    """Chunk of each account code given the selected rows per code (counts[0]
    is code -1), cut exactly as chunks.chunk_layout cuts them: accounts in
    code order, a new chunk wherever the running row count passes a multiple
    of `chunk_rows` (a distributed backend assigns rows to chunks with this,
    so its parts are the embedded engine's parts)."""
    if int(counts.sum()) <= chunk_rows:
        return np.zeros(len(counts), dtype=np.int64)
    cut = np.maximum(np.cumsum(counts) - 1, 0) // chunk_rows
    change = np.ones(len(cut), dtype=bool)
    change[1:] = cut[1:] != cut[:-1]
    return np.asarray(np.cumsum(change) - 1, dtype=np.int64)


def rate_part(
    usage: pa.Table, plan: RatingPlan, period: Period, shared: Shared
) -> tuple[Part, int, int]:
    """Rate rows that are whole accounts of a run, in input order, as one
    chunk with the run's shared tables: what `rate` does for each of its
    chunks (rated rows without the RUN_FILE_OMITS columns). Returns the part,
    the number of input rows and of selected rows; `combine` puts the parts
    of a run together."""
    missing = [c for c in _REQUIRED if c not in usage.column_names]
    if missing:
        raise ValueError(f"usage table lacks columns {missing}")
    start, end, account_id, kind_code, selected = prepare_rows(
        usage, period, plan.overlap_selection
    )
    idx: I64 | None = None if bool(selected.all()) else np.flatnonzero(selected)
    if idx is not None:
        start, end, account_id, kind_code = start[idx], end[idx], account_id[idx], kind_code[idx]
    codes, owned = _ownership(shared.accounts, account_id, start)
    parts = _rate_selected(
        usage,
        plan,
        period,
        shared,
        idx,
        (start, end, account_id, kind_code, codes, owned),
        chunk_rows=max(len(start), 1),
        part_sink=None,
        omit=RUN_FILE_OMITS,
    )
    return parts[0], usage.num_rows, len(start)


def _rate_selected(
    usage: pa.Table,
    plan: RatingPlan,
    period: Period,
    shared: Shared,
    idx: I64 | None,
    selected: tuple[I64, I64, I64, npt.NDArray[np.int8], I32, Bool],
    *,
    chunk_rows: int,
    part_sink: PartSink | None,
    omit: frozenset[str] = frozenset(),
) -> list[Part]:
    """The selected rows (`idx` of the input, None: all; their start, end,
    account, kind code, account code and owned) rated in chunks of whole
    accounts on all cores."""
    n_in = usage.num_rows
    pool, deck, prices, accounts = shared.pool, shared.deck, shared.prices, shared.accounts
    # Chunks of whole accounts, each chunk's rows laid out contiguously: every
    # column is permuted into chunk order once (chunks.py), so a chunk's rows
    # are slices of them.
    layout = chunk_layout(selected[4], chunk_rows)
    columns = ChunkColumns(layout, idx, n_in)
    start, end, account_id, kind_code, codes, owned = (columns.move_selected(v) for v in selected)
    del selected

    # Input columns, each prepared once for all rows (coded as numpy where the
    # raters want codes), in chunk order.
    chunked: dict[str, ChunkColumn] = {
        "record_id": columns.strings(usage.column("record_id")),
    }
    if deck is not None:
        keys, billable = _cdr_columns(usage, columns.input_buffer)
        chunked["destination_key"] = _slices(columns.move_inputs(keys))
        chunked["billable_seconds"] = _slices(columns.move_inputs(billable))
        del keys, billable
    if prices is not None:
        for name in CLOUD_STRINGS:
            values = _pool_code_column(usage, name, pool, columns.input_buffer(np.dtype(np.int32)))
            chunked[name] = _slices(columns.move_inputs(values))
        for name in ("quantity", "list_cost"):
            if name in usage.column_names:
                chunked[name] = columns.decimals(usage.column(name))
    # The row places are only needed again by a column gathered chunk by
    # chunk (decimals beyond the fixed point), whose reader keeps them.
    spans = layout.spans
    del columns, layout

    def rows_of(lo: int, hi: int) -> _Rows:
        def column(name: str, typ: pa.DataType) -> Any:
            if name in chunked:
                return chunked[name](lo, hi)
            return pa.nulls(hi - lo, typ)

        return _Rows(
            start=start[lo:hi],
            end=end[lo:hi],
            account_id=account_id[lo:hi],
            codes=codes[lo:hi],
            owned=owned[lo:hi],
            kind_code=kind_code[lo:hi],
            record_id=column("record_id", pa.string()),
            column=column,
        )

    def work(index: int, span: tuple[int, int]) -> Part:
        rows = rows_of(*span)
        if part_sink is None:
            return _rate_rows(plan, period, pool, accounts, deck, prices, rows, omit)
        # Streamed parts skip the columns the run files leave out.
        part = _rate_rows(plan, period, pool, accounts, deck, prices, rows, RUN_FILE_OMITS)
        part_sink(index, part.rated, part.daily)
        return replace(part, rated=RATED_SCHEMA.empty_table())

    if len(spans) == 1:
        return [work(0, spans[0])]
    with ThreadPoolExecutor(max_workers=min(len(spans), os.cpu_count() or 1)) as ex:
        return list(ex.map(work, range(len(spans)), spans))


def combine(
    plan: RatingPlan,
    period: Period,
    shared: Shared,
    parts: Sequence[Part],
    n_in: int,
    n: int,
) -> RatingResult:
    """The run's result from its chunks' parts (in chunk order): daily rows,
    period lines (from the spend of every part) and the summary."""
    contract = plan.contract
    rated = pa.concat_tables([p.rated for p in parts])
    daily = pa.concat_tables([p.daily for p in parts])
    spend = SpendView.concat([p.spend for p in parts])
    lines = period_lines(contract, period, shared.pool, spend, _profile_fee_accounts(plan, period))
    summary = _summary(plan, period, parts, lines, n_in, n)
    return RatingResult(
        rated=rated,
        daily=daily,
        period_lines=_lines_table(plan, lines),
        lines=tuple(lines),
        summary=summary,
    )


def _cdr_columns(
    usage: pa.Table, buffer: Callable[[np.dtype[Any]], npt.NDArray[Any]]
) -> tuple[I64, I64]:
    """Destination keys (prefixes.encode_destinations; -1: invalid) and
    billable seconds (null: 0) of every input row, slice by slice on all cores."""
    n = usage.num_rows
    keys = buffer(np.dtype(np.int64))
    billable = buffer(np.dtype(np.int64))

    def prepare(lo: int, hi: int) -> None:
        part = usage.slice(lo, hi - lo)
        if "destination" in usage.column_names:
            keys[lo:hi] = encode_destinations(part.column("destination"))[0]
        else:
            keys[lo:hi] = -1
        billable[lo:hi] = _int_column(_column(part, "billable_seconds", pa.int64(), hi - lo))[0]

    parallel_slices(prepare, n)
    return keys, billable


def prepare_rows(
    usage: pa.Table, period: Period, overlap: bool
) -> tuple[I64, I64, I64, npt.NDArray[np.int8], Bool]:
    """(usage_start, usage_end, account_id, kind code -- 0 cdr, 1 cloud, 2
    other --, selected for the period) of every input row, slice by slice of
    the input on all cores."""
    n = usage.num_rows
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    account = np.empty(n, dtype=np.int64)
    kind = np.empty(n, dtype=np.int8)
    selected = np.empty(n, dtype=bool)

    def prepare(lo: int, hi: int) -> None:
        part = usage.slice(lo, hi - lo)
        s = _timestamps(_column(part, "usage_start", TIMESTAMP, hi - lo), "usage_start")
        e = _timestamps(_column(part, "usage_end", TIMESTAMP, hi - lo), "usage_end")
        start[lo:hi], end[lo:hi] = s, e
        selected[lo:hi] = select_period(s, e, period, overlap=overlap)
        account[lo:hi] = _int_column(_column(part, "account_id", pa.int64(), hi - lo))[0]
        kind[lo:hi] = _kind_codes(_column(part, "kind", pa.string(), hi - lo))

    parallel_slices(prepare, n)
    return start, end, account, kind, selected


CLOUD_STRINGS = ("service", "sku", "region", "unit", "currency")


def _pool_code_column(usage: pa.Table, name: str, pool: StringPool, out: I32) -> I32:
    """Pool codes of a string column (-1 for null), input chunk by input chunk:
    chunks are dictionary-encoded (when they are not already) and their
    indices mapped on all cores, while the dictionaries are interned on this
    thread in chunk order, so codes do not depend on thread scheduling. No
    column is ever combined or unified whole."""
    if name not in usage.column_names:
        out[:] = -1
        return out
    chunks = usage.column(name).chunks
    starts = np.cumsum([0] + [len(c) for c in chunks]).tolist()

    def encode(chunk: pa.Array) -> pa.DictionaryArray:
        if pa.types.is_dictionary(chunk.type):
            return chunk
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            chunk = chunk.cast(pa.string())
        return pc.dictionary_encode(chunk)

    def place(i: int) -> None:
        indices = encoded[i].indices.cast(pa.int64()).fill_null(-1).to_numpy()
        out[starts[i] : starts[i + 1]] = tables[i][np.asarray(indices, dtype=np.int64)]

    if len(chunks) <= 1:
        # One chunk (a small customer's rows): a thread pool per column cost
        # more than the encoding itself.
        encoded = [encode(c) for c in chunks]
        tables = [_dictionary_codes(pool, c) for c in encoded]
        for i in range(len(encoded)):
            place(i)
        return out
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        encoded = list(ex.map(encode, chunks))
        tables = [_dictionary_codes(pool, c) for c in encoded]
        list(ex.map(place, range(len(encoded))))
    return out


def _dictionary_codes(pool: StringPool, chunk: pa.DictionaryArray) -> I32:
    """Pool codes of a chunk's dictionary, and -1 (for null) at its end."""
    codes = pool.codes(chunk.dictionary.cast(pa.string()).to_pylist())
    return np.append(codes, -1).astype(np.int32)


def _rate_rows(
    plan: RatingPlan,
    period: Period,
    pool: StringPool,
    accounts: AccountIndex,
    deck: CdrDeck | None,
    prices: CloudPrices | None,
    rows: _Rows,
    omit: frozenset[str] = frozenset(),
) -> Part:
    """Rate one chunk: rows of whole accounts (rated rows without `omit`)."""
    n = len(rows.start)
    kind_code = rows.kind_code
    is_cdr = kind_code == 0
    is_cloud = kind_code == 1
    col = rows.column
    all_cdr, all_cloud = bool(is_cdr.all()), bool(is_cloud.all())
    # One kind only (the common case): the rater's state is the result, no copy.
    state = RowState(n) if not (all_cdr or all_cloud) else None
    prefix_values: pa.Array | None = None
    if deck is not None and bool(is_cdr.any()):
        cidx = None if all_cdr else np.flatnonzero(is_cdr)

        def pick(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return values if cidx is None else values[cidx]

        cdr_state = rate_cdrs(
            CdrInput(
                start=pick(rows.start),
                account_code=pick(rows.codes),
                owned=pick(rows.owned),
                destination_key=pick(col("destination_key", pa.int64())),
                billable=pick(col("billable_seconds", pa.int64())),
                record_id=_take(rows.record_id, cidx),
            ),
            plan,
            pool,
            accounts.accounts,
            deck,
        )
        prefix_values = cdr_state.prefix_values
        if state is None:
            state = cdr_state
        else:
            state.quantity_scale = cdr_state.quantity_scale
            state.put(cidx, cdr_state)
    if prices is not None and bool(is_cloud.any()):
        gidx = None if all_cloud else np.flatnonzero(is_cloud)

        def gpick(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return values if gidx is None else values[gidx]

        cloud_state = rate_cloud(
            CloudInput(
                start=gpick(rows.start),
                account_code=gpick(rows.codes),
                owned=gpick(rows.owned),
                service=_take(col("service", pa.string()), gidx),
                sku=_take(col("sku", pa.string()), gidx),
                region=_take(col("region", pa.string()), gidx),
                unit=_take(col("unit", pa.string()), gidx),
                currency=_take(col("currency", pa.string()), gidx),
                quantity=_take(col("quantity", DEC), gidx),
                list_cost=_take(col("list_cost", DEC), gidx),
                record_id=_take(rows.record_id, gidx),
            ),
            plan,
            pool,
            accounts.accounts,
            prices,
        )
        if state is None:
            state = cloud_state
        else:
            if cloud_state.row_scale is not None:
                # Cloud quantities at several scales: CDR seconds keep theirs.
                row_scale = np.full(state.n, state.quantity_scale, dtype=np.int8)
                row_scale[gidx] = cloud_state.row_scale
                state.put(gidx, cloud_state)
                state.row_scale = row_scale
                if cloud_state.mixed_scale is not None:
                    state.mixed_scale = np.zeros(state.n, dtype=bool)
                    state.mixed_scale[gidx] = cloud_state.mixed_scale
                state.quantity_scale = int(row_scale.max())
            else:
                # One quantity scale for the mixed table: the larger of the two
                # (seconds are scaled up; they are small).
                target = max(state.quantity_scale, cloud_state.quantity_scale)
                if bool(is_cdr.any()) and state.quantity_scale < target:
                    state.rescale_quantities(target)
                cloud_state.rescale_quantities(target)
                state.put(gidx, cloud_state)
                state.quantity_scale = target
    if state is None:
        state = RowState(n)
    state.reason[kind_code == 2] = reason_code(Reason.UNKNOWN_KIND)

    day = billing_day(rows.start, period).astype(np.int32)
    rated_table = _rated_table(
        plan,
        state,
        pool,
        rows.record_id,
        kind_code,
        rows.account_id,
        rows.start,
        rows.end,
        day,
        prefix_values,
        omit,
    )
    daily = _daily_table(
        plan, state, pool, rows.account_id, rows.codes, kind_code, day, prefix_values
    )
    rated = state.rated
    return Part(
        rated=rated_table,
        daily=daily,
        spend=SpendView.of_rows(
            state.net_amount[rated], state.service[rated], state.item[rated], state.region[rated]
        ),
        reasons=np.bincount(state.reason.astype(np.int64), minlength=len(REASONS) + 1),
        usage_list=safe_sum(state.list_amount[rated]),
        usage_net=safe_sum(state.net_amount[rated]),
    )


def _profile_fee_accounts(plan: RatingPlan, period: Period) -> list[tuple[ConsumptionProfile, int]]:
    """(profile, account) pairs owed a profile fee: accounts of a profile with a
    fee that the customer owned at some time during the period."""
    p0, p1 = period_bounds_us(period)
    owned: set[int] = set()
    for o in plan.ownership:
        if o.customer_id != plan.customer_id:
            continue
        lo = utc_us(o.valid_from)
        hi = utc_us(o.valid_to) if o.valid_to is not None else 2**62
        if lo < p1 and hi > p0:
            owned.add(o.account_id)
    pairs: list[tuple[ConsumptionProfile, int]] = []
    for profile in sorted(plan.profiles, key=lambda p: p.id):
        if profile.period_fee is None:
            continue
        pairs.extend((profile, a) for a in sorted(profile.account_ids) if a in owned)
    return pairs


def _nullable_int(values: I64, valid: Bool) -> pa.Array:
    return pa.array(values, type=pa.int64(), mask=~valid if not bool(valid.all()) else None)


def _rated_table(
    plan: RatingPlan,
    st: RowState,
    pool: StringPool,
    record_id: pa.Array,
    kind_code: npt.NDArray[np.int8],
    account_id: I64,
    start: I64,
    end: I64,
    day: I32,
    prefix_values: pa.Array | None,
    omit: frozenset[str] = frozenset(),
) -> pa.Table:
    """The rated rows of a chunk (RATED_SCHEMA without the `omit` columns)."""
    n = st.n
    rated = st.rated
    reason_idx = st.reason.astype(np.int8) - 1
    reason = pa.DictionaryArray.from_arrays(
        pa.array(reason_idx, pa.int8(), mask=rated if bool(rated.any()) else None),
        pa.array([r.value for r in REASONS], pa.string()),
    )
    status = pa.DictionaryArray.from_arrays(pa.array((~rated).astype(np.int8), pa.int8()), _STATUS)
    kind = pa.DictionaryArray.from_arrays(pa.array(kind_code, pa.int8()), _KINDS)
    cdr_rated = rated & st.is_cdr
    # One thunk per RATED_SCHEMA field, in order; omitted fields are never built.
    makers: list[Callable[[], pa.Array]] = [
        lambda: pa.array(np.full(n, plan.customer_id, dtype=np.int64)),
        lambda: record_id.cast(pa.string()),
        lambda: kind,
        lambda: pa.array(account_id, pa.int64()),
        lambda: pa.array(start, pa.int64()).cast(TIMESTAMP),
        lambda: pa.array(end, pa.int64()).cast(TIMESTAMP),
        lambda: pa.array(day, pa.int32()).cast(pa.date32()),
        lambda: status,
        lambda: reason,
        lambda: _values_dictionary(st.service, pool.array()),
        lambda: _values_dictionary(st.item, pool.array()),
        lambda: _values_dictionary(st.region, pool.array()),
        lambda: _values_dictionary(st.prefix, prefix_values),
        lambda: _values_dictionary(st.band, pool.array()),
        lambda: _values_dictionary(st.unit, pool.array()),
        lambda: _by_scale(
            st.row_scale,
            st.quantity_scale,
            lambda i, s: _dec(_at(st.quantity, i), _at(st.has_quantity, i), s),
        ),
        lambda: _nullable_int(st.billed_seconds, cdr_rated),
        lambda: _by_scale(
            st.row_scale,
            st.quantity_scale,
            lambda i, s: _dec(_at(st.included, i), _at(rated, i), s),
        ),
        lambda: decimal_array(st.list_amount, rated),
        lambda: decimal_array(st.net_amount, rated),
        lambda: _values_dictionary(np.where(rated, st.currency, -1).astype(np.int32), pool.array()),
        lambda: _nullable_int(st.entry_id, st.entry_id >= 0),
        lambda: _nullable_int(st.version_id, st.version_id >= 0),
        lambda: _nullable_int(st.profile_id, st.profile_id >= 0),
        lambda: pa.array(st.tier_first, pa.int16(), mask=st.tier_first < 0),
        lambda: pa.array(st.tier_last, pa.int16(), mask=st.tier_last < 0),
        lambda: _values_dictionary(st.rules, pool.array()),
    ]
    fields = [f for f in RATED_SCHEMA if f.name not in omit]
    arrays = [make() for f, make in zip(RATED_SCHEMA, makers, strict=True) if f.name not in omit]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _mixed_scale_sums(st: RowState, key: I64, rated: Bool) -> dict[int, Decimal]:
    """Exact quantity sums of the daily groups holding rows at several scales
    (a flat-priced SKU with both 0.0072838553 and 5e12 in one group; rare): the
    compiled grouping adds raw int64 values, which is only right at one scale."""
    if st.mixed_scale is None or st.row_scale is None:
        return {}
    rows = np.flatnonzero(st.mixed_scale & rated)
    sums: dict[int, Decimal] = {}
    for k, q, s in zip(
        key[rows].tolist(), st.quantity[rows].tolist(), st.row_scale[rows].tolist(), strict=True
    ):
        sums[k] = sums.get(k, Decimal(0)) + from_scaled(q, s)
    return sums


def _patch(column: pa.Array, keys: I64, exact: dict[int, Decimal]) -> pa.Array:
    """`column` with the values of `exact` (by group key) put in."""
    if not exact:
        return column
    values = column.to_pylist()
    for i, k in enumerate(keys.tolist()):
        if k in exact:
            values[i] = exact[k]
    return pa.array(values, DEC)


def _at(values: npt.NDArray[Any], idx: I64 | None) -> npt.NDArray[Any]:
    return values if idx is None else values[idx]


def _by_scale(
    scales: npt.NDArray[np.int8] | None,
    scale: int,
    make: Callable[[I64 | None, int], pa.Array],
) -> pa.Array:
    """`make(rows, scale)` for each scale of a per-row scale array (None: one
    scale for all rows), put back in row order."""
    if scales is None:
        return make(None, scale)
    distinct = np.unique(scales)
    if len(distinct) == 1:
        return make(None, int(distinct[0]))
    pieces, where = [], []
    for s in distinct.tolist():
        idx = np.flatnonzero(scales == s)
        pieces.append(make(idx, s))
        where.append(idx)
    inverse = np.empty(len(scales), dtype=np.int64)
    inverse[np.concatenate(where)] = np.arange(len(scales))
    return pa.concat_arrays(pieces).take(pa.array(inverse))


def _dec(values: I64, valid: Bool | None, scale: int) -> pa.Array:
    """int64 units of 10**-scale as decimal128(38, 10). Scaling up in int64 when
    it cannot overflow skips Arrow's 128-bit decimal cast (a second pass)."""
    if scale == SCALE:
        return decimal_array(values, valid)
    factor = 10 ** (SCALE - scale)
    bound = (2**63 - 1) // factor
    if len(values) == 0 or max(-int(values.min()), int(values.max())) <= bound:
        return decimal_array(values * factor, valid)
    return decimal_array(values, valid, scale).cast(DEC)


def _join(hi: I64, lo: I64, scale: int = SCALE) -> pa.Array:
    """Decimal array of (hi * 2**32 + lo) units of 10**-scale, exact beyond int64."""
    safe = bool(np.all(np.abs(hi) < 2**30)) and bool(np.all(lo < 2**62))
    if safe:
        return _dec((hi << 32) + lo, None, scale)
    return pa.array(
        [
            from_scaled((int(h) << 32) + int(low), scale)
            for h, low in zip(hi.tolist(), lo.tolist(), strict=True)
        ],
        DEC,
    )


def _dense_ids(values: I64, known: Sequence[int]) -> tuple[I64, I64]:
    """Dense codes 1.. for ids among the sorted `known` ids (0 for -1)."""
    table = np.array(sorted(set(known)), dtype=np.int64)
    if len(table) == 0:
        return np.zeros(len(values), dtype=np.int64), table
    lo, hi = int(table[0]), int(table[-1])
    if hi - lo < 1 << 20:
        direct = np.zeros(hi - lo + 1, dtype=np.int64)
        direct[table - lo] = np.arange(1, len(table) + 1)
        return np.where(values >= 0, direct[np.clip(values - lo, 0, hi - lo)], 0), table
    pos = np.clip(np.searchsorted(table, values), 0, len(table) - 1)
    return np.where(values >= 0, pos + 1, 0), table


def _values_dictionary(codes: I32, values: pa.Array | None) -> pa.DictionaryArray:
    """Dictionary array of `codes` indexing `values` (-1 -> null), keeping only
    the values actually used."""
    if values is None or len(values) == 0:
        return pa.DictionaryArray.from_arrays(
            pa.nulls(len(codes), pa.int32()), pa.array([], pa.string())
        )
    idx, present, null = compact_codes(np.asarray(codes, dtype=np.int32), len(values))
    return pa.DictionaryArray.from_arrays(
        pa.array(idx, pa.int32(), mask=null if bool(null.any()) else None),
        values.take(pa.array(present)).cast(pa.string()),
    )


def _daily_table(
    plan: RatingPlan,
    st: RowState,
    pool: StringPool,
    account_id: I64,
    codes: I32,
    kind_code: npt.NDArray[np.int8],
    day: I32,
    prefix_values: pa.Array | None,
) -> pa.Table:
    """Rated rows summed per (account, billing day, kind, service, item, region,
    band, unit, version, rules); see docs/rating.md, "Outputs".

    Works on full-length columns (unrated rows fall into a group that is
    dropped), so no column is ever gathered row by row."""
    rated = st.rated
    if not bool(rated.any()):
        return DAILY_SCHEMA.empty_table()
    version_ids = plan.version_ids
    ver_table = np.array(version_ids, dtype=np.int64)
    # Mixed-radix key over every grouping dimension. Pool codes are renumbered
    # densely, so each radix is the number of distinct values present and the
    # key fits in 64 bits far beyond any realistic run. Dimensions are produced
    # one at a time so that only one row-sized temporary is alive at once.
    # Each dimension is read as it is stored (int8/int32 codes, no widened
    # copy); a pool dimension is renumbered by dense rank of the codes present.
    sources: list[tuple[str, Callable[[], npt.NDArray[np.integer]]]] = [
        ("plain", lambda: codes),
        ("plain", lambda: day),
        ("plain", lambda: kind_code),
        ("pool", lambda: st.item),
        ("pool", lambda: st.region),
        ("pool", lambda: st.band),
        ("pool", lambda: st.unit),
        ("pool", lambda: st.service),
        ("plain", lambda: _dense_ids(st.version_id, version_ids)[0]),
        ("pool", lambda: st.rules),
    ]
    backs: list[I64] = []  # digit -> stored value
    sizes: list[int] = []
    key = np.zeros(st.n, dtype=np.int64)
    radix_total = 1
    for how, make in sources:
        v = make()
        lo, hi = value_range(v)
        if lo == hi:
            # Constant dimension (one kind, one unit, no region...): no radix.
            backs.append(np.array([lo], dtype=np.int64))
            sizes.append(1)
            continue
        if how == "pool":
            rank = dense_ranks(v, lo, hi)
            back = np.flatnonzero(rank >= 0) + lo
        else:
            rank = np.arange(hi - lo + 1, dtype=np.int64)
            back = np.arange(lo, hi + 1, dtype=np.int64)
        backs.append(back)
        size = len(back)
        sizes.append(size)
        radix_total *= size
        if radix_total < _KEY_LIMIT:
            radix_push(key, v, lo, rank, size)
    if radix_total >= _KEY_LIMIT:
        # Beyond 64 bits (never seen in practice): rank the dimension tuples.
        columns = [np.asarray(make(), dtype=np.int64) for _, make in sources]
        order0 = np.lexsort(columns[::-1])
        change = np.zeros(st.n, dtype=bool)
        change[0] = True
        for values in columns:
            v = values[order0]
            change[1:] |= v[1:] != v[:-1]
        key = np.empty(st.n, dtype=np.int64)
        key[order0] = np.cumsum(change) - 1
    # Hash grouping in one compiled pass (kernels.group_sums): unrated rows
    # are skipped, amounts summed exactly as 32-bit halves, entry and prefix
    # min/max kept to tell whether a group has a single one; groups are then
    # put in key order.
    key = np.where(rated, key, -1)
    prefix_codes = (
        st.prefix.astype(np.int64) if prefix_values is not None else np.zeros(st.n, np.int64)
    )
    uniq, first_row, acc = group_sums(
        key,
        np.where(rated, st.quantity, 0),
        st.included,
        st.list_amount,
        st.net_amount,
        st.entry_id,
        prefix_codes,
    )
    exact = _mixed_scale_sums(st, key, rated)
    del key, prefix_codes
    order = np.argsort(uniq)
    m = len(order)
    if radix_total < _KEY_LIMIT:
        packed = uniq[order]
        parts: list[I64] = []
        for size in reversed(sizes):
            parts.append(packed % size)
            packed = packed // size
        parts.reverse()
        parts = [back[p] for p, back in zip(parts, backs, strict=True)]
    else:
        parts = [values[first_row[order]] for values in columns]
    acct_code, dday, kind, item, region, band, unit, service, ver_d, rules = parts
    acc = acc[order]
    counts = acc[:, SUMS_COUNT]

    def strings(pool_codes: I64) -> pa.Array:
        return pool.dictionary(pool_codes.astype(np.int32)).cast(pa.string())

    def amount(column: int, scale: int = SCALE, idx: I64 | None = None) -> pa.Array:
        return _join(_at(acc[:, SUMS_HI + column], idx), _at(acc[:, SUMS_LO + column], idx), scale)

    # A daily row lies within one (account, item): one quantity scale each.
    group_scale = None if st.row_scale is None else st.row_scale[first_row[order]]

    e_min, e_max = acc[:, SUMS_MIN], acc[:, SUMS_MAX]
    if prefix_values is not None:
        p_min, p_max = acc[:, SUMS_MIN + 1], acc[:, SUMS_MAX + 1]
    else:
        p_min = p_max = np.full(m, -1, dtype=np.int64)
    # Account codes map back to ids (every rated row has a code: it is owned).
    code_to_id = np.zeros(int(codes.max()) + 1 if len(codes) else 1, dtype=np.int64)
    owned_rows = codes >= 0
    code_to_id[codes[owned_rows]] = account_id[owned_rows]
    version = np.where(ver_d > 0, ver_table[np.maximum(ver_d - 1, 0)] if len(ver_table) else 0, -1)
    kinds = pa.DictionaryArray.from_arrays(pa.array(kind.astype(np.int8)), _KINDS)
    out = {
        "customer_id": pa.array(np.full(m, plan.customer_id, dtype=np.int64)),
        "account_id": pa.array(code_to_id[acct_code], pa.int64()),
        "day": pa.array(dday.astype(np.int32), pa.int32()).cast(pa.date32()),
        "kind": kinds.cast(pa.string()),
        "service": strings(service),
        "item": strings(item),
        "region": strings(region),
        "band": strings(band),
        "unit": strings(unit),
        "prefix": _values_dictionary(
            np.where(p_min == p_max, p_min, -1).astype(np.int32), prefix_values
        ).cast(pa.string()),
        "entry_id": _nullable_int(e_min, (e_min == e_max) & (e_min >= 0)),
        "version_id": _nullable_int(version, version >= 0),
        "rules": strings(rules),
        "currency": pa.array([plan.contract.currency] * m, pa.string()),
        "rows": pa.array(counts, pa.int64()),
        "quantity": _patch(
            _by_scale(group_scale, st.quantity_scale, lambda i, s: amount(0, s, i)),
            uniq[order],
            exact,
        ),
        "included_quantity": _by_scale(
            group_scale, st.quantity_scale, lambda i, s: amount(1, s, i)
        ),
        "list_amount": amount(2),
        "net_amount": amount(3),
    }
    return pa.Table.from_pydict(out, schema=DAILY_SCHEMA)


def _lines_table(plan: RatingPlan, lines: Sequence[PeriodLine]) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "customer_id": [plan.customer_id] * len(lines),
            "line_no": list(range(1, len(lines) + 1)),
            "kind": [ln.kind for ln in lines],
            "source_id": [ln.source_id for ln in lines],
            "description": [ln.description for ln in lines],
            "account_id": [ln.account_id for ln in lines],
            "month": [ln.month for ln in lines],
            "percent": [ln.percent for ln in lines],
            "base_amount": [ln.base_amount for ln in lines],
            "amount": [ln.amount for ln in lines],
            "currency": [ln.currency for ln in lines],
        },
        schema=LINES_SCHEMA,
    )


def _summary(
    plan: RatingPlan,
    period: Period,
    parts: Sequence[Part],
    lines: Sequence[PeriodLine],
    n_in: int,
    n: int,
) -> RatingSummary:
    counts = np.sum([p.reasons for p in parts], axis=0)
    n_rated = int(counts[RATED])
    by_reason = {r.value: int(counts[i + 1]) for i, r in enumerate(REASONS) if counts[i + 1]}
    cur = plan.contract.currency
    with localcontext() as ctx:
        ctx.prec = 100
        usage_list = from_scaled(sum(p.usage_list for p in parts))
        usage_net = from_scaled(sum(p.usage_net for p in parts))
        rounded = round_money(usage_net, cur, plan.contract.rounding)
        lines_total = sum((ln.amount for ln in lines), Decimal(0))
        totals = {
            cur: CurrencyTotals(
                currency=cur,
                usage_list=usage_list,
                usage_net=usage_net,
                usage_net_rounded=rounded,
                period_lines=lines_total,
                total=rounded + lines_total,
            )
        }
    return RatingSummary(
        customer_id=plan.customer_id,
        period_start=period.start,
        period_end=period.end,
        tz=period.tz,
        input_rows=n_in,
        out_of_period=n_in - n,
        rows=n,
        rated=n_rated,
        unrated=n - n_rated,
        unrated_by_reason=by_reason,
        totals=totals,
    )
