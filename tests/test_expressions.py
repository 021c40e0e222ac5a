"""The expression language parses what identity admins write and refuses the rest precisely."""

from __future__ import annotations

import pytest

from maforge.compiler.expressions import (
    FUNCTIONS,
    AttributeRef,
    Binary,
    Call,
    ExpressionSyntaxError,
    Literal,
    Unary,
    parse_expression,
)


def test_calls_attributes_and_literals():
    expr = parse_expression('Join(" ", Coalesce([preferredName], [firstName]), [SPS-JobTitle], 3, true, null)')
    root = expr.root
    assert isinstance(root, Call) and root.name == "Join"
    assert [a.name for a in expr.attributes()] == ["preferredName", "firstName", "SPS-JobTitle"]
    assert [type(a) for a in root.args] == [Literal, Call, AttributeRef, Literal, Literal, Literal]
    assert [a.value for a in root.args if isinstance(a, Literal)] == [" ", 3, True, None]


def test_operator_precedence():
    expr = parse_expression('not [a] = "x" & [b] or [c] <> 1 and -[d] < 2')
    root = expr.root
    assert isinstance(root, Binary) and root.op == "or"
    left, right = root.left, root.right
    assert isinstance(left, Unary) and left.op == "not"
    assert isinstance(left.operand, Binary) and left.operand.op == "="
    assert isinstance(left.operand.right, Binary) and left.operand.right.op == "&"
    assert isinstance(right, Binary) and right.op == "and"


def test_string_escapes():
    assert parse_expression(r'"say \"hi\"\\n"').root == Literal(0, 'say "hi"\\n')


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("Colesce([a])", 0, "unknown function Colesce (did you mean Coalesce?)"),
        ("toLower([a])", 0, "unknown function toLower (did you mean ToLower? names must match exactly, including case)"),
        ("Left([a])", 0, "Left takes 2 arguments, got 1: Left(value, count)"),
        ("Switch([a], 1, 2, 3, 4)", 0, "Switch takes its arguments after the first 2 in pairs, got 5: "
         "Switch(value, default, key1, result1, key2, result2, ...)"),
        ("Now(1)", 0, "Now takes 0 arguments, got 1: Now()"),
        ("firstName", 0, "'firstName' is neither a function call nor an attribute: write attributes in brackets, [firstName]"),
        ('Join(" ", [a]', 13, "expected ',' or ')' in the arguments of Join, found the end of the expression"),
        ("[a] [b]", 4, "unexpected [b] after a complete expression"),
        ("'x'", 0, "unexpected character \"'\" (text goes in double quotes)"),
        ('"open', 0, 'text started here is never closed: add the closing "'),
        ("[a", 0, "attribute reference started here is never closed: add ]"),
        ("[a b]", 0, "[a b] is not an attribute name"),
        ("[a] = [b] = [c]", 10, "comparisons do not chain: combine them with and"),
        ("", 0, "the expression is empty"),
        (r'"a\q"', 2, 'unknown escape in text: write \\" for a quote and \\\\ for a backslash'),
    ],
)
def test_syntax_errors_have_an_offset_and_a_reason(text, offset, message):
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_expression(text)
    assert (caught.value.offset, caught.value.message) == (offset, message)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_documented_example_parses_and_calls_its_function(name):
    function = FUNCTIONS[name]
    expr = parse_expression(function.example)
    assert name in {c.name for c in expr.calls()}
    assert function.summary and function.result


def test_nesting_limit():
    with pytest.raises(ExpressionSyntaxError, match="nested deeper than 64"):
        parse_expression("Trim(" * 100 + "[a]" + ")" * 100)
