"""The expression functions, implemented for the Python runtime.

Names, arities and examples are in maforge.compiler.expressions.functions (the catalogue);
this module gives each its meaning. Every function accepts None for an absent attribute and
returns None when there is nothing to return, so a flow's `whenNull` decides what happens.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from .values import CLEAR, IGNORE, is_empty

# Letters NFKD does not decompose into a base letter and a mark.
_DIACRITIC_FOLDS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "œ": "oe", "Œ": "OE"})
_DOTNET_FORMAT = re.compile(r"yyyy|yy|MM|M|dd|d|HH|H|mm|ss|fff|tt|zzz")
_DOTNET_TO_STRFTIME = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "M": "%m", "dd": "%d", "d": "%d", "HH": "%H", "H": "%H", "mm": "%M", "ss": "%S", "fff": "%f", "tt": "%p", "zzz": "%z"}


class ExpressionValueError(ValueError):
    """A value an expression function cannot work with (a date that does not parse, …)."""


def text(value: Any) -> str | None:
    """A value as text: numbers in invariant culture, booleans as true/false, lists joined
    with ';'. None stays None."""
    if type(value) is str:  # the common case, first
        return value
    if value is None or value is IGNORE or value is CLEAR:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ";".join(t for t in (text(v) for v in value) if t)
    return str(value)


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no")
    return not is_empty(value)


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- operators


def concat(left: Any, right: Any) -> str | None:
    a, b = text(left) or "", text(right) or ""
    return (a + b) or None


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    try:
        return float(left), float(right)
    except (TypeError, ValueError):
        return (text(left) or ""), (text(right) or "")


def eq(left: Any, right: Any) -> bool:
    if is_empty(left) and is_empty(right):
        return True
    a, b = _comparable(left, right)
    return a == b


def ne(left: Any, right: Any) -> bool:
    return not eq(left, right)


def lt(left: Any, right: Any) -> bool:
    a, b = _comparable(left, right)
    return a < b


def le(left: Any, right: Any) -> bool:
    a, b = _comparable(left, right)
    return a <= b


def gt(left: Any, right: Any) -> bool:
    a, b = _comparable(left, right)
    return a > b


def ge(left: Any, right: Any) -> bool:
    a, b = _comparable(left, right)
    return a >= b


def neg(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExpressionValueError(f"cannot negate {value!r}: not a number") from None
    return -int(number) if number.is_integer() else -number


# --------------------------------------------------------------------------- the catalogue


def Coalesce(*values: Any) -> Any:
    for value in values:
        if not is_empty(value):
            return value
    return None


def Switch(value: Any, default: Any, *pairs: Any) -> Any:
    key = text(value)
    for i in range(0, len(pairs), 2):
        if text(pairs[i]) == key:
            return pairs[i + 1]
    return default


def Join(separator: Any, *values: Any) -> str | None:
    parts = [t for v in values for t in (text(x) for x in _values(v)) if t]
    return (text(separator) or "").join(parts) or None


def Split(value: Any, separator: Any) -> list[str] | None:
    if is_empty(value):
        return None
    sep = text(separator) or ";"
    return [part for part in (text(value) or "").split(sep) if part.strip()]


def Replace(value: Any, find: Any, replacement: Any) -> str | None:
    source = text(value)
    if source is None:
        return None
    return source.replace(text(find) or "", text(replacement) or "") if text(find) else source


def RegexReplace(value: Any, pattern: Any, replacement: Any) -> str | None:
    source = text(value)
    if source is None:
        return None
    try:
        # .NET and Entra write group references as $1; Python as \1.
        return re.sub(text(pattern) or "", re.sub(r"\$(\d+)", r"\\\1", text(replacement) or ""), source)
    except (re.error, OverflowError, RecursionError) as error:  # OverflowError: a{99999999999}
        raise ExpressionValueError(f"RegexReplace: bad regular expression {text(pattern)!r}: {error}") from None


def _count(value: Any, name: str) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise ExpressionValueError(f"{name}: {value!r} is not a number") from None
    except OverflowError:  # inf, or a float beyond any count
        raise ExpressionValueError(f"{name}: {value!r} is not a finite number") from None


def Left(value: Any, count: Any) -> str | None:
    """MIM's Left: a count of 0 gives no value, a negative count the whole input
    (tests/data/function_edge_cases.json quotes the reference)."""
    source = text(value)
    if source is None:
        return None
    n = _count(count, "Left")
    return source if n < 0 else source[:n] or None


def Mid(value: Any, start: Any, count: Any) -> str | None:
    """MIM's Mid: a start before 1 or past the end gives the whole input; a count of 0 or
    less gives no value (the Entra Connect reference differs on a negative count; MIM's is
    followed); a count past the end gives what remains."""
    source = text(value)
    if source is None:
        return None
    begin, n = _count(start, "Mid"), _count(count, "Mid")
    if begin <= 0 or begin > len(source):
        return source
    return source[begin - 1 : begin - 1 + n] or None if n > 0 else None


def Right(value: Any, count: Any) -> str | None:
    """MIM's Right: a count of 0 gives no value, a negative count the whole input."""
    source = text(value)
    if source is None:
        return None
    n = _count(count, "Right")
    if n < 0:
        return source
    return source[-n:] or None if n else None


