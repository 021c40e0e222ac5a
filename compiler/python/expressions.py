"""Expression tree → Python source, the Python back-end of the expression language: once per
spec (the way Jinja2 compiles templates); csharp/expressions.py is its C# twin.

The generated source calls the runtime's function library as `F.<Name>` and reads attributes
as `row.get("<name>")`; `Now()` reads the run's fixed clock `now`. IIF compiles to Python's
conditional expression, so only the chosen branch is evaluated.
"""

from __future__ import annotations

from ..expressions.ast import AttributeRef, Binary, Call, Expression, Literal, Node, Unary

_OPERATORS = {"&": "F.concat", "=": "F.eq", "<>": "F.ne", "<": "F.lt", "<=": "F.le", ">": "F.gt", ">=": "F.ge"}


def to_python(expression: Expression) -> str:
    """A Python expression over `row`, `F` and `now` that evaluates ``expression``."""
    return _emit(expression.root)


def _emit(node: Node) -> str:
    if isinstance(node, Literal):
        return repr(node.value)
    if isinstance(node, AttributeRef):
        return f"row.get({node.name!r})"
    if isinstance(node, Unary):
        if node.op == "not":
            return f"(not F.truthy({_emit(node.operand)}))"
        return f"F.neg({_emit(node.operand)})"
    if isinstance(node, Binary):
        if node.op == "and":
            return f"(F.truthy({_emit(node.left)}) and F.truthy({_emit(node.right)}))"
        if node.op == "or":
            return f"(F.truthy({_emit(node.left)}) or F.truthy({_emit(node.right)}))"
        return f"{_OPERATORS[node.op]}({_emit(node.left)}, {_emit(node.right)})"
    if isinstance(node, Call):
        if node.name == "IIF":
            condition, then, otherwise = node.args
            return f"({_emit(then)} if F.truthy({_emit(condition)}) else {_emit(otherwise)})"
        if node.name == "Now":
            return "now"
        return f"F.{node.name}({', '.join(_emit(a) for a in node.args)})"
    raise TypeError(f"unknown expression node {type(node).__name__}")
