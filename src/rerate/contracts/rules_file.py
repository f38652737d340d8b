"""Contract rules from a file: JSON or CSV (docs/administration/contracts.md).

JSON: a list of rule objects, or `{"rules": [...]}`; each object has `kind`
and any of `service`, `sku`, `region`, `percent`, `amount`, `unit_price`,
`description`; numbers as strings ("12.5"), floats are refused.
CSV: a header line naming those columns (`kind` required, the others
optional, in any order), one rule per line; an empty cell is no value.
The whole file is read before anything is stored; an error names the line
(CSV) or the rule's index (JSON) and the field.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from rerate.contracts.service import RuleIn
from rerate.kit.errors import Invalid

FIELDS = ("kind", "service", "sku", "region", "percent", "amount", "unit_price", "description")
_DECIMALS = ("percent", "amount", "unit_price")
MAX_BYTES = 1_000_000


def parse(text: str, *, filename: str = "rules") -> tuple[RuleIn, ...]:
    """Rules from `text`: JSON when it starts with `[` or `{`, CSV otherwise."""
    if len(text) > MAX_BYTES:
        raise Invalid(f"{filename}: at most {MAX_BYTES} bytes")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("[", "{"):
        return _from_json(stripped, filename)
    return _from_csv(stripped, filename)


def _from_json(text: str, filename: str) -> tuple[RuleIn, ...]:
    try:
        data = json.loads(text, parse_float=_no_float)
    except (ValueError, _FloatGiven) as exc:
        raise Invalid(f"{filename}: not valid JSON rules: {exc}") from None
    if isinstance(data, dict):
        data = data.get("rules")
    if not isinstance(data, list):
        raise Invalid(f'{filename}: a JSON list of rules, or {{"rules": [...]}}')
    return tuple(_rule(item, f"{filename}: rule {i}") for i, item in enumerate(data, start=1))


def _from_csv(text: str, filename: str) -> tuple[RuleIn, ...]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if "kind" not in header:
        raise Invalid(f"{filename}: line 1: the header must name a 'kind' column")
    unknown = [h for h in header if h not in FIELDS]
    if unknown:
        raise Invalid(
            f"{filename}: line 1: unknown column {unknown[0]!r}; known: {', '.join(FIELDS)}"
        )
    reader.fieldnames = header
    out = []
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        if None in row:
            raise Invalid(f"{filename}: line {reader.line_num}: more cells than header columns")
        out.append(_rule(row, f"{filename}: line {reader.line_num}"))
    return tuple(out)


class _FloatGiven(ValueError):
    pass


def _no_float(text: str) -> Any:
    raise _FloatGiven(f'{text} is a JSON number with a fraction: write it as a string, "{text}"')


def _rule(item: Any, where: str) -> RuleIn:
    if not isinstance(item, dict):
        raise Invalid(f"{where}: a rule is an object with a 'kind'")
    unknown = [k for k in item if k not in FIELDS]
    if unknown:
        raise Invalid(f"{where}: unknown field {unknown[0]!r}; known: {', '.join(FIELDS)}")
    values: dict[str, Any] = {}
    for name in FIELDS:
        raw = item.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if name in _DECIMALS:
            values[name] = _decimal(raw, f"{where}: {name}")
        elif isinstance(raw, str):
            values[name] = raw.strip()
        else:
            raise Invalid(f"{where}: {name}: text expected")
    if "kind" not in values:
        raise Invalid(f"{where}: kind: required")
    return RuleIn(**values)


def _decimal(raw: Any, where: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise Invalid(f'{where}: a decimal string such as "12.5"')
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise Invalid(f"{where}: not a decimal number: {str(raw)[:40]!r}") from None
    if not value.is_finite():
        raise Invalid(f"{where}: not a decimal number: {str(raw)[:40]!r}")
    return value
