"""Type-checking and compiling automation statements against a model.

:func:`compile_rule` turns a definition (``{api_name, rule, active, order}``
of object ``object``) into a :class:`CompiledRule`: every field, object,
value type, template placeholder, cron expression and action is checked,
and every expression compiled to a Python closure (the cron condition also
to SQL). :func:`rules_for` compiles a model's rules once per model object
(so once per metadata revision and worker), never per save.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from huey import crontab

from metacrm.metadata.physical import CompiledModel
from metacrm.rules import ast
from metacrm.rules.automation.actions import LEAST_BUSY, RETURN_TO_POOL, ROUND_ROBIN, AutomationAction
from metacrm.rules.automation.statement import Action, Position, Statement, Trigger, parse_statement
from metacrm.rules.checker import CheckContext, check
from metacrm.rules.compile_python import compile_python
from metacrm.rules.errors import RuleError
from metacrm.rules.parser import parse
from metacrm.rules.saving import Reads
from metacrm.rules.types import BOOLEAN, TypedExpression

# Actions that change the triggering record before it is written.
BEFORE_ACTIONS = ("set", "assign_user")
PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
PURPOSE = "an automation rule"
# System columns an automation may set (through ASSIGN OWNER, or SET owner_id).
WRITABLE_SYSTEM = {"owner_id": "ID"}


@dataclass(frozen=True)
class Value:
    """``field = expression``: the target field and the compiled value."""

    field: str
    type_name: str
    evaluate: Callable
    typed: TypedExpression


@dataclass(frozen=True)
class Template:
    """A text with ``{{expression}}`` placeholders, split into literal parts
    and compiled expressions."""

    text: str
    parts: tuple[str | Callable, ...]


@dataclass(frozen=True)
class CompiledAction:
    kind: str
    at: Position
    values: tuple[Value, ...] = ()
    object: str | None = None  # create / update_related: the object written
    field: str | None = None  # update_related: the child lookup; update_parent: our lookup
    target: str | None = None  # update_parent: the parent object
    expression: Callable | None = None  # assign_user / notify: the user id; email: the address
    templates: tuple[Template, ...] = ()
    text: str | None = None  # team, url, reason
    call: str | None = None  # plugin action name (call, round_robin, least_busy, return_to_pool)
    args: tuple[Callable, ...] = ()

    @property
    def before_write(self) -> bool:
        return self.kind in BEFORE_ACTIONS

    def describe(self) -> str:
        return self.kind if self.call is None or self.kind == "call" else f"{self.kind} ({self.call})"


@dataclass(frozen=True)
class CompiledRule:
    key: str  # "<object>.<api_name>"
    object: str
    api_name: str
    order: int
    active: bool
    statement: Statement
    trigger: Trigger
    condition: Callable | None
    condition_typed: TypedExpression | None
    changed_to: Callable | None
    actions: tuple[CompiledAction, ...]
    extra: dict = field(default_factory=dict)
    reads: Reads = Reads()  # what its expressions read of the record (for the record evaluator)
    trigger_type: str | None = None  # the rule type of the field a changed or scheduled trigger names

    def fires_on(self, action: str) -> bool:
        kind = self.trigger.kind
        if action == "create":
            return kind in ("created", "created_or_updated", "changed")
        if action == "update":
            return kind in ("updated", "created_or_updated", "changed")
        return action == "delete" and kind == "deleted"


def _error(at: Position | Any, reason: str, source: str) -> RuleError:
    return RuleError(reason, line=at.line, column=at.column, source=source)


class _Compiler:
    def __init__(self, model: CompiledModel, object_name: str, statement: Statement, functions, actions):
        self.model = model
        self.object = object_name
        self.statement = statement
        self.source = statement.source
        self.functions = functions
        self.known_actions = actions  # None: plugin actions cannot be checked here
        self.allow_prior = statement.trigger.kind in ("updated", "created_or_updated", "changed", "created")
        self.read: list[TypedExpression] = []  # every expression on the record, for CompiledRule.reads
        self.trigger_type: str | None = None

    def context(self, object_name: str | None = None) -> CheckContext:
        return CheckContext(
            self.model,
            object_name or self.object,
            allow_prior=self.allow_prior,
            functions=self.functions,
            purpose=PURPOSE,
        )

    def expression(self, node: ast.Node, expect=None) -> TypedExpression:
        typed = check(node, self.context(), expect=expect)
        self.read.append(typed)
        return typed

    def field_type_name(self, object_name: str, name: str, at: Position) -> tuple[str, Any]:
        """The rule type name of a writable field of ``object_name``, and its field type."""
        obj = self.model.object(object_name)
        if name in WRITABLE_SYSTEM:
            return WRITABLE_SYSTEM[name], None
        field_type = obj.fields.get(name)
        if field_type is None:
            candidates = ", ".join(sorted(obj.fields)[:30])
            raise _error(at, f"unknown field {name!r} on {object_name} (fields: {candidates})", self.source)
        if field_type.read_only or field_type.computed or not field_type.has_column:
            raise _error(at, f"{object_name}.{name} is a {field_type.name} field and cannot be set", self.source)
        typed = check(parse(name), CheckContext(self.model, object_name))
        return typed.type.name, typed.type

    def value(self, object_name: str, assignment) -> Value:
        type_name, field_rule_type = self.field_type_name(object_name, assignment.field, assignment.at)
        typed = self.expression(assignment.value)
        got = typed.type.name
        fits = (
            got == "NULL"
            or got == type_name
            or (got in ("TEXT", "PICKLIST") and type_name in ("TEXT", "PICKLIST"))
            or (got == "NUMBER" and type_name == "ID")
            or (got == "DATE" and type_name == "DATETIME")
        )
        if not fits:
            raise RuleError(
                f"{object_name}.{assignment.field} is {type_name} but the value is {got}",
                line=typed.line,
                column=typed.column,
                source=self.source,
            )
        allowed = getattr(field_rule_type, "values", None)
        if type_name == "PICKLIST" and allowed is not None and typed.kind == "literal" and typed.value not in allowed:
            raise RuleError(
                f"{typed.value!r} is not a value of {object_name}.{assignment.field} (values: {', '.join(allowed)})",
                line=typed.line,
                column=typed.column,
                source=self.source,
            )
        return Value(assignment.field, type_name, compile_python(typed), typed)

    def template(self, text: str, at: Position) -> Template:
        parts: list[str | Callable] = []
        position = 0
        for match in PLACEHOLDER.finditer(text):
            parts.append(text[position : match.start()])
            inner = match.group(1)
            try:
                typed = self.expression(parse(inner))
            except RuleError as exc:
                # The placeholder's own position, mapped into the statement (+1 for the quote).
                raise RuleError(
                    f"in {{{{{inner}}}}}: {exc.reason}",
                    line=at.line,
                    column=at.column + 1 + match.start(1) + exc.column - 1,
                    source=self.source,
                ) from None
            parts.append(compile_python(typed))
            position = match.end()
        parts.append(text[position:])
        return Template(text, tuple(p for p in parts if p != ""))

    def lookup(self, object_name: str, name: str, at: Position, *, target: str | None = None) -> str:
        obj = self.model.object(object_name)
        field_type = obj.fields.get(name)
        if field_type is None or not field_type.is_lookup:
            raise _error(at, f"{object_name}.{name} is not a lookup field", self.source)
        points_to = field_type.reference_target
        if target is not None and points_to != target:
            raise _error(at, f"{object_name}.{name} points to {points_to}, not to {target}", self.source)
        return points_to

    def plugin(self, name: str, at: Position, arg_types: list[str]) -> None:
        if self.known_actions is None:
            return
        action: AutomationAction | None = self.known_actions.get(name)
        if action is None:
            known = ", ".join(sorted(n for n in self.known_actions if "." not in n)) or "none installed"
            raise _error(at, f"unknown automation action {name!r} (actions: {known})", self.source)
        if action.params and len(action.params) != len(arg_types):
            raise _error(at, f"{name} takes {len(action.params)} argument(s), not {len(arg_types)}", self.source)
        for index, (want, got) in enumerate(zip(action.params, arg_types, strict=False)):
            if want != "ANY" and got not in (want, "NULL") and not {want, got} <= {"TEXT", "PICKLIST"}:
                raise _error(at, f"argument {index + 1} of {name} must be {want}, not {got}", self.source)

    def action(self, action: Action) -> CompiledAction:
        kind, at = action.kind, action.at
        trigger = self.statement.trigger.kind
        if kind == "set":
            if trigger == "deleted":
                raise _error(at, "SET cannot change a record that is being deleted", self.source)
            values = tuple(self.value(self.object, a) for a in action.assignments)
            return CompiledAction(kind, at, values=values)
        if kind == "create":
            if self.model.object(action.object) is None:
                known = ", ".join(sorted(self.model.objects))
                raise _error(action.target_at, f"unknown object {action.object!r} (objects: {known})", self.source)
            values = tuple(self.value(action.object, a) for a in action.assignments)
            return CompiledAction(kind, at, values=values, object=action.object)
        if kind == "update_related":
            if self.model.object(action.object) is None:
                raise _error(action.target_at, f"unknown object {action.object!r}", self.source)
            self.lookup(action.object, action.field, action.target_at, target=self.object)
            values = tuple(self.value(action.object, a) for a in action.assignments)
            return CompiledAction(kind, at, values=values, object=action.object, field=action.field)
        if kind == "update_parent":
            target = self.lookup(self.object, action.field, action.target_at)
            values = tuple(self.value(target, a) for a in action.assignments)
            return CompiledAction(kind, at, values=values, field=action.field, target=target)
        if kind == "assign_user":
            typed = self.expression(action.expression)
            if typed.type.name not in ("ID", "NUMBER", "NULL"):
                raise _error(typed, f"ASSIGN OWNER TO needs a user id (ID), not {typed.type.name}", self.source)
            if trigger == "deleted":
                raise _error(at, "ASSIGN OWNER cannot change a record that is being deleted", self.source)
            value = Value("owner_id", "ID", compile_python(typed), typed)
            return CompiledAction(kind, at, values=(value,), expression=value.evaluate)
        if kind in ("round_robin", "least_busy"):
            team, team_at = action.texts[0]
            if trigger == "deleted":
                raise _error(at, "ASSIGN OWNER cannot change a record that is being deleted", self.source)
            name = ROUND_ROBIN if kind == "round_robin" else LEAST_BUSY
            self.plugin(name, at, ["TEXT"])
            return CompiledAction(kind, at, text=team, call=name)
        if kind == "notify":
            typed = self.expression(action.expression)
            if typed.type.name not in ("ID", "NUMBER", "NULL"):
                raise _error(typed, f"NOTIFY needs a user id (ID), not {typed.type.name}", self.source)
            text, text_at = action.texts[0]
            return CompiledAction(kind, at, expression=compile_python(typed), templates=(self.template(text, text_at),))
        if kind == "email":
            typed = self.expression(action.expression)
            if typed.type.name not in ("TEXT", "NULL"):
                raise _error(typed, f"EMAIL needs an address (TEXT), not {typed.type.name}", self.source)
            templates = tuple(self.template(text, text_at) for text, text_at in action.texts)
            return CompiledAction(kind, at, expression=compile_python(typed), templates=templates)
        if kind == "webhook":
            url, url_at = action.texts[0]
            if not re.match(r"^https?://[^\s/]+", url):
                raise _error(url_at, f"{url!r} is not an http(s) URL", self.source)
            return CompiledAction(kind, at, text=url)
        if kind == "return_to_pool":
            if trigger == "deleted":
                raise _error(at, "a deleted record cannot go back to a pool", self.source)
            reason = action.texts[0][0] if action.texts else "returned by automation"
            self.plugin(RETURN_TO_POOL, at, ["TEXT"])
            return CompiledAction(kind, at, text=reason, call=RETURN_TO_POOL)
        if kind == "call":
            typed_args = [self.expression(arg) for arg in action.args]
            self.plugin(action.object, action.target_at, [t.type.name for t in typed_args])
            return CompiledAction(kind, at, call=action.object, args=tuple(compile_python(t) for t in typed_args))
        raise _error(at, f"unknown action {kind}", self.source)  # pragma: no cover

    def trigger(self) -> tuple[Trigger, Callable | None]:
        trigger = self.statement.trigger
        if trigger.kind in ("changed", "scheduled"):
            obj = self.model.object(self.object)
            name = trigger.field
            if name not in obj.fields and name not in ("owner_id", "created_at", "updated_at"):
                candidates = ", ".join(sorted(obj.fields)[:30])
                raise _error(
                    trigger.field_at, f"unknown field {name!r} on {self.object} (fields: {candidates})", self.source
                )
            typed = check(parse(name), CheckContext(self.model, self.object))
            self.trigger_type = typed.type.name
            if trigger.kind == "scheduled" and typed.type.name not in ("DATE", "DATETIME"):
                raise _error(
                    trigger.field_at,
                    f"a scheduled rule counts from a date or datetime field; {name} is {typed.type.name}",
                    self.source,
                )
            if trigger.kind == "changed" and trigger.to is not None:
                to = self.expression(trigger.to)
                got = to.type.name
                if got not in (typed.type.name, "NULL") and not {got, typed.type.name} <= {"TEXT", "PICKLIST"}:
                    raise _error(to, f"{name} is {typed.type.name}; it cannot change to a {got}", self.source)
                allowed = typed.type.values
                if allowed is not None and to.kind == "literal" and to.value not in allowed:
                    raise _error(
                        to, f"{to.value!r} is not a value of {name} (values: {', '.join(allowed)})", self.source
                    )
                return trigger, compile_python(to)
        if trigger.kind == "cron":
            cron_schedule(trigger.cron, trigger.field_at, self.source)
        return trigger, None

    def compile(self, definition: Mapping) -> CompiledRule:
        trigger, changed_to = self.trigger()
        condition_typed = None
        condition = None
        if self.statement.condition is not None:
            context = self.context()
            if trigger.kind == "cron":  # a cron rule selects its records in SQL
                context = dataclasses.replace(context, sql=True, allow_prior=False)
            condition_typed = check(self.statement.condition, context, expect=BOOLEAN)
            condition = compile_python(condition_typed)
            self.read.append(condition_typed)
        actions = tuple(self.action(a) for a in self.statement.actions)
        return CompiledRule(
            key=f"{self.object}.{definition['api_name']}",
            object=self.object,
            api_name=definition["api_name"],
            order=int(definition.get("order", 1000)),
            active=bool(definition.get("active", True)),
            statement=self.statement,
            trigger=trigger,
            condition=condition,
            condition_typed=condition_typed,
            changed_to=changed_to,
            actions=actions,
            reads=Reads.of(self.read),
            trigger_type=self.trigger_type,
        )


def cron_schedule(text: str, at: Position | None = None, source: str | None = None):
    """A huey crontab from five fields ``minute hour day month weekday``."""
    parts = text.split()
    where = at or Position(1, 1)
    if len(parts) != 5:
        raise RuleError(
            f"a cron expression has five fields (minute hour day month weekday), not {len(parts)}: {text!r}",
            line=where.line,
            column=where.column,
            source=source,
        )
    try:
        return crontab(*parts)
    except (ValueError, TypeError) as exc:
        raise RuleError(
            f"invalid cron expression {text!r}: {exc}", line=where.line, column=where.column, source=source
        ) from None


def compile_rule(
    model: CompiledModel,
    object_name: str,
    definition: Mapping,
    *,
    functions=None,
    actions: Mapping[str, AutomationAction] | None = None,
) -> CompiledRule:
    """Check and compile one automation definition; raises RuleError."""
    if model.object(object_name) is None:
        raise RuleError(f"unknown object {object_name!r}")
    statement = parse_statement(definition.get("rule") or "")
    return _Compiler(model, object_name, statement, functions, actions).compile(definition)


@dataclass
class RuleSet:
    """The compiled active rules of one model, by object, in run order;
    rules that fail to compile (their fields were deleted since) are kept as
    errors and logged when they would have run."""

    by_object: dict[str, list[CompiledRule]]
    broken: dict[str, RuleError]

    def for_object(self, object_name: str) -> list[CompiledRule]:
        return self.by_object.get(object_name, [])

    def all(self) -> list[CompiledRule]:
        return [rule for rules in self.by_object.values() for rule in rules]


def rules_for(model: CompiledModel, *, functions=None) -> RuleSet:
    """The model's compiled rules, compiled once per model (per revision)."""
    return model.memo(("automation_rules",), lambda: _compile_rules(model, functions))


def _compile_rules(model: CompiledModel, functions) -> RuleSet:
    by_object: dict[str, list[CompiledRule]] = {}
    broken: dict[str, RuleError] = {}
    for definition in model.definitions.live("automation"):
        object_name = definition.key.split(".", 1)[0]
        if model.object(object_name) is None or not definition.document.get("active", True):
            continue
        try:
            rule = compile_rule(model, object_name, definition.document, functions=functions)
        except RuleError as exc:
            broken[definition.key] = exc
            continue
        by_object.setdefault(object_name, []).append(rule)
    for rules in by_object.values():
        rules.sort(key=lambda r: (r.order, r.api_name))
    return RuleSet(by_object, broken)
