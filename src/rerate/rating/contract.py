"""Contract rules: per-row price rules and period lines.

Order of application (docs/rating.md, "Contract rules"):
1. unit_price_override -- per row, replaces the unit price of the net amount;
2. discount / markup -- per row, ONE rule: the most specific matching scope
   wins (sku 4 + region 2 + service 1, summed); ties go to the lower
   `order`, then the lower id. Discounts and markups compete together, they
   never stack;
3. support_fee -- a period line: percent of the net spend in scope;
4. minimum_commitment -- a period line: commitment - spend when the net
   spend in scope is below it;
5. credit -- a period line, negative: a fixed amount or a percent of the
   net spend in scope.
Custom line items and profile fees are period lines too. Each period line is
rounded to the currency's minor unit with the contract's rounding mode: the
engine's single rounding boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rerate.kit.money import round_money
from rerate.kit.periods import Month, Period
from rerate.rating.fixed import UNIT, from_scaled, mul_div, safe_sum, to_scaled
from rerate.rating.kernels import rule_winners
from rerate.rating.plan import (
    ConsumptionProfile,
    Contract,
    ContractRule,
    CustomLineItem,
    RuleKind,
)
from rerate.rating.rows import StringPool

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]
Bool = npt.NDArray[np.bool_]

# (100 -/+ pct) / 100 with pct at scale 10 is exact at scale 12.
_FACTOR_DIVISOR = 100 * UNIT


def ranked(rules: Sequence[ContractRule]) -> list[ContractRule]:
    """Rules by precedence: most specific scope, then lower order, then lower id."""
    return sorted(rules, key=lambda r: (-r.specificity, r.order, r.id))


class RuleMatcher:
    """Finds, per row, the first rule of a ranked list whose scope matches the
    row's (service, sku, region) codes in a StringPool."""

    def __init__(self, rules: Sequence[ContractRule], pool: StringPool) -> None:
        self.rules = ranked(rules)
        self._pool = pool
        self._scopes = [
            (pool.code(r.service), pool.code(r.sku), pool.code(r.region)) for r in self.rules
        ]

    def _table(self, dim: int) -> npt.NDArray[np.uint64]:
        """bit i of table[c + 1] is set when rule i accepts code c on dimension dim."""
        size = len(self._pool.values) + 1
        table = np.zeros(size, dtype=np.uint64)
        for i, scope in enumerate(self._scopes):
            bit = np.uint64(1) << np.uint64(i)
            wanted = scope[dim]
            rule = self.rules[i]
            unscoped = (rule.service, rule.sku, rule.region)[dim] is None
            if unscoped:
                table |= bit
            else:
                table[wanted + 1] |= bit
        return table

    def winners(self, service: I32, sku: I32, region: I32) -> I16:
        """Index into `self.rules` of the winning rule per row, -1 for none."""
        n = len(sku)
        if not self.rules:
            return np.full(n, -1, dtype=np.int16)
        if len(self.rules) > 63:
            return self._winners_slow(service, sku, region)
        return rule_winners(
            self._table(0),
            self._table(1),
            self._table(2),
            np.asarray(service, dtype=np.int32),
            np.asarray(sku, dtype=np.int32),
            np.asarray(region, dtype=np.int32),
        )

    def _winners_slow(self, service: I32, sku: I32, region: I32) -> I16:
        result = np.full(len(sku), -1, dtype=np.int16)
        for i in range(len(self.rules) - 1, -1, -1):
            result[self.row_mask(i, service, sku, region)] = i
        return result

    def row_mask(self, i: int, service: I32, sku: I32, region: I32) -> Bool:
        rule = self.rules[i]
        svc, sk, reg = self._scopes[i]
        ok = np.ones(len(sku), dtype=bool)
        if rule.service is not None:
            ok &= service == svc
        if rule.sku is not None:
            ok &= sku == sk
        if rule.region is not None:
            ok &= region == reg
        return ok


def scope_mask(rule: ContractRule, pool: StringPool, service: I32, sku: I32, region: I32) -> Bool:
    return RuleMatcher([rule], pool).row_mask(0, service, sku, region)


def adjustment_factor(rule: ContractRule) -> int:
    """(100 -/+ percent) / 100 as an integer over _FACTOR_DIVISOR."""
    assert rule.percent is not None
    pct = to_scaled(rule.percent)
    return int(100 * UNIT - pct if rule.kind is RuleKind.DISCOUNT else 100 * UNIT + pct)


def apply_adjustments(base: I64, winner: I16, rules: Sequence[ContractRule]) -> I64:
    """net = round_half_up(base * factor) for each row's winning discount/markup."""
    counts = np.bincount(winner.astype(np.int64) + 1, minlength=len(rules) + 1)[1:]
    won = np.flatnonzero(counts)
    if len(won) == 1:
        # One rule wins every row that has a winner (a contract-wide discount,
        # the common case): one pass over all rows beats gathering and
        # scattering them. Rows without a winner keep their base.
        i = int(won[0])
        adjusted = mul_div(base, adjustment_factor(rules[i]), _FACTOR_DIVISOR)
        return adjusted if counts[i] == len(base) else np.where(winner == i, adjusted, base)
    net = base.copy()
    for i, rows in rows_by_winner(winner):
        net[rows] = mul_div(base[rows], adjustment_factor(rules[i]), _FACTOR_DIVISOR)
    return net


