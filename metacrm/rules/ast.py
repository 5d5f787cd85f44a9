"""The syntax tree of a rule: small frozen dataclasses with positions.

The parser builds these; the checker reads them. Every node has the 1-based
``line`` and ``column`` where it starts (binary operators: where the
operator is), its nesting ``depth`` and — on the root only — the ``source``
text, so later errors can show a caret snippet. Neither position, depth nor
source takes part in equality: two trees of the same expression are equal.

Infix ``and``/``or``/``not`` (and ``&&``, ``||``, ``!``) become calls of
the functions AND, OR and NOT; ``a NOT IN (…)`` is a :class:`Membership`
with ``negated`` set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, kw_only=True)
class Node:
    line: int = field(default=1, compare=False)
    column: int = field(default=1, compare=False)
    depth: int = field(default=1, compare=False, repr=False)
    source: str | None = field(default=None, compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, kw_only=True)
class Literal(Node):
    """A number (``int`` or ``Decimal``), text, ``True``/``False`` or ``None``."""

    value: str | int | Decimal | bool | None


@dataclass(frozen=True, kw_only=True)
class FieldRef(Node):
    """A field of the record (``Industry``) or a path through lookups
    (``Account.Owner.Email``): ``path`` holds the names as written;
    ``positions`` the (line, column) of each name."""

    path: tuple[str, ...]
    positions: tuple[tuple[int, int], ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class GlobalRef(Node):
    """``$Now``, ``$Today``, ``$User.Email``: ``name`` without the ``$``."""

    name: str
    attribute: str | None = None


@dataclass(frozen=True, kw_only=True)
class Unary(Node):
    op: str  # "-"
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, kw_only=True)
class Binary(Node):
    """``op`` is one of + - * / & = != < <= > >= (``==`` reads as ``=``,
    ``<>`` as ``!=``)."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, kw_only=True)
class Membership(Node):
    """``operand IN (options…)``, or ``NOT IN`` when ``negated``."""

    operand: Node
    options: tuple[Node, ...]
    negated: bool = False

    def children(self) -> tuple[Node, ...]:
        return (self.operand, *self.options)


@dataclass(frozen=True, kw_only=True)
class Call(Node):
    """A function call; ``name`` is upper case. ``infix`` marks AND/OR/NOT
    written as operators."""

    name: str
    args: tuple[Node, ...] = ()
    infix: bool = field(default=False, compare=False)

    def children(self) -> tuple[Node, ...]:
        return self.args


def walk(node: Node):
    """Every node of the tree, parents before children (no recursion)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children()))
