"""The expression functions, implemented for the Python runtime.

Names, arities and examples are in maforge.compiler.expressions.functions (the catalogue);
this module gives each its meaning. Every function accepts None for an absent attribute and
returns None when there is nothing to return, so a flow's `whenNull` decides what happens.

MIM runs the same flows in a C# rules extension on the .NET Framework
(templates/csharp/MaforgeRuntime.cs), so wherever Python and .NET would differ this module
does what .NET does, and tests/test_csharp_expressions.py checks both compute the same:

- text is a sequence of UTF-16 code units, as a .NET string is: Left, Mid, Right, lengths,
  ordering and regular expressions count an emoji as two characters;
- casing is .NET's invariant, one character to one character ("ß" stays "ß"; "İ" and "ı"
  have no invariant partner), white space is Char.IsWhiteSpace's set;
- numbers are Int64 (MIM's Integer) and Double; a double is written with 15 significant
  digits, as .NET Framework's Double.ToString() does;
- DateAdd clamps to the end of the month like DateTime.AddMonths; FormatDateTime and
  RegexReplace accept the part of .NET's format and regex languages both sides mean the
  same by, and refuse the rest with ExpressionValueError.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
import re
import unicodedata
from typing import Any, Callable

from .values import CLEAR, IGNORE, is_empty

# Letters NFKD does not decompose into a base letter and a mark.
_DIACRITIC_FOLDS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "œ": "oe", "Œ": "OE"})

# Char.IsWhiteSpace: the Unicode categories Zs, Zl, Zp plus U+0009-U+000D, U+0085 (String.Trim
# trims exactly these since .NET Framework 4). Python's str.strip() also trims U+001C-U+001F.
WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# A number written as text: what Double.Parse(s, NumberStyles.Float, InvariantCulture) reads,
# minus its symbols ("Infinity", "NaN"), which Python and the .NET versions spell differently.
_NUMBER_TEXT = re.compile(r"[\t\n\v\f\r ]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[\t\n\v\f\r ]*")


class ExpressionValueError(ValueError):
    """A value an expression function cannot work with (a date that does not parse, …)."""


# --------------------------------------------------------------------------- UTF-16 text


def _has_astral(source: str) -> bool:
    return not source.isascii() and any(ord(ch) > 0xFFFF for ch in source)


def _units(source: str) -> str:
    """``source`` with every astral character split into its two surrogates, so that Python's
    indexing counts UTF-16 code units like .NET's String.Length and Substring."""
    if not _has_astral(source):
        return source
    data = source.encode("utf-16-le", "surrogatepass")
    return "".join(chr(data[i] | data[i + 1] << 8) for i in range(0, len(data), 2))


def _merge(source: str) -> str:
    """The inverse of _units: surrogate pairs back into one character, lone surrogates kept."""
    if source.isascii() or not any(0xD800 <= ord(ch) <= 0xDFFF for ch in source):
        return source
    return source.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _has_lone_surrogate(source: str) -> bool:
    return not source.isascii() and any(0xD800 <= ord(ch) <= 0xDFFF for ch in source)


def _utf16_key(source: str) -> bytes:
    """Ordinal order of .NET (String.CompareOrdinal compares UTF-16 code units); Python's own
    order is by code point, which sorts U+E000-U+FFFF after astral characters."""
    return source.encode("utf-16-be", "surrogatepass")


# --------------------------------------------------------------------------- casing


def _simple(ch: str, full: Callable[[str], str], other: Callable[[str], str] | None) -> str:
    mapped = full(ch)
    if len(mapped) == 1:
        return mapped
    if other is not None:  # "ᾳ".upper() is "ΑΙ"; its one-character mapping is its title case
        mapped = other(ch)
        if len(mapped) == 1:
            return mapped
    return ch


