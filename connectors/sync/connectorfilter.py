"""The connector filter as MIM applies it: a connector-space object that meets the filter
becomes a *filtered disconnector*. It takes part in no join and no projection, and an object
that was joined is disconnected from the metaverse (`connector-filtered-leave-mv`).

MIM's wording (Management Agent Designer, "Configure Connector Filter Rules", jj590228):
"If the object meets connector filter rules criteria, the object will then become a filtered
disconnector." The alternatives of one object type are OR-ed and the conditions of one
alternative AND-ed ("If any condition in a single filter is not met, that filter is not
applied").

Compiled once per run from the manifest (`connectors[].filter`), not interpreted per object:
``compile_filter`` returns one closure that the planner calls for every profile.

Where the documentation is silent, and what we chose:
- text compares case-insensitively, as joins do: the metaverse and connector space live in
  SQL Server under a case-insensitive collation (inferred, unverified). Guest UPNs carry `#EXT#`
  in upper case and no public source says how a claims login spells it, so the sample's
  `#ext#` filter is written to match both.
- a multi-valued attribute meets a condition when any of its values does; `not-…` operators
  (and `inequality`) need every value to meet them (inferred, unverified).
- `less-than` … `greater-than-or-equal`, `bit-on` and `bit-off` compare numbers when both
  sides are integers, text otherwise; `bit-on` means every bit of the value is set.
- a scripted filter lives in the rules extension: the plan cannot evaluate it, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .values import is_empty

Filter = Callable[[Mapping[str, Any]], "str | None"]  # the object's values → why it is filtered, or None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            # base 10 first: "0600" is six hundred; 0x/0o/0b prefixes (bit masks) as written
            return int(text, 10) if text else None
        except ValueError:
            try:
                return int(text, 0)
            except ValueError:
                return None
    return None


def _fold(value: Any) -> str:
    return str(value).casefold()


def _single(operator: str, have: Any, want: str) -> bool:
    """One value against one condition (not the `not-` operators: they negate these)."""
    if operator == "equality":
        return _fold(have) == _fold(want)
    if operator == "substring-start":
        return _fold(have).startswith(_fold(want))
    if operator == "substring-end":
        return _fold(have).endswith(_fold(want))
    if operator == "substring-any":
        return _fold(want) in _fold(have)
    if operator in ("bit-on", "bit-off"):
        number, mask = _as_int(have), _as_int(want)
        if number is None or mask is None:
            return False
        return (number & mask) == mask if operator == "bit-on" else (number & mask) == 0
    left, right = _as_int(have), _as_int(want)
    a, b = (left, right) if left is not None and right is not None else (_fold(have), _fold(want))
    if operator == "less-than":
        return a < b  # type: ignore[operator]
    if operator == "less-than-or-equal":
        return a <= b  # type: ignore[operator]
    if operator == "greater-than":
        return a > b  # type: ignore[operator]
    if operator == "greater-than-or-equal":
        return a >= b  # type: ignore[operator]
    raise ValueError(f"connector filter operator {operator!r} is not one MIM knows")


NEGATED = {"inequality": "equality", "not-substring-start": "substring-start", "not-substring-end": "substring-end", "not-substring-any": "substring-any"}
KNOWN = {"present", "not-present", "equality", "substring-start", "substring-end", "substring-any", "bit-on", "bit-off", "less-than", "less-than-or-equal", "greater-than", "greater-than-or-equal", *NEGATED}


def condition_met(operator: str, value: Any, want: str | None) -> bool:
    """Whether an attribute's ``value`` (text, number or list) meets one declared condition."""
    present = not is_empty(value)
    if operator == "present":
        return present
    if operator == "not-present":
        return not present
    values = [v for v in (value if isinstance(value, list) else [value]) if not is_empty(v)]
    if operator in NEGATED:  # an absent value is not equal to anything and contains nothing
        return all(not _single(NEGATED[operator], v, want or "") for v in values)
    return any(_single(operator, v, want or "") for v in values)


def describe(conditions: Iterable[Mapping[str, Any]]) -> str:
    return " and ".join(f"{c['attribute']} {c['operator']}" + (f" {c['value']!r}" if c.get("value") not in (None, "") else "") for c in conditions)


def compile_filter(alternatives: list[dict[str, Any]]) -> Filter | None:
    """One closure for the manifest's filter alternatives of an object type, or None when the
    object type has no declared filter. Unknown operators fail here, once, not per object."""
    declared = [a for a in alternatives if not a.get("scripted")]
    if not declared:
        return None
    compiled: list[tuple[str, tuple[tuple[str, str, str | None], ...]]] = []
    for alternative in declared:
        conditions = tuple((c["attribute"], c["operator"], c.get("value")) for c in alternative["conditions"])
        unknown = [op for _a, op, _v in conditions if op not in KNOWN]
        if unknown:
            raise ValueError(f"connector filter operator {unknown[0]!r} is not one MIM knows; use one of {', '.join(sorted(KNOWN))}")
        compiled.append((describe(alternative["conditions"]), conditions))

    def filtered(values: Mapping[str, Any]) -> str | None:
        for reason, conditions in compiled:
            if conditions and all(condition_met(op, _lookup(values, attribute), want) for attribute, op, want in conditions):
                return reason
        return None

    return filtered


def _lookup(values: Mapping[str, Any], attribute: str) -> Any:
    """A profile's property by name; SharePoint's property names are case-insensitive."""
    if attribute in values:
        return values[attribute]
    folded = attribute.casefold()
    for name, value in values.items():
        if name.casefold() == folded:
            return value
    return None


__all__ = ["Filter", "compile_filter", "condition_met", "describe"]
