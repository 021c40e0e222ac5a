"""Expression lexer: text → tokens, each with its character offset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


class ExpressionSyntaxError(Exception):
    """A problem in an expression; ``offset`` is where, counted in characters."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # STRING NUMBER ATTR NAME OP LPAREN RPAREN COMMA EOF
    value: str | int | float
    offset: int


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
MAX_NUMBER_DIGITS = 100
_OPERATORS = ("<>", "<=", ">=", "=", "<", ">", "&", "-")


def tokenize(text: str) -> Iterator[Token]:
    i = 0
    length = len(text)
    while i < length:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char == '"':
            start = i
            i += 1
            parts: list[str] = []
            while True:
                if i >= length:
                    raise ExpressionSyntaxError('text started here is never closed: add the closing "', start)
                char = text[i]
                if char == '"':
                    i += 1
                    break
                if char == "\\":
                    if i + 1 >= length or text[i + 1] not in _ESCAPES:
                        raise ExpressionSyntaxError('unknown escape in text: write \\" for a quote and \\\\ for a backslash', i)
                    parts.append(_ESCAPES[text[i + 1]])
                    i += 2
                    continue
                parts.append(char)
                i += 1
            yield Token("STRING", "".join(parts), start)
            continue
        if char == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise ExpressionSyntaxError("attribute reference started here is never closed: add ]", i)
            name = text[i + 1 : end].strip()
            if not _ATTRIBUTE_NAME.fullmatch(name):
                raise ExpressionSyntaxError(f"[{name}] is not an attribute name", i)
            yield Token("ATTR", name, i)
            i = end + 1
            continue
        if "0" <= char <= "9":
            match = _NUMBER.match(text, i)
            assert match is not None
            number = match.group(0)
            if len(number) > MAX_NUMBER_DIGITS:
                raise ExpressionSyntaxError(f"number longer than {MAX_NUMBER_DIGITS} digits", i)
            yield Token("NUMBER", float(number) if match.group(1) else int(number), i)
            i = match.end()
            continue
        match = _NAME.match(text, i)
        if match:
            yield Token("NAME", match.group(0), i)
            i = match.end()
            continue
        if char == "(":
            yield Token("LPAREN", char, i)
        elif char == ")":
            yield Token("RPAREN", char, i)
        elif char == ",":
            yield Token("COMMA", char, i)
        else:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    yield Token("OP", op, i)
                    i += len(op)
                    break
            else:
                hint = " (text goes in double quotes)" if char == "'" else ""
                raise ExpressionSyntaxError(f"unexpected character {char!r}{hint}", i)
            continue
        i += 1
    yield Token("EOF", "", length)