@functools.cache
def _case_tables() -> tuple[dict[int, str], dict[int, str]]:
    """Invariant-culture casing as .NET does it: one UTF-16 character to one ("ß" has no
    one-character upper case and stays; astral characters stay), and no Turkish pairs: "İ"
    (U+0130) and "ı" (U+0131) have no invariant partner. Python's str.upper() uses the full
    mappings ("ß" → "SS", "İ".lower() → "i̇"). The micro sign "µ" (U+00B5) has no invariant
    upper case on Windows, whose casing tables the .NET Framework uses: Unicode's simple
    mapping makes it the Greek "Μ", which .NET on Windows does not (dotnet/runtime#54278:
    ToUpperInvariant("µ") is "µ" on Windows, "Μ" with ICU; Mono agrees with Windows)."""
    upper: dict[int, str] = {}
    lower: dict[int, str] = {}
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF or code in (0x130, 0x131):
            continue
        if code == 0xB5:
            continue  # no upper case (above); its lower case is itself
        ch = chr(code)
        up, low = _simple(ch, str.upper, str.title), _simple(ch, str.lower, None)
        if up != ch:
            upper[code] = up
        if low != ch:
            lower[code] = low
    return upper, lower


def to_upper(source: str) -> str:
    return source.upper() if source.isascii() else source.translate(_case_tables()[0])


def to_lower(source: str) -> str:
    return source.lower() if source.isascii() else source.translate(_case_tables()[1])


def trim(source: str) -> str:
    """String.Trim(): Char.IsWhiteSpace at both ends."""
    return source.strip(WHITE_SPACE)


# --------------------------------------------------------------------------- values


def format_double(value: float) -> str:
    """A double as .NET Framework's Double.ToString(CultureInfo.InvariantCulture) writes it:
    "G15", 15 significant digits, scientific notation with "E" and at least two exponent
    digits when the exponent is below -5 or at least 15 (1e16 → "1E+16", 0.1 + 0.2 → "0.3"),
    "-0" as "0", and the invariant symbols "NaN", "Infinity", "-Infinity". (.NET Core 3.0 and
    later write the shortest round-trip form instead; MIM runs the .NET Framework.)"""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    written = format(value, ".15g")
    if "e" in written:
        mantissa, exponent = written.split("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0")
        written = f"{mantissa}E{sign}{digits.rjust(2, '0')}"
    return written


def text(value: Any) -> str | None:
    """A value as text: integers in invariant culture, doubles as format_double, booleans as
    true/false, lists joined with ';'. None and the markers stay None."""
    if type(value) is str:  # the common case, first
        return value
    if value is None or value is IGNORE or value is CLEAR:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, list):
        return ";".join(t for t in (text(v) for v in value) if t)
    return str(value)