def Trim(value: Any) -> str | None:
    source = text(value)
    return None if source is None else source.strip() or None


def ToLower(value: Any) -> str | None:
    source = text(value)
    return None if source is None else source.lower()


def ToUpper(value: Any) -> str | None:
    source = text(value)
    return None if source is None else source.upper()


def PCase(value: Any) -> str | None:
    """MIM's ProperCase: "converts the first character of each space-delimited word in a
    string to upper case. All other characters are converted to lower case." Only the space
    separates words ("o'neill-smith" is one word). A word that starts with a non-letter keeps
    it, and its first letter is upper-cased, as the reference's example "$TEsT" → "$Test"."""
    source = text(value)
    if source is None:
        return None
    return " ".join(_proper_word(word) for word in source.split(" "))


def _proper_word(word: str) -> str:
    lowered = word.lower()
    for index, ch in enumerate(lowered):
        if ch.isalpha():
            return lowered[:index] + ch.upper() + lowered[index + 1 :]
    return lowered


def NormalizeDiacritics(value: Any) -> str | None:
    source = text(value)
    if source is None:
        return None
    decomposed = unicodedata.normalize("NFKD", source.translate(_DIACRITIC_FOLDS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _strftime_pattern(pattern: str) -> str:
    return _DOTNET_FORMAT.sub(lambda m: _DOTNET_TO_STRFTIME[m.group(0)], pattern)


def FormatDateTime(value: Any, input_format: Any, output_format: Any) -> str | None:
    source = text(value)
    if is_empty(source):
        return None
    try:
        moment = dt.datetime.strptime(source, _strftime_pattern(text(input_format) or ""))
    except ValueError:
        raise ExpressionValueError(f"FormatDateTime: {source!r} does not match the format {text(input_format)!r}") from None
    try:
        result = moment.strftime(_strftime_pattern(text(output_format) or ""))
    except ValueError as error:  # a format the C library cannot take (a lone surrogate, …)
        raise ExpressionValueError(f"FormatDateTime: cannot write the format {text(output_format)!r}: {error}") from None
    return result[:-3] if "fff" in (text(output_format) or "") and result else result


def _parse_iso(value: str) -> tuple[dt.datetime, bool]:
    try:
        if len(value) == 10:
            return dt.datetime.fromisoformat(value), True
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")), False
    except ValueError:
        raise ExpressionValueError(f"DateAdd: {value!r} is not an ISO 8601 date or date-time") from None


def DateAdd(interval: Any, count: Any, date: Any) -> str | None:
    source = text(date)
    if is_empty(source):
        return None
    moment, date_only = _parse_iso(source)
    n = _count(count, "DateAdd")
    unit = (text(interval) or "").lower()
    if unit not in ("yyyy", "y", "m", "d", "h", "n", "s"):
        raise ExpressionValueError(f"DateAdd: unknown interval {text(interval)!r} (yyyy, m, d, h, n, s)")
    try:
        if unit in ("yyyy", "y"):
            moment = moment.replace(year=moment.year + n)
        elif unit == "m":
            month = moment.month - 1 + n
            moment = moment.replace(year=moment.year + month // 12, month=month % 12 + 1)
        else:
            moment = moment + {"d": dt.timedelta(days=1), "h": dt.timedelta(hours=1), "n": dt.timedelta(minutes=1), "s": dt.timedelta(seconds=1)}[unit] * n
    except (OverflowError, ValueError) as error:  # past year 9999 or before year 1, or a day a month lacks
        why = "outside the years 1 to 9999" if isinstance(error, OverflowError) else str(error)
        raise ExpressionValueError(f"DateAdd: {source!r} moved by {(text(count) or '')[:30]} {text(interval)} is not a date ({why})") from None
    if date_only:
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def Item(values: Any, index: Any) -> Any:
    items = _values(values)
    position = _count(index, "Item")
    return items[position - 1] if 1 <= position <= len(items) else None


def Count(values: Any) -> int:
    return len([v for v in _values(values) if not is_empty(v)])


def RemoveDuplicates(values: Any) -> list[Any] | None:
    items = _values(values)
    try:
        return list(dict.fromkeys(items)) if items else None
    except TypeError:  # lists or objects from a JSON source: compare them one by one
        kept: list[Any] = []
        for item in items:
            if item not in kept:
                kept.append(item)
        return kept


def IsPresent(value: Any) -> bool:
    return not is_empty(value)


def IsNullOrEmpty(value: Any) -> bool:
    return is_empty(value)


def CStr(value: Any) -> str | None:
    return text(value)


def IgnoreThisFlow() -> Any:
    return IGNORE


def AuthoritativeNull() -> Any:
    return CLEAR
