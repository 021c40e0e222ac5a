"""The expression tree: one immutable node type per construct.

Every node keeps ``offset``, its character offset in the expression text, so a later stage
(type checks, the Python code generator) can still point at the spec's line and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Node:
    offset: int

    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A string, number, boolean or null literal."""

    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class AttributeRef(Node):
    """``[name]``: the value of an attribute of the source object."""

    name: str


@dataclass(frozen=True, slots=True)
class Call(Node):
    """``Name(arg, ...)``: a call of a function from the catalogue."""

    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """``not x`` or ``-x``."""

    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """``a & b`` (concatenation), comparisons (``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``),
    ``and``, ``or``."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression and the text it came from."""

    text: str
    root: Node

    def attributes(self) -> tuple[AttributeRef, ...]:
        """Every attribute reference, in order of appearance."""
        return tuple(n for n in self.root.walk() if isinstance(n, AttributeRef))

    def calls(self) -> tuple[Call, ...]:
        return tuple(n for n in self.root.walk() if isinstance(n, Call))