def truthy(value: Any) -> bool:
    """Text is false when, trimmed and in lower case, it is empty, "false", "0" or "no"; any
    other value is true when present."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return to_lower(trim(value)) not in ("", "false", "0", "no")
    return not is_empty(value)


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def number(value: Any) -> int | float | None:
    """A value read as a number, or None when it is not one. Integers stay Int64 (a text of
    digits within the Int64 range reads as an integer), everything else is a double. Booleans,
    lists and the markers are not numbers (Python's float(True) would be 1.0)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if not isinstance(value, str):
        return None
    match = _NUMBER_TEXT.fullmatch(value)
    if match is None:
        return None
    core = match.group(1)
    if core.lstrip("+-").isdigit():  # digits only: an integer when it fits Int64
        whole = int(core)
        if INT64_MIN <= whole <= INT64_MAX:
            return whole
    result = float(core)
    return None if math.isinf(result) else result  # .NET Framework: OverflowException


def _int64(value: int, what: str) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise ExpressionValueError(f"{what}: {value} is outside the Int64 range of MIM's integers")
    return value


# --------------------------------------------------------------------------- operators


def concat(left: Any, right: Any) -> str | None:
    a, b = text(left) or "", text(right) or ""
    return (a + b) or None


def _compare(left: Any, right: Any) -> int:
    """-1, 0 or 1: as numbers when both read as numbers (two integers exactly, else as doubles,
    as C# compares a long with a double), otherwise as text in ordinal UTF-16 order."""
    a, b = number(left), number(right)
    if a is not None and b is not None:
        if not (isinstance(a, int) and isinstance(b, int)):
            a, b = float(a), float(b)
        return (a > b) - (a < b)
    x, y = _utf16_key(text(left) or ""), _utf16_key(text(right) or "")
    return (x > y) - (x < y)


def eq(left: Any, right: Any) -> bool:
    if is_empty(left) and is_empty(right):
        return True
    return _compare(left, right) == 0


def ne(left: Any, right: Any) -> bool:
    return not eq(left, right)


def lt(left: Any, right: Any) -> bool:
    return _compare(left, right) < 0


def le(left: Any, right: Any) -> bool:
    return _compare(left, right) <= 0


def gt(left: Any, right: Any) -> bool:
    return _compare(left, right) > 0


def ge(left: Any, right: Any) -> bool:
    return _compare(left, right) >= 0


def neg(value: Any) -> Any:
    """Minus a number: an integer stays an Int64 (-(-2**63) overflows, as C#'s checked negation
    does), a double stays a double."""
    n = number(value)
    if n is None:
        raise ExpressionValueError(f"cannot negate {value!r}: not a number")
    return _int64(-n, "negation") if isinstance(n, int) else -n


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
    """Cut at every separator (";" when it is empty); pieces that are empty or white space
    only are dropped, the others kept as they are."""
    if is_empty(value):
        return None
    sep = _units(text(separator) or ";")
    return [_merge(part) for part in _units(text(value) or "").split(sep) if trim(part)]


def Replace(value: Any, find: Any, replacement: Any) -> str | None:
    """String.Replace: ordinal, every occurrence; an empty find changes nothing."""
    source = text(value)
    if source is None:
        return None
    wanted = text(find)
    if not wanted:
        return source
    return _merge(_units(source).replace(_units(wanted), _units(text(replacement) or "")))


def RegexReplace(value: Any, pattern: Any, replacement: Any) -> str | None:
    """Regex.Replace, in the part of .NET's regex language Python's re means the same by
    (portable_regex); the replacement in .NET's syntax ($1, ${name}, $$, $&, …)."""
    source = text(value)
    if source is None:
        return None
    translated, names = portable_regex(_units(text(pattern) or ""))
    try:
        compiled = re.compile(translated)
    except (re.error, OverflowError, RecursionError) as error:  # OverflowError: a{99999999999}
        raise ExpressionValueError(f"RegexReplace: bad regular expression {text(pattern)!r}: {error}") from None
    template = _units(text(replacement) or "")
    units = _units(source)
    return _merge(compiled.sub(lambda m: _expand(template, m, names, units), units))


# The regex subset both engines agree on. Classes \d \w \s (and \b, which depends on \w) are
# written out in ASCII because .NET's are Unicode-wide and differ from Python's in detail.
_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "s": "\\t\\n\\x0b\\f\\r "}
_WORD = "[A-Za-z0-9_]"
_ESCAPES_OUTSIDE = {
    "d": "[0-9]", "D": "[^0-9]", "w": _WORD, "W": "[^A-Za-z0-9_]", "s": "[\\t\\n\\x0b\\f\\r ]", "S": "[^\\t\\n\\x0b\\f\\r ]",
    "b": f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))", "B": f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))",
    "A": "\\A", "z": "\\Z", "t": "\\t", "n": "\\n", "r": "\\r", "f": "\\f", "v": "\\x0b",
}
_QUANTIFIER = re.compile(r"\{([0-9]{1,4})(,([0-9]{1,4})?)?\}")
_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
MAX_REPEAT = 1000


def _refuse(pattern: str, why: str) -> ExpressionValueError:
    return ExpressionValueError(f"RegexReplace: {pattern!r} {why}; maforge accepts the part of the .NET regex language Python means the same by (docs/expressions.md)")


