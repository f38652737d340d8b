"""Rating cloud usage: price entries, tiers, profiles, pass-through, contract rules.

For each cloud row (docs/rating.md, "Cloud"):
1. the price-book version in force at usage_start;
2. the price entry for (sku, region) in that version, else the generic
   (sku, no region) entry;
3. a unit_price_override rule matching the row (most specific scope wins);
4. a row with an entry or an override is priced by quantity (null
   quantity -> `invalid_quantity`); otherwise its list_cost passes through when
   the contract allows it (`currency_mismatch` if its currency differs),
   else the row is unrated with `no_price`;
5. tiers and units-profile allowances use the cumulative axis per
   (account, SKU) (tiers.py); list = price-book amount of the slice
   (pass-through: list_cost; override without entry: list_cost or 0);
6. net = override price x chargeable quantity (override) or list, then the
   winning discount or markup.

Quantities are held as int64 at scale qs: the smallest number of decimals
(<= 10) that represents every quantity, tier bound and allowance exactly.
Amounts are round_half_up(quantity * price / 10**qs) at scale 10, the same
value as Decimal arithmetic rounded to 10 places.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rerate.rating.contract import (
    RuleMatcher,
    apply_adjustments,
    intern_labels,
    label_codes,
    rows_by_winner,
)
from rerate.rating.fixed import (
    RatingOverflow,
    Scaled,
    decimal_column,
    decimal_places,
    from_scaled,
    mul_div,
    to_scaled,
)
from rerate.rating.plan import (
    ConsumptionProfile,
    PriceEntry,
    ProfileUnit,
    RatingPlan,
    RuleKind,
    Tier,
    TierMode,
)
from rerate.rating.rows import Reason, RowState, StringPool, reason_code
from rerate.rating.tiers import (
    TierTables,
    allowance_cover,
    check_axis_range,
    exclusive_cumsum,
    group_totals,
    order_rows,
    price_axis,
)

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

_DENSE_LIMIT = 1 << 25  # cells of the (version, sku, region) lookup table


@dataclass(frozen=True, slots=True)
class CloudInput:
    start: I64
    account_code: I32
    owned: Bool
    service: pa.Array | I32  # strings, or pool codes
    sku: pa.Array | I32  # strings, or pool codes
    region: pa.Array | I32  # strings, or pool codes
    unit: pa.Array | I32  # strings, or pool codes
    currency: pa.Array | I32  # strings, or pool codes
    quantity: pa.Array | Scaled  # decimals: Arrow, or already converted
    list_cost: pa.Array | Scaled
    record_id: pa.Array


def pool_codes(column: pa.Array | I32, pool: StringPool) -> I32:
    """Pool code of each string (-1 for null), via Arrow's dictionary encoding.
    A numpy array is taken as codes already (the engine codes columns once)."""
    if isinstance(column, np.ndarray):
        return column.astype(np.int32, copy=False)
    if len(column) == 0:
        return np.zeros(0, dtype=np.int32)
    if pa.types.is_dictionary(column.type):
        enc = column
    else:
        enc = pc.dictionary_encode(column.cast(pa.string()))
    codes = pool.codes(enc.dictionary.cast(pa.string()).to_pylist())
    idx = enc.indices
    raw = np.asarray(idx.fill_null(0).to_numpy(), dtype=np.int64)
    out = codes[raw] if len(codes) else np.full(len(raw), -1, dtype=np.int32)
    if idx.null_count:
        out = np.where(np.asarray(idx.is_valid().to_numpy(zero_copy_only=False)), out, -1)
    return out.astype(np.int32)


def _needed_places(q10: I64) -> int:
    """Fewest decimals (0..10) that represent every value of q10 (scale 10) exactly."""
    nz = q10[q10 != 0]
    if len(nz) == 0:
        return 0
    # Guess from a sample, confirm with one pass over everything; search only
    # if the guess was too optimistic.
    sample = nz[:: max(1, len(nz) // 4096)]
    guess = _places_of(sample)
    if bool(np.all(nz % 10 ** (10 - guess) == 0)):
        return guess
    return _places_of(nz)


def _places_of(nz: I64) -> int:
    lo, hi = 0, 10  # answer in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if bool(np.all(nz % 10 ** (10 - mid) == 0)):
            hi = mid
        else:
            lo = mid + 1
    return lo


def quantity_column(column: pa.Array | Scaled, plan_places: int) -> tuple[I64, Bool, int]:
    """(quantities at scale qs, validity, qs); see the module docstring."""
    try:
        q10, valid = decimal_column(column)
    except RatingOverflow:
        for qs in range(plan_places, 10):
            try:
                q, valid = decimal_column(column, qs)
            except (pa.ArrowInvalid, RatingOverflow):
                continue
            return q, valid, qs
        raise
    qs = max(_needed_places(q10[valid]), plan_places)
    return q10 // 10 ** (10 - qs), valid, qs


@dataclass(frozen=True, slots=True)
class _Prices:
    entries: list[PriceEntry]
    version_pos: I32
    sku: I32
    region: I32
    price: I64
    unit: I32
    entry_id: I64
    version_id: I64
    tiered: Bool


def _compile(plan: RatingPlan, used: list[int], pool: StringPool) -> _Prices:
    assert plan.price_book is not None
    versions = plan.price_book.ordered_versions()
    entries: list[PriceEntry] = []
    pos: list[int] = []
    vids: list[int] = []
    for j, vi in enumerate(used):
        v = versions[vi]
        entries.extend(v.prices)
        pos.extend([j] * len(v.prices))
        vids.extend([v.id] * len(v.prices))
    prices = decimal_column(pa.array([e.unit_price for e in entries], pa.decimal128(38, 10)))[0]
    return _Prices(
        entries=entries,
        version_pos=np.array(pos, dtype=np.int32),
        sku=pool.codes([e.sku for e in entries]),
        region=pool.codes([e.region for e in entries]),
        price=prices,
        unit=pool.codes([e.unit or None for e in entries]),
        entry_id=np.array([e.id for e in entries], dtype=np.int64),
        version_id=np.array(vids, dtype=np.int64),
        tiered=np.array([e.tier_mode is not TierMode.NONE for e in entries], dtype=bool),
    )


def _dense(codes: I32, extra: I32, size: int) -> tuple[I32, I32, int]:
    """Dense indices 1.. for the codes present in `codes` or `extra`; 0 for -1."""
    present = np.zeros(size + 1, dtype=bool)
    present[codes + 1] = True
    present[extra + 1] = True
    present[0] = False
    table = np.zeros(size + 1, dtype=np.int32)
    which = np.flatnonzero(present)
    table[which] = np.arange(1, len(which) + 1, dtype=np.int32)
    return table[codes + 1], table[extra + 1], len(which) + 1


def _find_entries(pr: _Prices, vpos: I64, sku: I32, region: I32, size: int) -> I32:
    """Index into pr of each row's entry (-1 none): (sku, region) beats (sku, generic)."""
    n = len(sku)
    row_s, ent_s, ns = _dense(sku, pr.sku, size)
    row_r, ent_r, nr = _dense(region, pr.region, size)
    # Versions compiled, not only those of these rows (a chunk may use fewer).
    nv = max(int(pr.version_pos.max()) + 1 if len(pr.version_pos) else 1, 1)
    nv = max(nv, int(vpos.max()) + 1 if len(vpos) else 1)
    generic = pr.region < 0
    specific = ~generic
    if nv * ns * nr <= _DENSE_LIMIT:
        table = np.full((nv, ns, nr), -1, dtype=np.int32)
        g = np.flatnonzero(generic)
        # A generic entry serves every region of its sku; specific ones overwrite.
        table[pr.version_pos[g], ent_s[g], :] = g[:, None]
        s = np.flatnonzero(specific)
        table[pr.version_pos[s], ent_s[s], ent_r[s]] = s
        found = table[np.maximum(vpos, 0), row_s, row_r]
        return np.where((vpos >= 0) & (row_s > 0), found, -1).astype(np.int32)
    # Large catalogues: two sorted searches over composite keys.
    found = np.full(n, -1, dtype=np.int32)
    for mask, use_region in ((specific, True), (generic, False)):
        idx = np.flatnonzero(mask)
        keys = (pr.version_pos[idx].astype(np.int64) * ns + ent_s[idx]) * nr + (
            ent_r[idx] if use_region else 0
        )
        order = np.argsort(keys)
        keys, idx = keys[order], idx[order]
        rk = (vpos * ns + row_s) * nr + (row_r if use_region else 0)
        pos = np.clip(np.searchsorted(keys, rk), 0, max(len(keys) - 1, 0))
        hit = (len(keys) > 0) & (vpos >= 0) & (found < 0)
        if len(keys):
            hit &= keys[pos] == rk
            found[hit] = idx[pos[hit]]
    return found


