"""'Did you mean …?': the one place that picks the name a typo probably meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, choices: Iterable[str], *, cutoff: float = 0.7) -> str | None:
    """The choice ``name`` most likely meant: an exact match but for case first, then the
    nearest spelling above ``cutoff``; None when nothing is close."""
    options = list(choices)
    for option in options:
        if option.lower() == name.lower():
            return option
    close = difflib.get_close_matches(name, options, n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: str, choices: Iterable[str], *, quote: bool = True) -> str:
    """`` (did you mean 'X'?)`` or the empty string."""
    options = list(choices)
    match = closest(name, options)
    if match is None:
        return ""
    shown = f"'{match}'" if quote else match
    if match != name and match.lower() == name.lower():
        return f" (did you mean {shown}? names must match exactly, including case)"
    return f" (did you mean {shown}?)"