def rows_by_winner(winner: I16) -> list[tuple[int, I64]]:
    """(rule index, rows it won) for every rule that won a row. One stable
    (radix) sort of the winning rows instead of one full scan per rule."""
    rows = np.flatnonzero(winner >= 0)
    if len(rows) == 0:
        return []
    w = winner[rows]
    order = np.argsort(w, kind="stable")
    rows, w = rows[order], w[order]
    cuts = np.flatnonzero(np.r_[True, w[1:] != w[:-1]])
    ends = np.r_[cuts[1:], len(w)]
    return [(int(w[a]), rows[a:b]) for a, b in zip(cuts.tolist(), ends.tolist(), strict=True)]


def rules_label(
    override: ContractRule | None, adjust: ContractRule | None, passthrough: bool
) -> str:
    """The compact provenance string of the rules applied to a row."""
    parts = []
    if passthrough:
        parts.append("passthrough")
    if override is not None:
        parts.append(f"override:{override.id}")
    if adjust is not None:
        parts.append(f"{adjust.kind.value}:{adjust.id}")
    return ",".join(parts)


def intern_labels(
    overrides: Sequence[ContractRule],
    adjusts: Sequence[ContractRule],
    pool: StringPool,
    *,
    passthrough: bool,
) -> None:
    """Intern every label label_codes can produce, in combination order, so
    the pool's codes do not depend on which rows are rated first. (Beyond a
    few thousand combinations they are interned as they occur instead.)"""
    if (len(overrides) + 1) * (len(adjusts) + 1) > 4096:
        return
    for ov in (None, *overrides):
        for ad in (None, *adjusts):
            for pt in (False, True) if passthrough else (False,):
                label = rules_label(ov, ad, pt)
                if label:
                    pool.code(label)


def label_codes(
    override: I16,
    adjust: I16,
    passthrough: Bool,
    overrides: Sequence[ContractRule],
    adjusts: Sequence[ContractRule],
    pool: StringPool,
) -> I32:
    """Pool codes of rules_label for every row (one label per combination)."""
    n_adj = len(adjusts) + 1
    combo = ((override.astype(np.int64) + 1) * n_adj + (adjust.astype(np.int64) + 1)) * 2 + (
        passthrough.astype(np.int64)
    )
    size = (len(overrides) + 1) * n_adj * 2
    present = np.flatnonzero(np.bincount(combo, minlength=size))
    table = np.full(size, -1, dtype=np.int32)
    for c in present.tolist():
        pt = bool(c % 2)
        rest = c // 2
        ov, ad = rest // n_adj - 1, rest % n_adj - 1
        label = rules_label(
            overrides[ov] if ov >= 0 else None, adjusts[ad] if ad >= 0 else None, pt
        )
        table[c] = pool.code(label) if label else -1
    return np.asarray(table[combo], dtype=np.int32)


@dataclass(frozen=True, slots=True)
class PeriodLine:
    """A line of the period that is not usage. `amount` is rounded to the minor
    unit; `base_amount` (full scale) is what a percentage was taken of."""

    kind: str  # support_fee | minimum_commitment | credit | custom | profile_fee
    source_id: int  # contract rule id, custom line item id or profile id
    description: str
    amount: Decimal
    currency: str
    base_amount: Decimal | None = None
    percent: Decimal | None = None
    account_id: int | None = None
    month: str | None = None