def portable_regex(pattern: str) -> tuple[str, list[str]]:
    """``pattern`` in Python's dialect, and its group names, or ExpressionValueError when it
    uses what the two engines read differently (inline options, lookbehind, \\p{..}, class
    subtraction, \\k, \\Z, ...). MaforgeRuntime.cs's PortableRegex makes the same decisions."""
    out: list[str] = []
    names: list[str] = []
    unnamed = 0
    quantified = lazy = False  # after a quantifier (and its lazy ?) another one is refused
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch in "*+?{" and quantified:
            if ch == "?" and not lazy:
                out.append("?")
                lazy = True
                i += 1
                continue
            raise _refuse(pattern, "puts a quantifier on a quantifier (possessive or nested)")
        quantified, lazy = ch in "*+?", False
        if quantified:
            out.append(ch)
            i += 1
            continue
        if ch == "\\":
            if i + 1 >= n:
                raise _refuse(pattern, "ends with a lone backslash")
            nxt = pattern[i + 1]
            if nxt in _ESCAPES_OUTSIDE:
                out.append(_ESCAPES_OUTSIDE[nxt])
            elif "1" <= nxt <= "9":
                out.append(f"(?:\\{nxt})")  # so that a digit after it is not read as \10
            elif nxt.isascii() and not nxt.isalnum() and nxt != "_":
                out.append("\\" + nxt)
            else:
                raise _refuse(pattern, f"uses \\{nxt}")
            i += 2
        elif ch == "[":
            i = _class(pattern, i, out)
        elif ch == "(":
            if pattern.startswith("(?:", i) or pattern.startswith("(?=", i) or pattern.startswith("(?!", i):
                out.append(pattern[i : i + 3])
                i += 3
            elif pattern.startswith("(?<", i) and not pattern.startswith("(?<=", i) and not pattern.startswith("(?<!", i):
                match = _GROUP_NAME.match(pattern, i + 3)
                if match is None or not pattern.startswith(">", match.end()) or match.group(0) in names:
                    raise _refuse(pattern, "has a group name maforge does not accept")
                names.append(match.group(0))
                out.append(f"(?P<{match.group(0)}>")
                i = match.end() + 1
            elif pattern.startswith("(?", i):
                raise _refuse(pattern, f"uses the construct {pattern[i:i + 3]!r}")
            else:
                unnamed += 1
                out.append("(")
                i += 1
        elif ch == "{":
            match = _QUANTIFIER.match(pattern, i)
            if match is None or not out or int(match.group(1)) > MAX_REPEAT or (match.group(3) and int(match.group(3)) > MAX_REPEAT):
                raise _refuse(pattern, "has a { that is not a quantifier {n}, {n,} or {n,m} with n, m up to 1000 (write \\{ for the character)")
            if match.group(3) and int(match.group(3)) < int(match.group(1)):
                raise _refuse(pattern, "has a quantifier {n,m} with m below n")
            out.append(match.group(0))
            i = match.end()
            quantified = True
        elif ch in "}]":
            raise _refuse(pattern, f"has an unescaped {ch} (write \\{ch})")
        else:
            out.append(ch)
            i += 1
    if names and unnamed:
        raise _refuse(pattern, "mixes named and numbered groups (.NET numbers named groups last)")
    return "".join(out), names


def _class(pattern: str, start: int, out: list[str]) -> int:
    """Copy the character class at ``start``; refuse nested classes, subtraction and escapes
    whose meaning differs."""
    i = start + 1
    out.append("[")
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        ch = pattern[i]
        if ch == "]" and not first:
            out.append("]")
            return i + 1
        if ch in "[]":
            raise _refuse(pattern, f"has {ch} inside a character class (write \\{ch})")
        if ch == "-" and pattern.startswith("-[", i):
            raise _refuse(pattern, "uses class subtraction")
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt in _CLASS_ESCAPES:
                out.append(_CLASS_ESCAPES[nxt])
            elif nxt in ("t", "n", "r", "f"):
                out.append("\\" + nxt)
            elif nxt == "v":
                out.append("\\x0b")
            elif nxt and nxt.isascii() and not nxt.isalnum() and nxt != "_":
                out.append("\\" + nxt)
            else:
                raise _refuse(pattern, f"uses \\{nxt} inside a character class")
            i += 2
        else:
            out.append("\\" + ch if ch in "&~|" else ch)
            i += 1
        first = False
    raise _refuse(pattern, "has a character class that is never closed")


