"""Expression parser: tokens → :class:`Expression` tree (recursive descent).

Precedence, loosest first: ``or``, ``and``, ``not``, comparisons (``= <> < <= > >=``),
concatenation (``&``), unary minus, then literals, ``[attributes]``, calls and
parentheses. Unknown functions and wrong argument counts are refused here, so a spec
with a broken expression never reaches a back-end.
"""

from __future__ import annotations

from .ast import AttributeRef, Binary, Call, Expression, Literal, Node, Unary
from ..suggest import did_you_mean
from .functions import FUNCTIONS, find_function
from .lexer import ExpressionSyntaxError, Token, tokenize

_KEYWORDS = {"true": True, "false": False, "null": None}
_COMPARISONS = {"=", "<>", "<", "<=", ">", ">="}
MAX_EXPRESSION_LENGTH = 10_000
MAX_NESTING = 64


class _Parser:
    def __init__(self, text: str):
        self.tokens = list(tokenize(text))
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "EOF":
            self.index += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.current
        return token.kind == "NAME" and str(token.value).lower() == word

    def expect(self, kind: str, what: str) -> Token:
        token = self.current
        if token.kind != kind:
            raise ExpressionSyntaxError(f"expected {what}, found {_describe(token)}", token.offset)
        return self.advance()

    def parse(self) -> Node:
        node = self.expression()
        if self.current.kind != "EOF":
            raise ExpressionSyntaxError(f"unexpected {_describe(self.current)} after a complete expression", self.current.offset)
        return node

    def expression(self) -> Node:
        self.depth += 1
        try:
            self.nested()
            return self.or_expr()
        finally:
            self.depth -= 1

    def or_expr(self) -> Node:
        node = self.and_expr()
        chained = 0
        try:
            while self.is_word("or"):
                token = self.advance()
                chained = self.chain(chained, token)
                node = Binary(token.offset, "or", node, self.and_expr())
        finally:
            self.depth -= chained
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        chained = 0
        try:
            while self.is_word("and"):
                token = self.advance()
                chained = self.chain(chained, token)
                node = Binary(token.offset, "and", node, self.not_expr())
        finally:
            self.depth -= chained
        return node

    def chain(self, chained: int, token: Token) -> int:
        """Operators in a row nest the tree (and the generated code) one level each: count
        them as nesting, so a long chain is refused here and not by Python's compiler."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionSyntaxError(
                f"expression nested deeper than {MAX_NESTING} levels: every '{token.value}' in a row counts as one; "
                "use Join() for long concatenations, or split the flow",
                token.offset,
            )
        return chained + 1

    def nested(self) -> None:
        """Refuse runaway nesting before Python's own recursion limit does."""
        if self.depth > MAX_NESTING:
            raise ExpressionSyntaxError(f"expression nested deeper than {MAX_NESTING} levels", self.current.offset)

    def not_expr(self) -> Node:
        if self.is_word("not"):
            token = self.advance()
            self.depth += 1
            try:
                self.nested()
                return Unary(token.offset, "not", self.not_expr())
            finally:
                self.depth -= 1
        return self.comparison()

    def comparison(self) -> Node:
        node = self.concat()
        token = self.current
        if token.kind == "OP" and token.value in _COMPARISONS:
            self.advance()
            node = Binary(token.offset, str(token.value), node, self.concat())
            after = self.current
            if after.kind == "OP" and after.value in _COMPARISONS:
                raise ExpressionSyntaxError("comparisons do not chain: combine them with and", after.offset)
        return node

    def concat(self) -> Node:
        node = self.unary()
        chained = 0
        try:
            while self.current.kind == "OP" and self.current.value == "&":
                token = self.advance()
                chained = self.chain(chained, token)
                node = Binary(token.offset, "&", node, self.unary())
        finally:
            self.depth -= chained
        return node

    def unary(self) -> Node:
        token = self.current
        if token.kind == "OP" and token.value == "-":
            self.advance()
            self.depth += 1
            try:
                self.nested()
                return Unary(token.offset, "-", self.unary())
            finally:
                self.depth -= 1
        return self.primary()

    def primary(self) -> Node:
        token = self.current
        if token.kind in ("STRING", "NUMBER"):
            self.advance()
            return Literal(token.offset, token.value)
        if token.kind == "ATTR":
            self.advance()
            return AttributeRef(token.offset, str(token.value))
        if token.kind == "LPAREN":
            self.advance()
            node = self.expression()
            self.expect("RPAREN", "')'")
            return node
        if token.kind == "NAME":
            name = str(token.value)
            if name.lower() in ("not", "and", "or"):
                hint = "put it in parentheses, e.g. [a] & (not [b])" if name.lower() == "not" else f"a value is expected here ('{name}' joins two conditions)"
                raise ExpressionSyntaxError(f"'{name}' cannot stand here: {hint}", token.offset)
            self.advance()
            if self.current.kind == "LPAREN":
                return self.call(name, token.offset)
            if name.lower() in _KEYWORDS:
                return Literal(token.offset, _KEYWORDS[name.lower()])
            raise ExpressionSyntaxError(
                f"'{name}' is neither a function call nor an attribute: write attributes in brackets, [{name}]", token.offset
            )
        raise ExpressionSyntaxError(f"expected a value, found {_describe(token)}", token.offset)

    def call(self, name: str, offset: int) -> Node:
        function = find_function(name)
        if function is None:
            raise ExpressionSyntaxError(f"unknown function {name}{did_you_mean(name, FUNCTIONS, quote=False)}", offset)
        self.expect("LPAREN", "'('")
        args: list[Node] = []
        if self.current.kind != "RPAREN":
            while True:
                args.append(self.expression())
                if self.current.kind == "COMMA":
                    self.advance()
                    continue
                break
        self.expect("RPAREN", f"',' or ')' in the arguments of {name}")
        problem = function.arity_problem(len(args))
        if problem:
            raise ExpressionSyntaxError(problem, offset)
        return Call(offset, function.name, tuple(args))


def _describe(token: Token) -> str:
    if token.kind == "EOF":
        return "the end of the expression"
    if token.kind == "STRING":
        return f'text "{token.value}"'
    if token.kind == "ATTR":
        return f"[{token.value}]"
    return f"'{token.value}'"


def parse_expression(text: str) -> Expression:
    """Parse ``text``; raises :class:`ExpressionSyntaxError` with the offset of the problem."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters", 0)
    if not text.strip():
        raise ExpressionSyntaxError("the expression is empty", 0)
    return Expression(text, _Parser(text).parse())