def _plan_places(
    plan: RatingPlan, entries: list[PriceEntry], profiles: list[ConsumptionProfile]
) -> int:
    values = [t.from_qty for e in entries for t in e.tiers]
    for p in profiles:
        values.append(p.included_quantity)
        values.extend(t.from_qty for t in p.tiers)
    return max([decimal_places(v) for v in values] + [0])


_LOCAL = frozenset({"_tables", "_lock"})


@dataclass(frozen=True, slots=True)
class CloudPrices:
    """The price book compiled once per rating call, shared by every chunk."""

    eff: I64  # effective_from of every version, in order
    local: I64  # version index -> position among the compiled versions (-1: none)
    used: list[int]
    pr: _Prices
    overrides: RuleMatcher  # unit_price_override rules
    adjusts: RuleMatcher  # discount and markup rules
    places: int  # decimals the plan's tier bounds and allowances need
    profile_scopes: tuple[ConsumptionProfile, ...] = ()  # units profiles (their SKUs)
    _tables: dict[int, tuple[TierTables, I64, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # Pickled to a distributed backend's tasks (rating/backends/spark.py)
    # without the lock and the tables built so far (each task builds its own).
    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if f.name not in _LOCAL)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        names = [f.name for f in fields(self) if f.name not in _LOCAL]
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_tables", {})
        object.__setattr__(self, "_lock", threading.Lock())

    def tier_tables(
        self, qs: int, profiles: list[ConsumptionProfile]
    ) -> tuple[TierTables, I64, int]:
        """(tables, profile -> table index or -1, number of tables) at quantity
        scale qs: one table per entry, then one per profile with tiers. Built
        once per scale (chunks usually share one) instead of once per chunk."""
        with self._lock:
            found = self._tables.get(qs)
            if found is None:
                specs: list[tuple[TierMode, tuple[Tier, ...], Decimal]] = [
                    (e.tier_mode, e.tiers, e.unit_price) for e in self.pr.entries
                ]
                prof_table = np.full(len(profiles) + 1, -1, dtype=np.int64)
                for pi, prof in enumerate(profiles):
                    if prof.tiers:
                        prof_table[pi] = len(specs)
                        specs.append((prof.tier_mode, prof.tiers, Decimal(0)))
                found = (TierTables.build(specs, qs), prof_table, len(specs))
                self._tables[qs] = found
            return found


def prepare_prices(
    plan: RatingPlan,
    pool: StringPool,
    start: I64 | None = None,
    *,
    span: tuple[int, int] | None = None,
) -> CloudPrices:
    """Compile the versions in force between min(start) and max(start) (or
    the given `span`: first and last start) and intern the plan's strings in
    a fixed order (see cdr.prepare_deck)."""
    if start is not None:
        span = (int(start.min()), int(start.max())) if len(start) else None
    book = plan.price_book
    versions = list(book.ordered_versions()) if book is not None else []
    eff = np.array([v.effective_from_us for v in versions], dtype=np.int64)
    used: list[int] = []
    if versions and span is not None:
        first = max(int(np.searchsorted(eff, span[0], side="right")) - 1, 0)
        last = int(np.searchsorted(eff, span[1], side="right")) - 1
        used = list(range(first, last + 1))
    local = np.full(max(len(versions), 1), -1, dtype=np.int64)
    local[used] = np.arange(len(used))
    contract = plan.contract
    pool.code(contract.currency)
    pr = _compile(plan, used, pool) if used else _compile_empty()
    for prof in sorted(plan.profiles, key=lambda p: p.id):
        pool.code(prof.scope_sku)
    overrides = RuleMatcher(contract.rules_of(RuleKind.UNIT_PRICE_OVERRIDE), pool)
    adjusts = RuleMatcher(contract.rules_of(RuleKind.DISCOUNT, RuleKind.MARKUP), pool)
    intern_labels(overrides.rules, adjusts.rules, pool, passthrough=True)
    units = sorted((p for p in plan.profiles if p.unit is ProfileUnit.UNITS), key=lambda p: p.id)
    places = _plan_places(plan, pr.entries, units)
    return CloudPrices(eff, local, used, pr, overrides, adjusts, places, tuple(units))


def rate_cloud(
    inp: CloudInput,
    plan: RatingPlan,
    pool: StringPool,
    accounts: I64,
    prices: CloudPrices | None = None,
) -> RowState:
    if prices is None:
        prices = prepare_prices(plan, pool, inp.start)
    try:
        return _rate_cloud(inp, plan, pool, accounts, prices)
    except RatingOverflow:
        # One scale for the whole chunk does not hold every quantity (a
        # 0.0072838553 GB-month next to 5e12 requests): rate each class of
        # (account, SKU) groups at its own scale. Rare, so only tried here.
        classes, mixed = _scale_classes(inp, pool, prices)
        if len(classes) < 2:
            raise
    st = RowState(len(inp.start))
    row_scale = np.zeros(st.n, dtype=np.int8)
    for rows in classes:
        sub = _rate_cloud(_subset(inp, rows), plan, pool, accounts, prices)
        st.put(rows, sub)
        row_scale[rows] = sub.quantity_scale
    st.quantity_scale = int(row_scale.max())
    st.row_scale = row_scale
    st.mixed_scale = mixed
    return st


_FITS = 2**63 - 1


def _scale_classes(
    inp: CloudInput, pool: StringPool, prices: CloudPrices
) -> tuple[list[I64], Bool]:
    """Rows split by the scale their (account, SKU) group needs: the most
    decimals of any quantity in the group (at least the plan's tier bounds and
    allowances). Everything cumulative (tiers, allowances, volume totals) lies
    within one (account, SKU) group, so rating the classes apart gives the same
    numbers as one pass would. A group of a flat-priced SKU (no tiers, no
    units profile: nothing cumulative) that no single scale holds is split
    row by row instead, each at its own decimals; those rows are flagged
    (`mixed`) so that the daily rows sum them exactly (engine._daily_table)."""
    if isinstance(inp.quantity, Scaled):
        pairs = zip(inp.quantity.values.tolist(), inp.quantity.valid.tolist(), strict=True)
        values = [from_scaled(v) if ok else None for v, ok in pairs]
    else:
        values = inp.quantity.to_pylist()
    places = np.array([0 if v is None else decimal_places(v) for v in values], dtype=np.int64)
    sku = pool_codes(inp.sku, pool).astype(np.int64)
    key = (sku + 1) * (int(inp.account_code.max(initial=0)) + 2) + (inp.account_code + 1)
    group = np.unique(key, return_inverse=True)[1]
    n_groups = int(group.max(initial=-1)) + 1
    group_places = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(group_places, group, places)
    row_class = np.maximum(group_places[group], prices.places)
    # Groups that do not fit at their scale, and whether their SKU is flat.
    fits = np.ones(n_groups, dtype=bool)
    for i, v in enumerate(values):
        if v is not None and abs(int(v.scaleb(int(row_class[i])))) > _FITS:
            fits[group[i]] = False
    axis = {pool.code(p.scope_sku) for p in prices.profile_scopes}
    pr = prices.pr
    axis |= set(pr.sku[pr.tiered].tolist()) if len(pr.entries) else set()
    flat = ~np.isin(sku, np.array(sorted(axis), dtype=np.int64))
    mixed = flat & ~fits[group]
    row_class = np.where(mixed, np.maximum(places, prices.places), row_class)
    return [np.flatnonzero(row_class == c) for c in np.unique(row_class)], mixed


def _subset(inp: CloudInput, rows: I64) -> CloudInput:
    def take(values: Any) -> Any:
        if isinstance(values, np.ndarray):
            return values[rows]
        return values.take(rows if isinstance(values, Scaled) else pa.array(rows))

    return CloudInput(**{f: take(getattr(inp, f)) for f in CloudInput.__dataclass_fields__})


def _rate_cloud(
    inp: CloudInput,
    plan: RatingPlan,
    pool: StringPool,
    accounts: I64,
    prices: CloudPrices,
) -> RowState:
    n = len(inp.start)
    st = RowState(n)
    st.reason[~inp.owned] = reason_code(Reason.ACCOUNT_NOT_OWNED)
    service = pool_codes(inp.service, pool)
    sku = pool_codes(inp.sku, pool)
    region = pool_codes(inp.region, pool)
    unit = pool_codes(inp.unit, pool)
    currency = pool_codes(inp.currency, pool)
    st.service, st.item, st.region, st.unit = service, sku, region, unit
    contract = plan.contract
    todo = inp.owned.copy()

    used, pr = prices.used, prices.pr
    if len(prices.eff):
        vi = np.searchsorted(prices.eff, inp.start, side="right") - 1
    else:
        vi = np.full(n, -1, dtype=np.int64)
    vpos = np.where(vi >= 0, prices.local[np.maximum(vi, 0)], -1)
    if used:
        entry = _find_entries(pr, vpos, sku, region, len(pool.values))
    else:
        entry = np.full(n, -1, dtype=np.int32)
    entry = np.where(todo, entry, -1).astype(np.int32)

    overrides = prices.overrides
    ov = np.where(todo, overrides.winners(service, sku, region), -1).astype(np.int16)
    has_entry = entry >= 0
    priced = has_entry | (ov >= 0)

    profiles = sorted((p for p in plan.profiles if p.unit is ProfileUnit.UNITS), key=lambda p: p.id)
    q, q_valid, qs = quantity_column(inp.quantity, prices.places)
    st.quantity_scale = qs
    st.quantity = np.where(q_valid, q, 0)
    st.has_quantity = q_valid
    st.reason[priced & ~q_valid] = reason_code(Reason.INVALID_QUANTITY)
    priced &= q_valid

    cost, cost_valid = decimal_column(inp.list_cost)
    # Rows neither priced nor already unrated: pass-through candidates.
    rest = todo & ~priced & (st.reason == 0)
    passthrough = np.zeros(n, dtype=bool)
    if contract.passthrough_unpriced:
        contract_cur = pool.code(contract.currency)
        ok_cost = rest & cost_valid
        st.reason[ok_cost & (currency != contract_cur)] = reason_code(Reason.CURRENCY_MISMATCH)
        passthrough = ok_cost & (currency == contract_cur)
        st.reason[rest & ~cost_valid] = reason_code(Reason.NO_PRICE)
    else:
        st.reason[rest] = reason_code(Reason.NO_PRICE)

    list_amount = np.zeros(n, dtype=np.int64)
    covered = np.zeros(n, dtype=np.int64)
    list_amount[passthrough] = cost[passthrough]
    # Override without a price entry: the list amount is the source's list cost.
    ov_only = priced & ~has_entry
    list_amount[ov_only] = np.where(cost_valid[ov_only], cost[ov_only], 0)

    # Consumption profiles (units) and the cumulative axis.
    which = np.full(n, -1, dtype=np.int64)
    if profiles:
        # Only rows of a profiled SKU are candidates: test those, not all rows.
        scope_codes = [pool.code(prof.scope_sku) for prof in profiles]  # intern first
        scoped = np.zeros(len(pool.values) + 1, dtype=bool)
        scoped[np.array(scope_codes) + 1] = True
        cand = np.flatnonzero(priced & scoped[sku + 1])
        c_sku, c_acct = sku[cand], np.maximum(inp.account_code[cand], 0)
        c_which = np.full(len(cand), -1, dtype=np.int64)
        for pi, prof in enumerate(profiles):
            member = np.isin(accounts, np.array(sorted(prof.account_ids), dtype=np.int64))
            hit = (c_which < 0) & member[c_acct] & (c_sku == pool.code(prof.scope_sku))
            c_which[hit] = pi
        which[cand] = c_which
    profile_codes = [pool.code(prof.scope_sku) for prof in profiles]  # intern before sizing
    needs_axis_sku = np.zeros(len(pool.values) + 1, dtype=bool)
    if used:
        needs_axis_sku[pr.sku[pr.tiered] + 1] = True
    for code in profile_codes:
        needs_axis_sku[code + 1] = True
    axis_rows = np.flatnonzero(priced & needs_axis_sku[sku + 1])
    flat_rows = np.flatnonzero(priced & has_entry & ~needs_axis_sku[sku + 1])

    e_flat = entry[flat_rows]
    list_amount[flat_rows] = mul_div(q[flat_rows], pr.price[e_flat], 10**qs)

    tier_first = np.full(n, -1, dtype=np.int16)
    tier_last = np.full(n, -1, dtype=np.int16)
    if len(axis_rows):
        check_axis_range(q[axis_rows])
        n_acc = max(len(accounts), 1)
        gkey = sku[axis_rows].astype(np.int64) * n_acc + inp.account_code[axis_rows]
        order = order_rows(gkey, inp.start[axis_rows], inp.record_id.take(pa.array(axis_rows)))
        rows = axis_rows[order]
        g_sorted = gkey[order]
        q_sorted = q[rows]
        a = exclusive_cumsum(g_sorted, q_sorted)
        total = group_totals(g_sorted, q_sorted)
        prof_of = which[rows]
        included_by_profile = np.array(
            [to_scaled(p.included_quantity, qs) for p in profiles] + [0], dtype=np.int64
        )
        included = included_by_profile[prof_of]  # -1 picks the trailing 0
        b = a + q_sorted
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        cov = allowance_cover(lo, hi, included)
        covered[rows] = np.where(q_sorted < 0, -cov, cov)
        # Tier tables: one per entry, then one per profile with tiers.
        tables, prof_table, n_specs = prices.tier_tables(qs, profiles)
        ent_rows = entry[rows]
        table = np.where(prof_table[prof_of] >= 0, prof_table[prof_of], ent_rows)
        with_table = np.flatnonzero(table >= 0)  # rows with an entry or profile tiers
        if len(with_table):
            priced_axis = price_axis(
                a[with_table],
                q_sorted[with_table],
                table[with_table].astype(np.int32),
                included[with_table],
                tables,
                10**qs,
                total[with_table],
            )
            target = rows[with_table]
            # Rows without entry keep their pass-through list; profile tiers
            # with an override and no entry still show the list cost.
            has_e = entry[target] >= 0
            list_amount[target[has_e]] = priced_axis.amount[has_e]
            # Tier provenance only where the pricing really is tiered.
            tiered_table = np.concatenate(
                [pr.tiered, np.ones(n_specs - len(pr.entries), dtype=bool)]
            )[table[with_table]]
            tier_first[target] = np.where(tiered_table, priced_axis.tier_first, -1)
            tier_last[target] = np.where(tiered_table, priced_axis.tier_last, -1)
        st.profile_id[rows] = np.array([p.id for p in profiles] + [-1], dtype=np.int64)[prof_of]

    net_base = list_amount.copy()
    for i, rows_i in rows_by_winner(np.where(priced, ov, -1).astype(np.int16)):
        price = overrides.rules[i].unit_price
        assert price is not None
        net_base[rows_i] = mul_div(q[rows_i] - covered[rows_i], to_scaled(price), 10**qs)
    rated = priced | passthrough
    adjusts = prices.adjusts
    adj = np.where(rated, adjusts.winners(service, sku, region), -1).astype(np.int16)
    net = apply_adjustments(net_base, adj, adjusts.rules)

    # Full-length np.where instead of scattering through an index of (usually)
    # every row: several times cheaper at 20 M rows.
    st.list_amount = np.where(rated, list_amount, 0)
    st.net_amount = np.where(rated, net, 0)
    st.included = np.where(rated, covered, 0)
    st.tier_first = np.where(rated, tier_first, -1).astype(np.int16)
    st.tier_last = np.where(rated, tier_last, -1).astype(np.int16)
    with_entry = rated & has_entry
    e = np.maximum(entry, 0)
    st.entry_id = np.where(with_entry, pr.entry_id[e] if len(pr.entry_id) else -1, -1)
    st.version_id = np.where(with_entry, pr.version_id[e] if len(pr.version_id) else -1, -1)
    if len(pr.unit):
        entry_unit = pr.unit[e]
        st.unit = np.where(with_entry & (entry_unit >= 0), entry_unit, unit).astype(np.int32)
    st.rules = np.where(
        rated,
        label_codes(
            np.where(priced, ov, -1).astype(np.int16),
            adj,
            passthrough,
            overrides.rules,
            adjusts.rules,
            pool,
        ),
        -1,
    ).astype(np.int32)
    st.currency = np.where(rated, pool.code(contract.currency), -1).astype(np.int32)
    st.profile_id[~rated] = -1
    return st


def _compile_empty() -> _Prices:
    empty64 = np.zeros(0, dtype=np.int64)
    empty32 = np.zeros(0, dtype=np.int32)
    return _Prices(
        [], empty32, empty32, empty32, empty64, empty32, empty64, empty64, np.zeros(0, dtype=bool)
    )
