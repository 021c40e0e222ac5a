"""Expressions compiled to Python give the documented result for every function."""

from __future__ import annotations

import pytest

from maforge.compiler.expressions import FUNCTIONS, parse_expression
from maforge.compiler.python.expressions import to_python
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


# (expression, row, result): shared with tests/test_csharp_expressions.py, which checks that
# the C# rules extension computes the same.
OPERATOR_CASES = [
    ('[a] & " " & [b]', {"a": "x", "b": None}, "x "),
    ("[a] = [b]", {"a": None, "b": ""}, True),
    ('[n] > 9', {"n": "10"}, True),
    ('not IsPresent([a]) or [b] = "y"', {"a": "1", "b": "y"}, True),
    ('IIF(IsPresent([a]), [a], Left([b], "not a number"))', {"a": "x"}, "x"),  # the other branch is never evaluated
    ("Join(\";\", [multi], [single])", {"multi": ["a", "b"], "single": "c"}, "a;b;c"),
    ("Coalesce([a], [b])", {"a": [], "b": "x"}, "x"),
    ("-[n]", {"n": "3"}, -3),
    ("Count([none])", {}, 0),
    ('Left("😀x", 1)', {}, "\ud83d"),  # .NET counts UTF-16 code units: half an emoji
    ("[n] < [m]", {"n": 9223372036854775806, "m": "9223372036854775807"}, True),  # Int64 compared exactly
    ("[n] = [m]", {"n": 2**53, "m": 2.0**53 + 1}, True),  # a long and a double compare as doubles, as in C#
    ("-[n]", {"n": 1.0}, -1.0),  # a double stays a double
    ("RemoveDuplicates([v])", {"v": [1, 1.0, "1", True, 1]}, [1, 1.0, "1", True]),  # Object.Equals: the type counts
]


@pytest.mark.parametrize(("text", "row", "expected"), OPERATOR_CASES)
def test_operators_and_null_handling(text, row, expected):
    assert evaluate(text, row) == expected


def test_bad_values_raise_a_clear_error():
    with pytest.raises(F.ExpressionValueError, match="does not match the format"):
        evaluate('FormatDateTime([d], "dd.MM.yyyy", "yyyy")', {"d": "2024/01/01"})
