"""Expressions compiled to Python give the documented result for every function."""

from __future__ import annotations

import pytest

from maforge.compiler.expressions import FUNCTIONS, parse_expression
from maforge.compiler.expressions.codegen import to_python
from maforge.connectors.sync import functions as F
from maforge.connectors.sync.values import CLEAR, IGNORE

NOW = "2026-11-26T05:00:00Z"


def evaluate(text: str, row: dict) -> object:
    code = compile(to_python(parse_expression(text)), "<expression>", "eval")
    return eval(code, {"F": F, "now": NOW, "__builtins__": {}}, {"row": row})


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_documented_example(name):
    function = FUNCTIONS[name]
    result = evaluate(function.example, dict(function.inputs))
    expected = {"IGNORE": IGNORE, "CLEAR": CLEAR}.get(function.expected, function.expected) if isinstance(function.expected, str) else function.expected
    assert result == expected, f"{function.example} with {dict(function.inputs)}"


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ('[a] & " " & [b]', {"a": "x", "b": None}, "x "),
        ("[a] = [b]", {"a": None, "b": ""}, True),
        ('[n] > 9', {"n": "10"}, True),
        ('not IsPresent([a]) or [b] = "y"', {"a": "1", "b": "y"}, True),
        ('IIF(IsPresent([a]), [a], Left([b], "not a number"))', {"a": "x"}, "x"),  # the other branch is never evaluated
        ("Join(\";\", [multi], [single])", {"multi": ["a", "b"], "single": "c"}, "a;b;c"),
        ("Coalesce([a], [b])", {"a": [], "b": "x"}, "x"),
        ("-[n]", {"n": "3"}, -3),
        ("Count([none])", {}, 0),
    ],
)
def test_operators_and_null_handling(text, row, expected):
    assert evaluate(text, row) == expected


def test_bad_values_raise_a_clear_error():
    with pytest.raises(F.ExpressionValueError, match="does not match the format"):
        evaluate('FormatDateTime([d], "dd.MM.yyyy", "yyyy")', {"d": "2024/01/01"})
