"""Automation statement text → syntax tree.

``WHEN <trigger> [IF <condition>] THEN <action>; <action>; …`` is parsed by
one LALR parser built from the expression grammar (``../grammar.lark``)
plus ``statement.lark``, so conditions, values and call arguments are
ordinary expression trees (the same nodes :func:`metacrm.rules.parse`
returns) and every error carries the line:column of the statement text.
Nothing here knows the model: :mod:`.compiler` type-checks the tree.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedInput

from metacrm.rules import ast
from metacrm.rules.errors import RuleError
from metacrm.rules.parser import _FRIENDLY, _Build, _decode, _labels, _syntax_error

MAX_LENGTH = 10_000
EXPRESSION_GRAMMAR = Path(__file__).parent.parent / "grammar.lark"
STATEMENT_GRAMMAR = Path(__file__).with_name("statement.lark")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass(frozen=True)
class Trigger:
    """``kind``: created, updated, created_or_updated, deleted, changed,
    scheduled, cron, manual (run by a user on one record), approved or
    rejected (an approval process decided on the record)."""

    kind: str
    at: Position
    field: str | None = None  # changed / scheduled: the field; its position is ``field_at``
    field_at: Position | None = None
    to: ast.Node | None = None  # changed to <value>
    offset_seconds: int = 0  # scheduled: signed (negative = before)
    cron: str | None = None


@dataclass(frozen=True)
class Assignment:
    field: str
    at: Position
    value: ast.Node


@dataclass(frozen=True)
class Action:
    """One action; which members are set depends on ``kind`` (set, create,
    update_related, update_parent, assign_user, round_robin, least_busy,
    notify, email, webhook, return_to_pool, call)."""

    kind: str
    at: Position
    assignments: tuple[Assignment, ...] = ()
    object: str | None = None  # create: the object; update_related: the child object
    field: str | None = None  # update_related: the child's lookup; update_parent: our lookup
    target_at: Position | None = None
    expression: ast.Node | None = None  # assign_user / notify: the user; email: the address
    texts: tuple[tuple[str, Position], ...] = ()  # templates, team, url, reason (decoded, with positions)
    args: tuple[ast.Node, ...] = ()  # call


@dataclass(frozen=True)
class Statement:
    source: str
    trigger: Trigger
    condition: ast.Node | None
    actions: tuple[Action, ...]


def _pos(token: Token) -> Position:
    return Position(token.line, token.column)


def _text(token: Token) -> tuple[str, Position]:
    return _decode(token), _pos(token)


class _BuildStatement(_Build):
    """The expression callbacks plus one per statement alias."""

    def statement(self, children):
        trigger, condition, actions = children
        return {"trigger": trigger, "condition": condition, "actions": tuple(actions)}

    # -- triggers ------------------------------------------------------------------

    def t_created(self, children):
        return Trigger("created", _pos(children[0]))

    def t_updated(self, children):
        return Trigger("updated", _pos(children[0]))

    def t_created_or_updated(self, children):
        return Trigger("created_or_updated", _pos(children[0]))

    def t_deleted(self, children):
        return Trigger("deleted", _pos(children[0]))

    def t_changed(self, children):
        name, _changed, to = children
        return Trigger("changed", _pos(name), field=name.value.lower(), field_at=_pos(name), to=to)

    def t_scheduled(self, children):
        amount, unit, direction, name = children
        seconds = int(amount.value.split(".")[0]) * UNIT_SECONDS[unit.value.lower().rstrip("s")]
        if "." in amount.value:
            raise RuleError("the amount of time must be a whole number", line=amount.line, column=amount.column)
        sign = -1 if direction.type == "BEFORE" else 1
        return Trigger(
            "scheduled",
            _pos(amount),
            field=name.value.lower(),
            field_at=_pos(name),
            offset_seconds=sign * seconds,
        )

    def t_manual(self, children):
        return Trigger("manual", _pos(children[0]))

    def t_approved(self, children):
        return Trigger("approved", _pos(children[0]))

    def t_rejected(self, children):
        return Trigger("rejected", _pos(children[0]))

    def t_cron(self, children):
        keyword, text = children
        return Trigger("cron", _pos(keyword), cron=_decode(text), field_at=_pos(text))

    # -- actions ---------------------------------------------------------------------

    def actions(self, children):
        return list(children)

    def assignments(self, children):
        return tuple(children)

    def assignment(self, children):
        name, op, value = children
        if op.value != "=":
            raise RuleError(f"expected '=' after {name.value} but found {op.value!r}", line=op.line, column=op.column)
        return Assignment(name.value.lower(), _pos(name), value)

    def a_set(self, children):
        keyword, assignments = children
        return Action("set", _pos(keyword), assignments=assignments)

    def a_create(self, children):
        keyword, name, _lpar, assignments = children
        return Action(
            "create", _pos(keyword), assignments=assignments or (), object=name.value.lower(), target_at=_pos(name)
        )

    def a_update_related(self, children):
        keyword, _related, child, lookup, _set, assignments = children
        return Action(
            "update_related",
            _pos(keyword),
            assignments=assignments,
            object=child.value.lower(),
            field=lookup.value.lower(),
            target_at=_pos(child),
        )

    def a_update_parent(self, children):
        keyword, lookup, _set, assignments = children
        return Action(
            "update_parent", _pos(keyword), assignments=assignments, field=lookup.value.lower(), target_at=_pos(lookup)
        )

    def a_assign_user(self, children):
        keyword, user = children
        return Action("assign_user", _pos(keyword), expression=user)

    def a_round_robin(self, children):
        keyword, team = children
        return Action("round_robin", _pos(keyword), texts=(_text(team),))

    def a_least_busy(self, children):
        keyword, team = children
        return Action("least_busy", _pos(keyword), texts=(_text(team),))

    def a_notify(self, children):
        keyword, user, message = children
        return Action("notify", _pos(keyword), expression=user, texts=(_text(message),))

    def a_email(self, children):
        keyword, to, subject, body = children
        return Action("email", _pos(keyword), expression=to, texts=(_text(subject), _text(body)))

    def a_webhook(self, children):
        keyword, url = children
        return Action("webhook", _pos(keyword), texts=(_text(url),))

    def a_return_to_pool(self, children):
        keyword, reason = children
        return Action("return_to_pool", _pos(keyword), texts=(_text(reason),) if reason is not None else ())

    def a_call(self, children):
        keyword, name, member, _lpar, items = children
        full = name.value.lower() + (f".{member.value.lower()}" if member is not None else "")
        return Action("call", _pos(keyword), object=full, target_at=_pos(name), args=tuple(items or ()))


_lock = threading.Lock()


@functools.cache
def _parser() -> Lark:
    expression = EXPRESSION_GRAMMAR.read_text(encoding="utf-8").replace("?start: or_expr", "")
    text = expression + "\n" + STATEMENT_GRAMMAR.read_text(encoding="utf-8")
    with _lock:
        return Lark(
            text,
            start="statement",
            parser="lalr",
            lexer="contextual",
            maybe_placeholders=True,
            transformer=_BuildStatement(),
        )


_STATEMENT_WORDS = {
    "_WHEN": "WHEN",
    "_IF": "IF",
    "_THEN": "THEN",
    "_TO": "TO",
    "_SEMI": "';'",
    "_OWNER": "OWNER",
    "_ROUND": "ROUND",
    "_ROBIN": "ROBIN",
    "_LEAST": "LEAST",
    "_BUSY": "BUSY",
    "_TEAM": "TEAM",
    "_SUBJECT": "SUBJECT",
    "_BODY": "BODY",
    "_POOL": "POOL",
    "UNIT": "a unit (minutes, hours, days, weeks)",
}


def _statement_error(text: str, exc: UnexpectedInput) -> RuleError:
    """The expression parser's message, with the statement's keywords named."""
    error = _syntax_error(text, exc)
    terminals = set(getattr(exc, "accepts", None) or getattr(exc, "expected", None) or ())
    expression_terms = {t for t in terminals if t in _FRIENDLY}
    words = {
        _STATEMENT_WORDS.get(t, t.lstrip("_"))
        for t in terminals - expression_terms
        if t in _STATEMENT_WORDS or t.lstrip("_").isalpha()
    }
    expected = [*_labels(expression_terms), *sorted(words)]
    found = error.details.get("found", "?")
    if not expected:
        return error
    reason = ("expected " if len(expected) == 1 else "expected one of ") + ", ".join(expected) + f" but found {found}"
    return RuleError(reason, line=error.line, column=error.column, source=text, expected=expected, found=found)


def _with_source(node: ast.Node | None, source: str) -> ast.Node | None:
    return None if node is None else dataclasses.replace(node, source=source)


@functools.lru_cache(maxsize=1024)
def parse_statement(text: str) -> Statement:
    """Parse one automation statement; raises RuleError (line, column, caret)."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("the automation rule is empty; write WHEN <trigger> [IF <condition>] THEN <action>")
    if len(text) > MAX_LENGTH:
        raise RuleError(f"the rule is too long ({len(text)} characters; at most {MAX_LENGTH})", limit=MAX_LENGTH)
    try:
        tree: Any = _parser().parse(text)
    except RuleError as exc:
        raise exc.with_source(text) from None
    except UnexpectedInput as exc:
        raise _statement_error(text, exc) from None
    # Expression roots carry the whole statement as their source, so a type
    # error's caret snippet points into the statement.
    trigger = tree["trigger"]
    if trigger.to is not None:
        trigger = dataclasses.replace(trigger, to=_with_source(trigger.to, text))
    actions = tuple(
        dataclasses.replace(
            action,
            expression=_with_source(action.expression, text),
            args=tuple(_with_source(a, text) for a in action.args),
            assignments=tuple(dataclasses.replace(a, value=_with_source(a.value, text)) for a in action.assignments),
        )
        for action in tree["actions"]
    )
    return Statement(text, trigger, _with_source(tree["condition"], text), actions)
