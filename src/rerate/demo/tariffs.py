"""The demo's VoIP tariff deck (two complete versions) and its traffic pool.

Prefixes are E.164 country codes followed by fixed and mobile ranges, nested
(33, 336, 3361, 33612 ...), plus NANP area codes and a few global networks.
Rates are integer counts of 1e-5 EUR per minute, so every Decimal built from
them is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from rerate.demo.catalog import (
    BANDED,
    CANADA_NPAS,
    CARIBBEAN_NPAS,
    COUNTRIES,
    GLOBAL_NETWORKS,
    NANP_WEIGHT,
    Country,
)

RATE_SCALE = 5  # rates are integers of 10**-5 currency units

# zone -> (fixed low, fixed high, mobile low, mobile high), 1e-5 EUR per minute
_ZONE_RATES: dict[str, tuple[int, int, int, int]] = {
    "A": (600, 1_200, 1_500, 3_000),
    "B": (2_000, 5_000, 4_000, 9_000),
    "C": (6_000, 15_000, 10_000, 30_000),
}
# zone -> (fixed increments, mobile increments)
_ZONE_INCREMENTS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "A": ((1, 1), (30, 6)),
    "B": ((30, 6), (30, 6)),
    "C": ((60, 60), (60, 60)),
}


@dataclass(frozen=True, slots=True)
class TariffLine:
    prefix: str
    group: str
    band: str | None
    rate: int  # 1e-5 per minute
    connect_fee: int = 0  # 1e-5
    min_seconds: int = 0
    initial: int = 60
    subsequent: int = 60


@dataclass(frozen=True, slots=True)
class TrafficPool:
    """Where calls go: one row per dialable prefix of version 1."""

    prefixes: list[str]
    weights: npt.NDArray[np.float64]  # share of international traffic
    lengths: npt.NDArray[np.int64]  # digits of a full number under the prefix
    country: list[str]  # country code ("1" for NANP)


@dataclass(frozen=True, slots=True)
class Deck:
    v1: list[TariffLine]
    v2: list[TariffLine]
    pool: TrafficPool


def _draw(rng: np.random.Generator, low: int, high: int) -> int:
    return int(rng.integers(low, high + 1))


def _vary(rng: np.random.Generator, rate: int, spread: int = 8) -> int:
    """`rate` +- up to `spread` percent, as an integer."""
    pct = int(rng.integers(100 - spread, 100 + spread + 1))
    return max(1, (rate * pct + 50) // 100)


def _country_lines(
    rng: np.random.Generator, c: Country
) -> tuple[list[TariffLine], list[tuple[str, float]]]:
    """Band-less lines of one country, and (prefix, traffic weight) pairs."""
    f_lo, f_hi, m_lo, m_hi = _ZONE_RATES[c.zone]
    (f_init, f_sub), (m_init, m_sub) = _ZONE_INCREMENTS[c.zone]
    fixed_rate, mobile_rate = _draw(rng, f_lo, f_hi), _draw(rng, m_lo, m_hi)
    connect = 1_000 if c.zone == "C" and rng.random() < 0.5 else 0
    lines: list[TariffLine] = []
    fixed_group, mobile_group = f"{c.name} Fixed", f"{c.name} Mobile"
    fixed_prefixes = [c.cc] + [c.cc + lead for lead in c.fixed]
    fixed_prefixes += [c.cc + lead + d for lead in c.fixed if c.depth >= 2 for d in "0123456789"]
    mobile_prefixes: list[str] = []
    for lead in c.mobile:
        mobile_prefixes.append(c.cc + lead)
        if c.depth >= 1:
            mobile_prefixes += [c.cc + lead + d for d in "0123456789"]
        if c.depth >= 2:
            mobile_prefixes += [c.cc + lead + f"{n:02d}" for n in range(100)]
    for p in fixed_prefixes:
        lines.append(
            TariffLine(
                p,
                fixed_group,
                None,
                _vary(rng, fixed_rate) if p != c.cc else fixed_rate,
                0,
                0,
                f_init,
                f_sub,
            )
        )
    for p in mobile_prefixes:
        lines.append(
            TariffLine(p, mobile_group, None, _vary(rng, mobile_rate), connect, 0, m_init, m_sub)
        )
    weights = [(p, c.weight * 0.45 / len(fixed_prefixes)) for p in fixed_prefixes]
    weights += [(p, c.weight * 0.55 / len(mobile_prefixes)) for p in mobile_prefixes]
    return lines, weights


def _nanp_lines(rng: np.random.Generator) -> tuple[list[TariffLine], list[tuple[str, float]]]:
    lines = [TariffLine("1", "USA Fixed", None, 700, 0, 0, 1, 1)]
    weights: list[tuple[str, float]] = []
    for npa in range(200, 1000):
        second, third = (npa // 10) % 10, npa % 10
        if second == 9 or (second == 1 and third == 1):
            continue  # N9X are reserved, N11 are service codes
        prefix = f"1{npa}"
        if npa in CARIBBEAN_NPAS:
            group, rate, share, inc = CARIBBEAN_NPAS[npa], _draw(rng, 8_000, 20_000), 0.1, 60
            lines.append(TariffLine(prefix, group, None, rate, 0, 0, inc, inc))
            weights.append((prefix, NANP_WEIGHT * share / len(CARIBBEAN_NPAS)))
            continue
        if npa in CANADA_NPAS:
            group, rate, share = "Canada", _draw(rng, 500, 1_000), 0.15 / len(CANADA_NPAS)
        else:
            group, rate, share = "USA", _draw(rng, 400, 900), 0.75 / 600
        lines.append(TariffLine(prefix, group, None, rate, 0, 0, 6, 6))
        weights.append((prefix, NANP_WEIGHT * share))
    return lines, weights


def _global_lines(rng: np.random.Generator) -> list[TariffLine]:
    return [
        TariffLine(p, group, None, _draw(rng, 250_000, 600_000), 5_000, 30, 60, 60)
        for p, group in GLOBAL_NETWORKS
    ]


def _banded(lines: list[TariffLine]) -> list[TariffLine]:
    by_prefix = {line.prefix: line for line in lines}
    out: list[TariffLine] = []
    for prefix, (peak, offpeak) in BANDED.items():
        base = by_prefix[prefix]
        out.append(replace(base, band="peak", rate=(base.rate * peak + 50) // 100))
        out.append(replace(base, band="offpeak", rate=(base.rate * offpeak + 50) // 100))
    return out


def _version_2(rng: np.random.Generator, v1: list[TariffLine]) -> list[TariffLine]:
    """A complete deck: ~35 % of the rates change, a few prefixes go, a few arrive."""
    existing = {line.prefix for line in v1}
    deep = [
        i
        for i, line in enumerate(v1)
        if line.band is None and len(line.prefix) >= 6 and line.prefix not in BANDED
    ]
    dropped = set(rng.choice(np.asarray(deep), size=12, replace=False).tolist())
    change = rng.random(len(v1)) < 0.35
    pct = rng.integers(-8, 13, size=len(v1))
    pct[pct == 0] = 5
    out: list[TariffLine] = []
    for i, line in enumerate(v1):
        if i in dropped:
            continue
        if change[i]:
            line = replace(line, rate=max(1, (line.rate * (100 + int(pct[i])) + 50) // 100))
        if line.group == "Morocco Mobile":  # a carrier renegotiated its increments
            line = replace(line, initial=30, subsequent=6)
        out.append(line)
    added = 0
    for i in rng.permutation(np.asarray(deep)).tolist():
        parent = v1[i]
        candidate = parent.prefix + str(int(rng.integers(0, 10)))
        if candidate in existing:
            continue
        existing.add(candidate)
        out.append(replace(parent, prefix=candidate, rate=_vary(rng, parent.rate, 10)))
        added += 1
        if added == 18:
            break
    return out


def build_deck(rng: np.random.Generator) -> Deck:
    lines: list[TariffLine] = []
    weights: list[tuple[str, float]] = []
    lengths: dict[str, int] = {}
    country_of: dict[str, str] = {}
    seen: set[str] = set()

    def add(
        new_lines: list[TariffLine], new_weights: list[tuple[str, float]], length: int, cc: str
    ) -> None:
        fresh = {p for p, _ in new_weights}
        for line in new_lines:
            if line.prefix not in seen:
                seen.add(line.prefix)
                lines.append(line)
        for p, w in new_weights:
            if p in fresh and p not in lengths:
                lengths[p] = max(length, len(p) + 3)
                country_of[p] = cc
                weights.append((p, w))

    for c in COUNTRIES:
        c_lines, c_weights = _country_lines(rng, c)
        add(c_lines, c_weights, c.length, c.cc)
    n_lines, n_weights = _nanp_lines(rng)
    add(n_lines, n_weights, 11, "1")
    add(_global_lines(rng), [], 12, "")
    v1 = lines + _banded(lines)
    v2 = _version_2(rng, v1)
    prefixes = [p for p, _ in weights]
    pool = TrafficPool(
        prefixes=prefixes,
        weights=np.asarray([w for _, w in weights], dtype=np.float64),
        lengths=np.asarray([lengths[p] for p in prefixes], dtype=np.int64),
        country=[country_of[p] for p in prefixes],
    )
    return Deck(v1, v2, pool)
