"""Called-number normalisation to E.164 digits (no `+`).

Rules, in order:
1. Visual separators (spaces, `-`, `.`, `(`, `)`, `/`) are dropped.
2. What remains must be digits with an optional leading `+`; anything else
   (`s`, `*97`, SIP URIs, `#`) is not a dialable number and gives `None`,
   so a feature code can never match a destination prefix by accident.
3. `+CC...` -> `CC...`.
4. International prefix (default `00`) -> stripped: `0049...` -> `49...`.
5. National prefix (default `0`) -> replaced by `country_code` when one is
   configured: `030...` with country code `49` -> `4930...`. Without a country
   code the number is kept as dialled (digits only).

The rating engine owns `rerate.rating.e164`; this module is the importers'
copy, to be reconciled with it.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

_SEPARATORS = r"[\s\-.()/]"
_DIALABLE = re.compile(r"^\+?\d+$")


def normalize(
    number: str | None,
    *,
    country_code: str | None = None,
    international_prefix: str = "00",
    national_prefix: str = "0",
) -> str | None:
    """Normalise one dialled number; `None` when it is not a dialable number."""
    if number is None:
        return None
    s = re.sub(_SEPARATORS, "", number)
    if not _DIALABLE.match(s):
        return None
    if s.startswith("+"):
        return s[1:]
    if international_prefix and s.startswith(international_prefix):
        return s[len(international_prefix) :] or None
    if country_code and national_prefix and s.startswith(national_prefix):
        return country_code + s[len(national_prefix) :]
    return s


def normalize_array(
    numbers: pa.Array | pa.ChunkedArray,
    *,
    country_code: str | None = None,
    international_prefix: str = "00",
    national_prefix: str = "0",
) -> pa.Array | pa.ChunkedArray:
    """Vectorised `normalize` over a string array (same rules, same results)."""
    s = pc.replace_substring_regex(numbers, _SEPARATORS, "")
    dialable = pc.match_substring_regex(s, _DIALABLE.pattern)
    plus = pc.starts_with(s, "+")
    digits = pc.replace_substring(s, "+", "")
    out = digits
    if international_prefix:
        intl = pc.and_(pc.invert(plus), pc.starts_with(digits, international_prefix))
        out = pc.if_else(intl, pc.utf8_slice_codeunits(digits, len(international_prefix)), out)
    else:
        intl = pc.is_null(digits)  # all false (or null where digits is null)
    if country_code and national_prefix:
        national = pc.and_(
            pc.and_(pc.invert(plus), pc.invert(intl)), pc.starts_with(digits, national_prefix)
        )
        out = pc.if_else(
            national,
            pc.binary_join_element_wise(
                country_code, pc.utf8_slice_codeunits(digits, len(national_prefix)), ""
            ),
            out,
        )
    empty = pc.equal(pc.utf8_length(out), 0)
    keep = pc.and_(dialable, pc.invert(empty))
    return pc.if_else(keep, out, pa.scalar(None, pa.string()))
