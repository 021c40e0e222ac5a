"""The flow expression language, the front end: lexer → parser → tree. The back-ends compile
the tree: compiler/python/expressions.py to Python, compiler/csharp/expressions.py to C#.

Attributes are written in brackets (``[firstName]``, ``[SPS-JobTitle]``), text in double
quotes, and functions by name (``Coalesce([preferredName], [firstName])``), as identity
admins know them from Entra ID attribute mappings.
"""

from .ast import AttributeRef, Binary, Call, Expression, Literal, Node, Unary
from .functions import FUNCTIONS, Function, find_function
from .lexer import ExpressionSyntaxError
from .parser import parse_expression

__all__ = [
    "FUNCTIONS",
    "AttributeRef",
    "Binary",
    "Call",
    "Expression",
    "ExpressionSyntaxError",
    "Function",
    "Literal",
    "Node",
    "Unary",
    "find_function",
    "parse_expression",
]