@dataclass(frozen=True, slots=True)
class SpendView:
    """Net spend per scope (service, sku, region codes), for period lines.

    One entry per scope and chunk of rows rather than per row: each amount is
    net_hi * 2**32 + net_lo units of 1e-10, so sums stay exact in int64."""

    net_hi: I64
    net_lo: I64
    service: I32
    sku: I32
    region: I32

    @classmethod
    def of_rows(cls, net: I64, service: I32, sku: I32, region: I32) -> SpendView:
        """Rated rows' net amounts summed per (service, sku, region)."""
        if len(net) == 0:
            return cls(net, net.copy(), service, sku, region)
        size = int(max(service.max(), sku.max(), region.max())) + 2
        if size**3 < 2**62:
            # One packed key, grouped by Arrow's hash (no sort).
            key = ((service.astype(np.int64) + 1) * size + (sku + 1)) * size + (region + 1)
            enc = pc.dictionary_encode(pa.array(key))
            group = np.asarray(enc.indices.to_numpy(), dtype=np.int64)
            packed = np.asarray(enc.dictionary.to_numpy(), dtype=np.int64)
            uniq = np.stack([packed // size**2, packed // size % size, packed % size]) - 1
        else:
            keys = np.stack([service, sku, region]).astype(np.int64)
            uniq, group = np.unique(keys, axis=1, return_inverse=True)
            group = group.reshape(-1)
        hi = np.zeros(uniq.shape[1], dtype=np.int64)
        lo = np.zeros(uniq.shape[1], dtype=np.int64)
        # |net >> 32| < 2**31 and net & 0xFFFFFFFF < 2**32: fewer than 2**31
        # rows cannot overflow either sum.
        np.add.at(hi, group, net >> 32)
        np.add.at(lo, group, net & 0xFFFFFFFF)
        return cls(
            hi,
            lo,
            uniq[0].astype(np.int32),
            uniq[1].astype(np.int32),
            uniq[2].astype(np.int32),
        )

    @classmethod
    def concat(cls, views: Sequence[SpendView]) -> SpendView:
        return cls(
            *(
                np.concatenate([getattr(v, name) for v in views])
                for name in ("net_hi", "net_lo", "service", "sku", "region")
            )
        )


def percent_of(base: Decimal, percent: Decimal) -> Decimal:
    """base * percent / 100, exactly: the default decimal context keeps only 28
    significant digits, which a 10-decimal base times a 10-decimal percent
    can exceed."""
    with localcontext() as ctx:
        ctx.prec = 100
        return base * percent / 100


def _spend(rule: ContractRule, pool: StringPool, spend: SpendView) -> Decimal:
    mask = scope_mask(rule, pool, spend.service, spend.sku, spend.region)
    return from_scaled((safe_sum(spend.net_hi[mask]) << 32) + safe_sum(spend.net_lo[mask]))


def _months(period: Period) -> list[Month]:
    months = []
    month = Month.of(period.start)
    while month.first_day < period.end:
        months.append(month)
        month = month.next()
    return months


def custom_item_lines(
    items: Sequence[CustomLineItem], period: Period, currency: str, contract: Contract
) -> list[PeriodLine]:
    lines = []
    for item in sorted(items, key=lambda i: i.id):
        amount = round_money(item.amount, currency, contract.rounding)
        if item.one_off_date is not None:
            if period.start <= item.one_off_date < period.end:
                lines.append(PeriodLine("custom", item.id, item.description, amount, currency))
            continue
        assert item.recurring_from is not None
        for month in _months(period):
            last_day: date = month.next().first_day
            starts_ok = item.recurring_from < last_day
            ends_ok = item.recurring_to is None or item.recurring_to >= month.first_day
            if starts_ok and ends_ok:
                lines.append(
                    PeriodLine(
                        "custom", item.id, item.description, amount, currency, month=str(month)
                    )
                )
    return lines


def period_lines(
    contract: Contract,
    period: Period,
    pool: StringPool,
    spend: SpendView,
    profile_accounts: Sequence[tuple[ConsumptionProfile, int]],
) -> list[PeriodLine]:
    """Support fee, minimum commitment, credits, custom items and profile fees.

    Runs in a 100-digit decimal context so no intermediate is silently rounded;
    the only rounding is `round_money` on each line."""
    with localcontext() as ctx:
        ctx.prec = 100
        return _period_lines(contract, period, pool, spend, profile_accounts)


def _period_lines(
    contract: Contract,
    period: Period,
    pool: StringPool,
    spend: SpendView,
    profile_accounts: Sequence[tuple[ConsumptionProfile, int]],
) -> list[PeriodLine]:
    cur, mode = contract.currency, contract.rounding
    lines: list[PeriodLine] = []
    for rule in contract.rules_of(RuleKind.SUPPORT_FEE):
        assert rule.percent is not None
        base = _spend(rule, pool, spend)
        amount = round_money(percent_of(base, rule.percent), cur, mode)
        desc = rule.description or f"Support fee {rule.percent}%"
        lines.append(PeriodLine("support_fee", rule.id, desc, amount, cur, base, rule.percent))
    for rule in contract.rules_of(RuleKind.MINIMUM_COMMITMENT):
        assert rule.amount is not None
        base = _spend(rule, pool, spend)
        if base < rule.amount:
            amount = round_money(rule.amount - base, cur, mode)
            desc = rule.description or f"Minimum commitment {rule.amount} {cur}: shortfall"
            lines.append(PeriodLine("minimum_commitment", rule.id, desc, amount, cur, base))
    for rule in contract.rules_of(RuleKind.CREDIT):
        if rule.amount is not None:
            amount = round_money(-rule.amount, cur, mode)
            desc = rule.description or "Credit"
            lines.append(PeriodLine("credit", rule.id, desc, amount, cur))
        else:
            assert rule.percent is not None
            base = _spend(rule, pool, spend)
            amount = round_money(-percent_of(base, rule.percent), cur, mode)
            desc = rule.description or f"Credit {rule.percent}%"
            lines.append(PeriodLine("credit", rule.id, desc, amount, cur, base, rule.percent))
    lines.extend(custom_item_lines(contract.custom_line_items, period, cur, contract))
    for profile, account in profile_accounts:
        assert profile.period_fee is not None
        amount = round_money(profile.period_fee, cur, mode)
        lines.append(
            PeriodLine(
                "profile_fee", profile.id, f"{profile.name} fee", amount, cur, account_id=account
            )
        )
    return lines
