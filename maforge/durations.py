"""Durations as people write them on a command line (`90s`, `5m`, `1h30m`, `2d`, or plain
seconds), for `--max-wait` and `--full-after`: one parser, one way to print them back."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


class DurationError(ValueError):
    """Text that is not a duration; the message says what is accepted."""


def parse_duration(text: str) -> float:
    """Seconds in ``text``: `45` or `45s`, `5m`, `2h`, `1d`, or a sum such as `1h30m`."""
    value = text.strip().lower()
    if not value:
        raise DurationError("an empty duration: give seconds or a duration such as 90s, 5m, 1h30m or 2d")
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(number + unit for number, unit in parts) != value:
            raise DurationError(f"{text!r} is not a duration: give seconds or a duration such as 90s, 5m, 1h30m or 2d") from None
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise DurationError(f"{text!r} is not a duration: it must be zero or more")
    return seconds


def format_duration(seconds: float) -> str:
    """`118 s`, `4 min 5 s`, `2 h 10 min`: how maforge prints a wait."""
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
