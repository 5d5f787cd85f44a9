"""Text → syntax tree: the LALR parser of ``grammar.lark``.

:func:`parse` is cached on the text (the same rule is parsed once per
process), refuses texts over :data:`MAX_LENGTH` characters and trees nested
deeper than :data:`MAX_DEPTH`, and turns every Lark error into a
:class:`~metacrm.rules.errors.RuleError` with line, column, the expected
tokens under friendly names and a caret snippet.

The tree is built while parsing (Lark's in-parser transformer), bottom-up
and without recursion, so depth is checked before anything deep is built.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from decimal import Decimal
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from metacrm.rules import ast
from metacrm.rules.errors import RuleError

MAX_LENGTH = 4000
MAX_DEPTH = 50
GRAMMAR = Path(__file__).with_name("grammar.lark")

# Terminal → how an error message names it; the order is the order of mention.
_FRIENDLY = {
    "NUMBER": "a number",
    "STRING": "a text in quotes",
    "NAME": "a field name",
    "GLOBAL": "a $ variable ($User, $Now, $Today)",
    "TRUE": "TRUE",
    "FALSE": "FALSE",
    "NULL": "NULL",
    "LPAR": "'('",
    "MINUS": "'-'",
    "NOT": "NOT",
    "NOT_CALL": "NOT",
    "BANG": "NOT",
    "PLUS": "an operator (+ - * / &)",
    "STAR": "an operator (+ - * / &)",
    "SLASH": "an operator (+ - * / &)",
    "AMP": "an operator (+ - * / &)",
    "COMPARE": "a comparison (= <> < <= > >=)",
    "IN": "IN or NOT IN",
    "AND": "AND",
    "OR": "OR",
    "DOT": "'.'",
    "COMMA": "','",
    "RPAR": "')'",
    "$END": "the end of the expression",
}
_ORDER = {label: i for i, label in enumerate(dict.fromkeys(_FRIENDLY.values()))}
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_COMPARE = {"==": "=", "<>": "!="}


def _depth(*children) -> int:
    return 1 + max((c.depth for c in children if isinstance(c, ast.Node)), default=0)


def _at(token: Token) -> dict:
    return {"line": token.line, "column": token.column}


def _checked(node: ast.Node) -> ast.Node:
    if node.depth > MAX_DEPTH:
        raise RuleError(
            f"the expression is nested too deeply (more than {MAX_DEPTH} levels)",
            line=node.line,
            column=node.column,
            limit=MAX_DEPTH,
        )
    return node


def _decode(token: Token) -> str:
    body = token.value[1:-1]
    if "\\" not in body:
        return body
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", body[i + 2 : i + 6]):
            code = int(body[i + 2 : i + 6], 16)
            if 0xD800 <= code <= 0xDFFF or code == 0:
                raise RuleError(
                    f"\\u{body[i + 2 : i + 6]} is not a character", line=token.line, column=token.column + 1 + i
                )
            out.append(chr(code))
            i += 6
        else:
            raise RuleError(
                f"unknown escape \\{nxt} in text; use \\\\ \\\" \\' \\n \\t \\r or \\uXXXX",
                line=token.line,
                column=token.column + 1 + i,
            )
    return "".join(out)


class _Build(Transformer):
    """Lark callbacks, one per grammar alias, each returning an AST node."""

    def number(self, children):
        (token,) = children
        value = Decimal(token.value) if "." in token.value else int(token.value)
        return ast.Literal(value=value, **_at(token))

    def string(self, children):
        (token,) = children
        return ast.Literal(value=_decode(token), **_at(token))

    def constant(self, children):
        (token,) = children
        value = {"TRUE": True, "FALSE": False, "NULL": None}[token.type]
        return ast.Literal(value=value, **_at(token))

    def field(self, children):
        return ast.FieldRef(
            path=tuple(t.value for t in children),
            positions=tuple((t.line, t.column) for t in children),
            **_at(children[0]),
        )

    def global_(self, children):
        name, attribute = children[0], (children[1] if len(children) > 1 else None)
        return ast.GlobalRef(name=name.value[1:], attribute=attribute.value if attribute else None, **_at(name))

    def call(self, children):
        name, items = children
        args = tuple(items or ())
        return _checked(ast.Call(name=name.value.upper(), args=args, depth=_depth(*args), **_at(name)))

    def items(self, children):
        return tuple(children)

    def paren(self, children):
        lpar, inner = children
        return _checked(dataclasses.replace(inner, depth=inner.depth + 1))

    def minus(self, children):
        op, operand = children
        if isinstance(operand, ast.Literal) and type(operand.value) in (int, Decimal) and operand.depth == 1:
            return ast.Literal(value=-operand.value, **_at(op))
        return _checked(ast.Unary(op="-", operand=operand, depth=_depth(operand), **_at(op)))

    def binary(self, children):
        left, op, right = children
        symbol = _COMPARE.get(op.value, op.value)
        return _checked(ast.Binary(op=symbol, left=left, right=right, depth=_depth(left, right), **_at(op)))

    def logical(self, children):
        left, op, right = children
        name = op.type  # AND or OR
        if isinstance(left, ast.Call) and left.infix and left.name == name:
            args = (*left.args, right)
            return _checked(dataclasses.replace(left, args=args, depth=max(left.depth, _depth(right))))
        return _checked(ast.Call(name=name, args=(left, right), infix=True, depth=_depth(left, right), **_at(op)))

    def not_call(self, children):
        op, operand = children
        return _checked(ast.Call(name="NOT", args=(operand,), depth=_depth(operand), **_at(op)))

    def negation(self, children):
        op, operand = children
        return _checked(ast.Call(name="NOT", args=(operand,), infix=True, depth=_depth(operand), **_at(op)))

    def membership(self, children):
        operand, *keywords, items = children
        negated = len(keywords) == 2
        anchor = keywords[0]
        return _checked(
            ast.Membership(
                operand=operand,
                options=tuple(items),
                negated=negated,
                depth=_depth(operand, *items),
                **_at(anchor),
            )
        )


_lock = threading.Lock()


@functools.cache
def _parser() -> Lark:
    # Built once per process (about 0.1 s); the in-parser transformer builds
    # the AST bottom-up while parsing.
    with _lock:
        return Lark(
            GRAMMAR.read_text(encoding="utf-8"),
            parser="lalr",
            maybe_placeholders=True,
            transformer=_Build(),
        )


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    lines = stripped.split("\n")
    return len(lines), len(lines[-1]) + 1


def _labels(terminals) -> list[str]:
    names = {name for name in terminals if not name.startswith("__")}
    if "PLUS" in names:  # after an operand, '-' is one of the operators
        names.discard("MINUS")
    if "NUMBER" in names:  # where an operand starts, AND( and OR( are function calls
        names.discard("AND")
        names.discard("OR")
    if "IN" in names:  # after an operand, NOT can only start NOT IN
        names.discard("NOT")
        names.discard("NOT_CALL")
        names.discard("BANG")
    labels = {_FRIENDLY.get(name, name) for name in names}
    return sorted(labels, key=lambda label: (_ORDER.get(label, len(_ORDER)), label))


def _acceptable_after(prefix: str) -> set[str]:
    """The terminals the parser accepts after ``prefix`` (the lexer's own
    list is wider: it merges parser states)."""
    try:
        interactive = _parser().parse_interactive(prefix)
        interactive.exhaust_lexer()
        return set(interactive.accepts())
    except (UnexpectedInput, RuleError):
        return set()


def _expected_text(labels: list[str]) -> str:
    if not labels:
        return "nothing more"
    if len(labels) == 1:
        return f"expected {labels[0]}"
    return "expected one of " + ", ".join(labels)


def _syntax_error(text: str, exc: UnexpectedInput) -> RuleError:
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        terminals = exc.accepts or exc.expected
        if token.type == "$END":
            line, column = _end_position(text)
            found = "the end of the expression"
        else:
            line, column = token.line, token.column
            found = repr(token.value)
    elif isinstance(exc, UnexpectedCharacters):
        line, column = exc.line, exc.column
        char = text[exc.pos_in_stream]
        if char in "\"'":
            return RuleError(
                f"the text starting here has no closing {char}", line=line, column=column, source=text, expected=[char]
            )
        terminals = _acceptable_after(text[: exc.pos_in_stream]) or exc.allowed or ()
        found = repr(char)
    elif isinstance(exc, UnexpectedEOF):
        line, column = _end_position(text)
        terminals = exc.expected or ()
        found = "the end of the expression"
    else:  # pragma: no cover - Lark has no other kinds
        line, column, terminals, found = exc.line, exc.column, (), "?"
    labels = _labels(terminals)
    reason = f"{_expected_text(labels)} but found {found}"
    return RuleError(reason, line=line, column=column, source=text, expected=labels, found=found)


def parse(text: str) -> ast.Node:
    """Parse one expression; raises RuleError. The root node carries ``source``."""
    if not isinstance(text, str):
        raise RuleError("an expression must be text")
    if len(text) > MAX_LENGTH:
        raise RuleError(f"the expression is too long ({len(text)} characters; at most {MAX_LENGTH})", limit=MAX_LENGTH)
    return _parse(text)


@functools.lru_cache(maxsize=2048)
def _parse(text: str) -> ast.Node:
    if not text.strip() or not text.replace("\n", " ").strip():
        raise RuleError("the expression is empty", source=text, expected=["an expression"])
    try:
        tree = _parser().parse(text)
    except RuleError as exc:
        raise exc.with_source(text) from None
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    return dataclasses.replace(tree, source=text)
