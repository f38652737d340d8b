"""Number normalisation for the rating side (the CLI's CSV input).

The rules live in `rerate.kit.numbering` (one definition for importers and
the CLI); this module re-exports them under the names the rating code uses.
"""

from __future__ import annotations

from rerate.kit.numbering import (
    DEFAULT,
    MAX_DIGITS,
    PRESETS,
    InvalidNumber,
    NumberingRules,
    normalise,
    normalise_or_none,
    preset,
    rules_from_options,
)

__all__ = [
    "DEFAULT",
    "MAX_DIGITS",
    "PRESETS",
    "InvalidNumber",
    "NumberingRules",
    "normalise",
    "normalise_or_none",
    "preset",
    "rules_from_options",
]
