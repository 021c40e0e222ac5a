"""Expression tree → C# source, the twin of compiler/python/expressions.py's to_python.

MIM runs a spec's expression flows in the generated rules extension, so every expression is
compiled to one C# expression there, once, the way python/expressions.py compiles it for
`maforge plan`. The C# reads attributes as ``F.Get(row, "<name>")`` (``row`` is an
``IDictionary<string, object>``), calls the runtime of templates/csharp/MaforgeRuntime.cs as
``F.<Name>(...)`` and reads the run's fixed clock ``now`` (an ISO 8601 string) for ``Now()``.

Why the output looks the way it does:

- Every sub-expression has the static type ``object`` (the runtime's value model), so
  booleans from comparisons are boxed and ``null`` is written ``(object)null``: a bare
  ``null`` passed to a ``params object[]`` function would bind as the array itself.
- IIF compiles to the conditional operator with both branches cast to object, and ``and`` /
  ``or`` to ``&&`` / ``||``, so like Python only the branch that is needed is evaluated (a
  branch that would throw is never reached).
- Text literals escape every character outside printable ASCII as ``\\uXXXX`` (an astral
  character as its two UTF-16 surrogates), so the source survives any file encoding and
  the string holds exactly the UTF-16 code units a .NET string would.
- Integers are Int64 (``123L``), as MIM's Integer attributes are; an integer literal outside
  that range cannot mean the same in MIM and is refused with :class:`CSharpExpressionError`
  (except ``-9223372036854775808``, the Int64 minimum, which Python's runtime also computes).
  Doubles are written with Python's round-trip ``repr``, which C#'s compiler reads back to the
  same double.
- The output depends only on the tree, so a build is reproducible.
"""

from __future__ import annotations

import math

from ..expressions.ast import AttributeRef, Binary, Call, Expression, Literal, Node, Unary

__all__ = ["CSharpExpressionError", "csharp_string", "to_csharp"]

_OPERATORS = {"&": "F.Concat", "=": "F.Eq", "<>": "F.Ne", "<": "F.Lt", "<=": "F.Le", ">": "F.Gt", ">=": "F.Ge"}
_BOOLEAN_OPERATORS = frozenset({"=", "<>", "<", "<=", ">", ">="})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class CSharpExpressionError(ValueError):
    """An expression that has no faithful C# form (an integer beyond Int64)."""


def to_csharp(expression: Expression) -> str:
    """A C# expression of type object over ``row``, ``F`` and ``now`` that evaluates
    ``expression`` as the Python runtime does."""
    return _emit(expression.root)


def csharp_string(value: str) -> str:
    """``value`` as a C# string literal: printable ASCII as it is, everything else (and the
    quote and backslash) escaped, astral characters as two \\u surrogate escapes."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= code <= 0x7E:
            out.append(ch)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
        else:
            out.append(f"\\u{code:04X}")
    out.append('"')
    return "".join(out)


def _literal(value: object) -> str:
    if value is None:
        return "(object)null"
    if isinstance(value, bool):
        return "(object)true" if value else "(object)false"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise CSharpExpressionError(f"the number {value} is outside the Int64 range of MIM's integers (-9223372036854775808 to 9223372036854775807)")
        return "(object)(-9223372036854775807L - 1L)" if value == INT64_MIN else f"(object){value}L"
    if isinstance(value, float):
        if math.isnan(value):
            return "(object)double.NaN"
        if math.isinf(value):
            return "(object)double.PositiveInfinity" if value > 0 else "(object)double.NegativeInfinity"
        return f"(object)({value!r}D)"
    if isinstance(value, str):
        return csharp_string(value)
    raise TypeError(f"unknown literal type {type(value).__name__}")


def _emit(node: Node) -> str:
    if isinstance(node, Literal):
        return _literal(node.value)
    if isinstance(node, AttributeRef):
        return f"F.Get(row, {csharp_string(node.name)})"
    if isinstance(node, Unary):
        if node.op == "not":
            return f"(object)(!F.Truthy({_emit(node.operand)}))"
        if isinstance(node.operand, Literal) and node.operand.value == -INT64_MIN and type(node.operand.value) is int:
            return _literal(INT64_MIN)  # F.neg(2**63) in Python: the one literal past Int64 with a meaning
        return f"F.Neg({_emit(node.operand)})"
    if isinstance(node, Binary):
        if node.op == "and":
            return f"(object)(F.Truthy({_emit(node.left)}) && F.Truthy({_emit(node.right)}))"
        if node.op == "or":
            return f"(object)(F.Truthy({_emit(node.left)}) || F.Truthy({_emit(node.right)}))"
        call = f"{_OPERATORS[node.op]}({_emit(node.left)}, {_emit(node.right)})"
        return f"(object){call}" if node.op in _BOOLEAN_OPERATORS else call
    if isinstance(node, Call):
        if node.name == "IIF":
            condition, then, otherwise = node.args
            return f"(F.Truthy({_emit(condition)}) ? (object)({_emit(then)}) : (object)({_emit(otherwise)}))"
        if node.name == "Now":
            return "(object)now"
        return f"F.{node.name}({', '.join(_emit(a) for a in node.args)})"
    raise TypeError(f"unknown expression node {type(node).__name__}")
