"""Called-number normalisation for the importers (scalar and vectorised).

The rules are `rerate.kit.numbering`'s (docs/formats.md, "Called-number
normalisation"): invalid numbers give `None`, so the row keeps its
`called_number` and its `destination` is null (rated `invalid_destination`).
The keyword arguments other than `rules` are the pre-issue-13 interface,
kept so existing callers read the same: they build `NumberingRules`.
"""

from __future__ import annotations

import pyarrow as pa

from rerate.kit.numbering import DEFAULT, NumberingRules, normalise_array, normalise_or_none


def _rules(
    rules: NumberingRules | None,
    country_code: str | None,
    international_prefix: str | None,
    national_prefix: str | None,
) -> NumberingRules:
    if rules is not None:
        return rules
    if country_code is None and international_prefix is None and national_prefix is None:
        return DEFAULT
    return NumberingRules(
        country_code=country_code,
        international_prefixes=(international_prefix or "00",),
        trunk_prefix="0" if national_prefix is None else national_prefix,
    )


def normalize(
    number: str | None,
    *,
    rules: NumberingRules | None = None,
    country_code: str | None = None,
    international_prefix: str | None = None,
    national_prefix: str | None = None,
) -> str | None:
    """Normalise one dialled number; `None` when it is not a dialable number."""
    return normalise_or_none(
        number, _rules(rules, country_code, international_prefix, national_prefix)
    )


def normalize_array(
    numbers: pa.Array | pa.ChunkedArray,
    *,
    rules: NumberingRules | None = None,
    country_code: str | None = None,
    international_prefix: str | None = None,
    national_prefix: str | None = None,
) -> pa.Array | pa.ChunkedArray:
    """Vectorised `normalize` over a string array (same rules, same results)."""
    return normalise_array(
        numbers, _rules(rules, country_code, international_prefix, national_prefix)
    )