def _expand(template: str, match: re.Match[str], names: list[str], source: str) -> str:
    """Regex.Replace's substitutions: $n or ${n} for a group that exists, ${name}, $$, $&,
    $` (before the match), $' (after it), $+ (the last group, or the match without groups), $_ (the whole input). A $ that
    starts none of these is kept as it is, as .NET keeps it."""
    count = (match.re.groups or 0) + 1
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = template[i + 1]
        simple = {"$": "$", "&": match.group(0), "`": source[: match.start()], "'": source[match.end() :], "_": source}
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "+":
            out.append(match.group(count - 1) or "")  # with no groups: group 0, the match
            i += 2
        elif nxt.isdigit() and nxt.isascii():
            j = i + 1
            while j < n and template[j].isascii() and template[j].isdigit():
                j += 1
            group = int(template[i + 1 : j])
            if group < count:
                out.append(match.group(group) or "")
                i = j
            else:
                out.append("$")
                i += 1
        elif nxt == "{":
            end = template.find("}", i + 2)
            name = template[i + 2 : end] if end > 0 else ""
            if name.isascii() and name.isdigit() and int(name) < count:
                out.append(match.group(int(name)) or "")
                i = end + 1
            elif name in names:
                out.append(match.group(name) or "")
                i = end + 1
            else:
                out.append("$")
                i += 1
        else:
            out.append("$")
            i += 1
    return "".join(out)


def count_of(value: Any, name: str) -> int:
    """A count or position: a number (a double is truncated toward zero) within Int64."""
    n = number(value)
    if n is None:
        raise ExpressionValueError(f"{name}: {value!r} is not a number")
    if isinstance(n, float):
        if math.isnan(n) or not -(2.0**63) <= n < 2.0**63:
            raise ExpressionValueError(f"{name}: {value!r} is not a finite number within the Int64 range")
        return int(n)
    return n


def Left(value: Any, count: Any) -> str | None:
    """MIM's Left: a count of 0 gives no value, a negative count the whole input
    (tests/data/function_edge_cases.json quotes the reference)."""
    source = text(value)
    if source is None:
        return None
    n = count_of(count, "Left")
    return source if n < 0 else _merge(_units(source)[:n]) or None


def Mid(value: Any, start: Any, count: Any) -> str | None:
    """MIM's Mid: a start before 1 or past the end gives the whole input; a count of 0 or
    less gives no value (the Entra Connect reference differs on a negative count; MIM's is
    followed); a count past the end gives what remains."""
    source = text(value)
    if source is None:
        return None
    begin, n = count_of(start, "Mid"), count_of(count, "Mid")
    units = _units(source)
    if begin <= 0 or begin > len(units):
        return source
    return _merge(units[begin - 1 : begin - 1 + n]) or None if n > 0 else None


def Right(value: Any, count: Any) -> str | None:
    """MIM's Right: a count of 0 gives no value, a negative count the whole input."""
    source = text(value)
    if source is None:
        return None
    n = count_of(count, "Right")
    if n < 0:
        return source
    return _merge(_units(source)[-n:]) or None if n else None


def Trim(value: Any) -> str | None:
    source = text(value)
    return None if source is None else trim(source) or None


def ToLower(value: Any) -> str | None:
    source = text(value)
    return None if source is None else to_lower(source)


def ToUpper(value: Any) -> str | None:
    source = text(value)
    return None if source is None else to_upper(source)


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
    lowered = _units(to_lower(word))
    for index, ch in enumerate(lowered):
        if ch.isalpha():  # Char.IsLetter: a lone surrogate (half an astral letter) is none
            return _merge(lowered[:index] + to_upper(ch) + lowered[index + 1 :])
    return _merge(lowered)


def NormalizeDiacritics(value: Any) -> str | None:
    """Fold the letters NFKD leaves alone, decompose (String.Normalize(FormKD)) and drop the
    non-spacing marks (UnicodeCategory.NonSpacingMark, "Mn"). String.Normalize refuses text
    with a lone surrogate, and so does this."""
    source = text(value)
    if source is None:
        return None
    if _has_lone_surrogate(source):
        raise ExpressionValueError(f"NormalizeDiacritics: {source!r} holds half a surrogate pair, which is not Unicode text")
    decomposed = unicodedata.normalize("NFKD", source.translate(_DIACRITIC_FOLDS))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


# --------------------------------------------------------------------------- dates

