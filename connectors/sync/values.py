"""Values flowing through the runtime: text, numbers, booleans, lists of text, and two
markers a flow can return instead of a value."""

from __future__ import annotations

from typing import Union


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name


IGNORE = _Marker("IGNORE")  # IgnoreThisFlow(): leave the target as it is
CLEAR = _Marker("CLEAR")  # AuthoritativeNull(): clear the target whatever else flows

Value = Union[str, int, float, bool, list, None, _Marker]


def is_empty(value: object) -> bool:
    """Absent, empty text, or an empty list: what every "not present" test means."""
    return value is None or value == "" or (isinstance(value, list) and not value)
