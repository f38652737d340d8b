"""Normalising dialled numbers to E.164 digits (no '+').

The importers store `destination` already normalised; this module is the one
place the rules live, so the importers and the CLI's CSV input share them.

Rules per source (`NumberingRules`):
1. spaces, dashes, dots, slashes and parentheses are dropped;
2. a leading '+' marks an international number: the digits after it are kept;
3. a leading international access prefix (default '00', e.g. '011' in North
   America) is stripped: the digits after it are the E.164 number;
4. a leading national (trunk) prefix (default '0') is replaced by the
   source's country code;
5. anything else is taken as already being E.164 digits (switches commonly
   send international numbers without '+').
International prefixes are tried before the national prefix, so with the
defaults '0033...' is international and '06...' is national.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s\-./()]")


class InvalidNumber(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class NumberingRules:
    country_code: str  # e.g. "33" for France, "1" for NANP
    national_prefix: str = "0"
    international_prefixes: tuple[str, ...] = ("00",)

    def __post_init__(self) -> None:
        if not self.country_code.isdigit():
            raise ValueError(f"country code must be digits, got {self.country_code!r}")


def normalise(number: str, rules: NumberingRules) -> str:
    """E.164 digits of `number` under `rules`; raises InvalidNumber."""
    text = _SEPARATORS.sub("", number.strip())
    if text.startswith("+"):
        digits = text[1:]
    else:
        digits = text
        for prefix in sorted(rules.international_prefixes, key=len, reverse=True):
            if prefix and digits.startswith(prefix):
                digits = digits[len(prefix) :]
                break
        else:
            if rules.national_prefix and digits.startswith(rules.national_prefix):
                digits = rules.country_code + digits[len(rules.national_prefix) :]
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise InvalidNumber(f"not a dialable number: {number!r}")
    return digits