# The .NET custom date and time format specifiers maforge accepts, longest first. Standard
# (one-letter) formats, names of days and months, time zones (z, K: they read the machine's
# clock) and quoting are refused, so that both runtimes read and write the same.
_DATE_TOKENS = ("yyyy", "yy", "MM", "M", "dd", "d", "HH", "H", "hh", "h", "mm", "m", "ss", "s", "fff", "ff", "f", "tt")
_DATE_LITERALS = frozenset(" -./:,_T")
_DATE_TOKEN_DIGITS = {"yyyy": (4, 4), "yy": (2, 2), "MM": (2, 2), "M": (1, 2), "dd": (2, 2), "d": (1, 2), "HH": (2, 2), "H": (1, 2), "hh": (2, 2), "h": (1, 2), "mm": (2, 2), "m": (1, 2), "ss": (2, 2), "s": (1, 2), "fff": (3, 3), "ff": (2, 2), "f": (1, 1)}


def date_format(pattern: str, function: str = "FormatDateTime") -> list[str]:
    """``pattern`` cut into tokens and literal characters, or ExpressionValueError."""
    if len(pattern) < 2:
        raise ExpressionValueError(f"{function}: {pattern!r} is a standard .NET format or empty; write a custom pattern such as yyyy-MM-dd")
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        for token in _DATE_TOKENS:
            if pattern.startswith(token, i):
                tokens.append(token)
                i += len(token)
                break
        else:
            ch = pattern[i]
            if ch not in _DATE_LITERALS:
                raise ExpressionValueError(f"{function}: {pattern!r} uses {ch!r}; maforge accepts {', '.join(_DATE_TOKENS)} and the characters {''.join(sorted(_DATE_LITERALS))!r}")
            tokens.append(ch)
            i += 1
        if i < len(pattern) and tokens[-1] in _DATE_TOKENS and pattern[i] == tokens[-1][0]:
            raise ExpressionValueError(f"{function}: {pattern!r} repeats a letter more times than a specifier takes")
    return tokens


def _parse_date(source: str, tokens: list[str]) -> dt.datetime:
    """DateTime.ParseExact(source, pattern, InvariantCulture): every specifier reads its
    digits (yy: 00-29 is 20xx, 30-99 is 19xx, the invariant calendar's TwoDigitYearMax 2029),
    every other character must be there as it is."""
    fields = {"y": 1, "M": 1, "d": 1, "H": 0, "m": 0, "s": 0, "f": 0}
    i = 0
    for token in tokens:
        if token not in _DATE_TOKEN_DIGITS:
            if source[i : i + 1] != token:
                raise ValueError(token)
            i += 1
            continue
        low, high = _DATE_TOKEN_DIGITS[token]
        j = i
        while j < len(source) and j - i < high and "0" <= source[j] <= "9":
            j += 1
        if j - i < low:
            raise ValueError(token)
        digits = int(source[i:j])
        i = j
        if token == "yy":
            digits += 2000 if digits <= 29 else 1900
        if token[0] == "f":
            digits = digits * 10 ** (3 - len(token))
        fields[token[0]] = digits
    if i != len(source):
        raise ValueError("trailing")
    return dt.datetime(fields["y"], fields["M"], fields["d"], fields["H"], fields["m"], fields["s"], fields["f"] * 1000)


