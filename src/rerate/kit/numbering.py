"""Numbering rules and the normalisation of dialled numbers to E.164 digits.

The one definition shared by the importers (`rerate.usage.e164`, vectorised),
the CLI's CSV input and the docs (docs/rating.md "Number normalisation",
docs/formats.md "Called-number normalisation"). It lives in `kit` because
both `usage` and `rating` use it and `rating` already depends on `usage`.

Rules, in order (`NumberingRules` says which prefixes a source uses):
1. ASCII whitespace, `-`, `.`, `/` and parentheses are dropped;
2. what remains must be ASCII digits with an optional leading `+`, otherwise
   the number is invalid (`s`, `*97`, SIP URIs, letters: a feature code must
   never match a tariff prefix by accident);
3. a leading `+` marks an international number: the digits after it;
4. else a leading international access prefix (`00`, `011` in NANP) is
   stripped: the digits after it are the international number (longest
   prefix first, so `011` wins over a hypothetical `01`);
5. else a leading trunk prefix (`0`, `1` in NANP) is replaced by the country
   code, when the rules name one; without a country code the number is kept
   as dialled (the behaviour before issue 13);
6. else, when the rules say national numbers have a fixed length
   (`national_digits`: 10 in NANP, where people and PBXs dial `212 555 0100`
   without the trunk 1) and the digits have exactly that length, the
   country code is prepended;
7. anything else is taken as E.164 digits already (switches commonly log
   international numbers without `+`).
The result must have between `min_digits` and 15 digits (E.164's maximum)
and, when the rules name a country, must not start with `0` (no country code
does); otherwise the number is invalid. An invalid number is rated
`invalid_destination` and never looked up in the prefix table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.compute as pc

MAX_DIGITS = 15  # E.164: at most 15 digits including the country code
# ASCII only, and the same class in Python and in Arrow's RE2 (\s differs).
_SEPARATORS = r"[\t\n\x0b\f\r \-./()]"
_DIALABLE = r"^\+?[0-9]+$"
_SEPARATORS_RE = re.compile(_SEPARATORS)
_DIALABLE_RE = re.compile(_DIALABLE)


class InvalidNumber(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class NumberingRules:
    """How one source writes numbers. Frozen: presets are shared."""

    country_code: str | None = None
    """e.g. "33" for France, "1" for NANP; None: national numbers stay as dialled."""
    international_prefixes: tuple[str, ...] = ("00",)
    trunk_prefix: str = "0"
    """"" when the country has none (Italy, Spain)."""
    min_digits: int = 1
    """Shorter results are invalid (short codes such as 112 or extensions)."""
    national_digits: int | None = None
    """Bare numbers of exactly this length are national (NANP: 10); None when
    national numbers vary in length, so bare digits are read as E.164."""

    def __post_init__(self) -> None:
        cc = self.country_code
        if cc is not None and not re.fullmatch(r"[1-9][0-9]{0,2}", cc):
            raise ValueError(f"country code must be 1-3 digits not starting with 0, got {cc!r}")
        if not self.international_prefixes:
            raise ValueError("at least one international prefix is needed")
        for prefix in self.international_prefixes:
            if not re.fullmatch(r"[0-9]{1,4}", prefix):
                raise ValueError(f"international prefix must be 1-4 digits, got {prefix!r}")
        if not re.fullmatch(r"[0-9]{0,4}", self.trunk_prefix):
            raise ValueError(
                f"trunk prefix must be up to 4 digits (or empty), got {self.trunk_prefix!r}"
            )
        if self.trunk_prefix and self.trunk_prefix in self.international_prefixes:
            raise ValueError(f"trunk prefix {self.trunk_prefix!r} is also an international prefix")
        if not 1 <= self.min_digits <= MAX_DIGITS:
            raise ValueError(f"min_digits must be 1-{MAX_DIGITS}, got {self.min_digits}")
        nd = self.national_digits
        if nd is not None and (cc is None or not 1 <= nd < MAX_DIGITS):
            raise ValueError("national_digits needs a country code and must be 1-14")


# The behaviour before issue 13: 00 international, 0 trunk, no country.
DEFAULT = NumberingRules()
# Presets for a country: 7 digits is the shortest assigned international
# number (+290 XXXX, St Helena), so anything shorter is a short code.
# NANP national numbers are always 10 digits (area code + 7): a bare
# 10-digit number is national (`2125550100` is New York, not Morocco's 212).
NANP = NumberingRules("1", ("011",), "1", min_digits=7, national_digits=10)
GB = NumberingRules("44", ("00",), "0", min_digits=7)
DE = NumberingRules("49", ("00",), "0", min_digits=7)
FR = NumberingRules("33", ("00",), "0", min_digits=7)
# Russia: 8 is the trunk prefix and 8~10 the international one; bare digits
# starting with 8 are national there, so write foreign numbers with + or 810.
RU = NumberingRules("7", ("810",), "8", min_digits=7)

PRESETS: dict[str, NumberingRules] = {
    "DEFAULT": DEFAULT,
    "NANP": NANP,
    "US": NANP,
    "CA": NANP,
    "GB": GB,
    "UK": GB,
    "DE": DE,
    "FR": FR,
    "RU": RU,
}


def preset(name: str) -> NumberingRules:
    try:
        return PRESETS[name.strip().upper()]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ValueError(f"unknown numbering {name!r} (known: {known})") from None


def rules_from_options(
    numbering: str | None = None,
    *,
    country_code: str | None = None,
    international_prefix: str | None = None,
    trunk_prefix: str | None = None,
) -> NumberingRules | None:
    """Rules from user options (CLI, import form, API): a preset, then overrides.

    An empty option counts as not given (an untouched form field).
    `international_prefix` may list several, comma-separated ("00,011");
    `trunk_prefix` "none" means the country has none. None when no option is
    given, so callers can tell "not configured" apart. Raises ValueError with
    a one-line message for invalid settings."""
    numbering, country_code, international_prefix, trunk_prefix = (
        None if o is None or not o.strip() else o.strip()
        for o in (numbering, country_code, international_prefix, trunk_prefix)
    )
    if all(o is None for o in (numbering, country_code, international_prefix, trunk_prefix)):
        return None
    rules = preset(numbering) if numbering else DEFAULT
    changes: dict[str, object] = {}
    if country_code is not None:
        changes["country_code"] = country_code.removeprefix("+")
    if international_prefix is not None:
        changes["international_prefixes"] = tuple(
            p.strip() for p in international_prefix.split(",") if p.strip()
        )
    if trunk_prefix is not None:
        changes["trunk_prefix"] = "" if trunk_prefix.lower() == "none" else trunk_prefix
    return replace(rules, **changes) if changes else rules  # type: ignore[arg-type]


def normalise_or_none(number: str | None, rules: NumberingRules = DEFAULT) -> str | None:
    """E.164 digits (no `+`) of `number`, or None when it is not a number."""
    if number is None:
        return None
    text = _SEPARATORS_RE.sub("", number)
    if not _DIALABLE_RE.match(text):
        return None
    if text.startswith("+"):
        digits = text[1:]
    else:
        digits = text
        for prefix in sorted(rules.international_prefixes, key=len, reverse=True):
            if digits.startswith(prefix):
                digits = digits[len(prefix) :]
                break
        else:
            trunk = rules.trunk_prefix
            if rules.country_code and trunk and digits.startswith(trunk):
                digits = rules.country_code + digits[len(trunk) :]
            elif rules.country_code and len(digits) == rules.national_digits:
                digits = rules.country_code + digits
    if not rules.min_digits <= len(digits) <= MAX_DIGITS:
        return None
    if rules.country_code and digits.startswith("0"):
        return None
    return digits


def normalise(number: str | None, rules: NumberingRules = DEFAULT) -> str:
    """E.164 digits (no `+`) of `number`; raises InvalidNumber."""
    digits = normalise_or_none(number, rules)
    if digits is None:
        raise InvalidNumber(f"not a dialable number: {number!r}")
    return digits


def normalise_array(
    numbers: pa.Array | pa.ChunkedArray, rules: NumberingRules = DEFAULT
) -> pa.Array | pa.ChunkedArray:
    """Vectorised `normalise_or_none` over a string array (same results)."""
    s = pc.replace_substring_regex(numbers, _SEPARATORS, "")
    dialable = pc.match_substring_regex(s, _DIALABLE)
    plus = pc.starts_with(s, "+")
    digits = pc.replace_substring(s, "+", "")
    out = digits
    done = plus  # rows whose rule is already settled
    for prefix in sorted(rules.international_prefixes, key=len, reverse=True):
        hit = pc.and_(pc.invert(done), pc.starts_with(digits, prefix))
        out = pc.if_else(hit, pc.utf8_slice_codeunits(digits, len(prefix)), out)
        done = pc.or_(done, hit)
    if rules.country_code and rules.trunk_prefix:
        trunk = pc.and_(pc.invert(done), pc.starts_with(digits, rules.trunk_prefix))
        national = pc.binary_join_element_wise(
            rules.country_code, pc.utf8_slice_codeunits(digits, len(rules.trunk_prefix)), ""
        )
        out = pc.if_else(trunk, national, out)
        done = pc.or_(done, trunk)
    if rules.country_code and rules.national_digits is not None:
        bare = pc.and_(pc.invert(done), pc.equal(pc.utf8_length(digits), rules.national_digits))
        out = pc.if_else(bare, pc.binary_join_element_wise(rules.country_code, digits, ""), out)
    length = pc.utf8_length(out)
    keep = pc.and_(
        dialable,
        pc.and_(pc.greater_equal(length, rules.min_digits), pc.less_equal(length, MAX_DIGITS)),
    )
    if rules.country_code:
        keep = pc.and_(keep, pc.invert(pc.starts_with(out, "0")))
    return pc.if_else(keep, out, pa.scalar(None, pa.string()))