def _write_date(moment: dt.datetime, tokens: list[str]) -> str:
    """DateTime.ToString(pattern, InvariantCulture) for the accepted specifiers."""
    hour12 = moment.hour % 12 or 12
    values = {"yyyy": f"{moment.year:04d}", "yy": f"{moment.year % 100:02d}", "MM": f"{moment.month:02d}", "M": str(moment.month),
              "dd": f"{moment.day:02d}", "d": str(moment.day), "HH": f"{moment.hour:02d}", "H": str(moment.hour),
              "hh": f"{hour12:02d}", "h": str(hour12), "mm": f"{moment.minute:02d}", "m": str(moment.minute),
              "ss": f"{moment.second:02d}", "s": str(moment.second), "fff": f"{moment.microsecond // 1000:03d}",
              "ff": f"{moment.microsecond // 10000:02d}", "f": str(moment.microsecond // 100000), "tt": "PM" if moment.hour >= 12 else "AM"}
    return "".join(values.get(token, token) for token in tokens)


def FormatDateTime(value: Any, input_format: Any, output_format: Any) -> str | None:
    source = text(value)
    if is_empty(source):
        return None
    in_pattern, out_pattern = text(input_format) or "", text(output_format) or ""
    reading, writing = date_format(in_pattern), date_format(out_pattern)
    if any(token in ("h", "hh", "tt") for token in reading):
        raise ExpressionValueError(f"FormatDateTime: read times with HH (0-23), not h or tt: {in_pattern!r}")
    try:
        moment = _parse_date(source or "", reading)
    except ValueError:
        raise ExpressionValueError(f"FormatDateTime: {source!r} does not match the format {in_pattern!r}") from None
    return _write_date(moment, writing)


_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?")
_MAX_DAYS = 3_652_059  # DateTime.MinValue to MaxValue


def _parse_iso(value: str) -> tuple[dt.datetime, str | None, bool]:
    """YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.ffffff]] with an optional Z or ±HH:MM: the forms
    both runtimes read alike (Python's fromisoformat takes more, DateTime.Parse other ones)."""
    match = _ISO.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        y, mo, d, h, mi, s, frac, zone = match.groups()
        if zone and zone != "Z" and (int(zone[1:3]) > 23 or int(zone[4:6]) > 59):
            raise ValueError(zone)
        micro = int(frac.ljust(6, "0")) if frac else 0
        moment = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro)
        return moment, zone, h is None
    except ValueError:
        raise ExpressionValueError(f"DateAdd: {value!r} is not an ISO 8601 date or date-time") from None


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """DateTime.AddMonths: "the resulting day is the last valid day in the resulting month"
    when the day does not exist there (31 January + 1 month = 29 February in a leap year)."""
    if not -120_000 <= months <= 120_000:
        raise OverflowError
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError
    last = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last))


def DateAdd(interval: Any, count: Any, date: Any) -> str | None:
    """DateTime.AddYears/AddMonths/AddDays/AddHours/AddMinutes/AddSeconds. AddYears and
    AddMonths clamp to the month's last day (29 February + 1 year = 28 February)."""
    source = text(date)
    if is_empty(source):
        return None
    moment, zone, date_only = _parse_iso(source or "")
    n = count_of(count, "DateAdd")
    unit = to_lower(text(interval) or "")
    if unit not in ("yyyy", "y", "m", "d", "h", "n", "s"):
        raise ExpressionValueError(f"DateAdd: unknown interval {text(interval)!r} (yyyy, m, d, h, n, s)")
    try:
        if unit in ("yyyy", "y"):
            if not -10_000 <= n <= 10_000:
                raise OverflowError
            moment = _add_months(moment, n * 12)
        elif unit == "m":
            moment = _add_months(moment, n)
        else:
            seconds = {"d": 86_400, "h": 3_600, "n": 60, "s": 1}[unit]
            if abs(n) * seconds > _MAX_DAYS * 86_400:
                raise OverflowError
            moment = moment + dt.timedelta(seconds=n * seconds)
    except (OverflowError, ValueError):  # past year 9999 or before year 1
        raise ExpressionValueError(f"DateAdd: {source!r} moved by {(text(count) or '')[:30]} {text(interval)} is not a date (outside the years 1 to 9999)") from None
    if date_only:
        return moment.date().isoformat()
    return moment.isoformat() + (zone or "")


# --------------------------------------------------------------------------- multi-valued


def Item(values: Any, index: Any) -> Any:
    items = _values(values)
    position = count_of(index, "Item")
    return items[position - 1] if 1 <= position <= len(items) else None


def Count(values: Any) -> int:
    return len([v for v in _values(values) if not is_empty(v)])


def _identity(value: Any) -> Any:
    """What makes two values the same for RemoveDuplicates: Object.Equals in .NET, so the type
    counts (1, 1.0, "1" and true are four values; Python's == takes 1, 1.0 and True as one)
    and text compares ordinally, case and all."""
    if isinstance(value, list):
        return ("list", tuple(_identity(v) for v in value))
    if isinstance(value, float) and value == 0:
        return (float, 0.0)
    return (type(value), value)


def RemoveDuplicates(values: Any) -> list[Any] | None:
    items = _values(values)
    if not items:
        return None
    kept: list[Any] = []
    seen: set[Any] = set()
    unhashable: list[Any] = []
    for item in items:
        try:
            key = _identity(item)
            if key in seen:
                continue
            seen.add(key)
        except TypeError:  # objects from a JSON source (Python only): compare them one by one
            if item in unhashable:
                continue
            unhashable.append(item)
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
