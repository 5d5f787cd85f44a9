"""Default-value expressions, layout conditions and validation rules as
steps of the save pipeline (:mod:`metacrm.metadata.saving`), and the check
of their expressions whenever metadata changes.

Steps, by ``order`` (docs/rules.md, "Order of execution"):

* 100 :class:`DefaultValuesStep` — a field's ``default_expression`` fills
  the field on create when the caller did not send it;
* 200 :class:`LayoutConditionsStep` — the ``field_rules`` of every layout
  of the object: required-when, read-only-when and visible-when, enforced
  on the record as it will be stored;
* 400 :class:`ValidationRulesStep` — every active validation rule whose
  condition holds adds its message under its field (or ``$``).

Each object's expressions are parsed, type-checked and compiled to Python
closures once per compiled model (:func:`object_rules`), never per record.
Every rule evaluated on a save — these steps' and automations'
(:mod:`metacrm.rules.automation.engine`) — reads its record through
:class:`RecordEvaluator`: formulas worked out, roll-ups as stored, lookup
paths (``account.industry``) read by :class:`RelatedReader`, one query per
lookup hop for a whole bulk call, in the save's transaction.

Depends on :mod:`metacrm.metadata` and the rest of :mod:`metacrm.rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import marshmallow as ma
import sqlalchemy as sa

from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.metadata.store.sealing import open_row
from metacrm.metadata.values import error_messages, json_safe
from metacrm.platform.errors import ValidationFailed
from metacrm.rules.checker import CheckContext, check
from metacrm.rules.compile_python import compile_python, holds
from metacrm.rules.context import RecordContext, UserGlobals
from metacrm.rules.errors import RuleError
from metacrm.rules.parser import parse
from metacrm.rules.types import BOOLEAN, FIELD_TYPE_NAMES, RuleType, TypedExpression

CONDITION_KINDS = ("visible", "required", "read_only")
CHUNK = 1000  # ids per IN (...) when reading related records


# -- how each use of the language is checked ----------------------------------------------


@dataclass(frozen=True)
class Use:
    """One use of the rule language: how its expressions are type-checked."""

    purpose: str  # words the messages: "a validation rule"
    sql: bool = False  # must compile to SQL (filters)
    allow_prior: bool = False  # ISNEW, ISCHANGED, PRIORVALUE
    expect: RuleType | None = BOOLEAN
    lookups: bool = True  # may follow lookups (account.industry)


VALIDATION = Use("a validation rule", allow_prior=True)
DEFAULT_VALUE = Use("a default value", expect=None)
LAYOUT_CONDITION = Use("a layout condition")
LIST_VIEW_FILTER = Use("a list view filter", sql=True, lookups=False)

# The ``context`` names of POST /api/v1/rules/check.
USES = {
    "validation": VALIDATION,
    "default": DEFAULT_VALUE,
    "layout": LAYOUT_CONDITION,
    "filter": LIST_VIEW_FILTER,
    "formula": Use("a formula", sql=True, expect=None),
    "automation": Use("an automation condition", allow_prior=True),
    "scope": Use("a record scope", sql=True, lookups=False),
}

# Rule types a default value of each field rule type may have.
_ASSIGNABLE = {"TEXT": ("TEXT", "PICKLIST"), "PICKLIST": ("TEXT", "PICKLIST")}


def typecheck(model: CompiledModel, object_name: str, text: Any, use: Use) -> TypedExpression:
    """Parse and type-check ``text`` for ``use`` on ``object_name``; raises
    :class:`RuleError` (line, column, snippet, and a suggestion for names)."""
    node = parse(text)
    context = CheckContext(model, object_name, sql=use.sql, allow_prior=use.allow_prior, purpose=use.purpose)
    typed = check(node, context, expect=use.expect)
    if not use.lookups:
        for item in typed.walk():
            if item.kind == "related":
                path = ".".join(item.value.names)
                error = RuleError(
                    f"{path} reads another object; {use.purpose} may read only fields of {object_name} "
                    "(lookup traversal is not supported here)",
                    line=item.line,
                    column=item.column,
                )
                source = getattr(node, "source", None)
                raise error.with_source(source) if source else error
    return typed


def field_rule_type(field_type) -> str | None:
    """The rule type name of a field's values (None: rules cannot read it)."""
    return getattr(field_type, "rule_type", None) or FIELD_TYPE_NAMES.get(field_type.name)


def typecheck_default(model: CompiledModel, object_name: str, field_type, text: Any) -> TypedExpression:
    """A ``default_expression`` of ``field_type``: its value must fit the field."""
    typed = typecheck(model, object_name, text, DEFAULT_VALUE)
    target = field_rule_type(field_type)
    if not field_type.has_column or field_type.read_only or field_type.computed or target is None:
        raise RuleError(f"a {field_type.name} field cannot have a default value", line=1, column=1)
    got = typed.type.name
    if got != "NULL" and got not in _ASSIGNABLE.get(target, (target,)):
        error = RuleError(
            f"the default value is {got} but {field_type.api_name} is a {field_type.name} field ({target})",
            line=typed.line,
            column=typed.column,
        )
        raise error.with_source(text)
    return typed


# -- compiled rules of one object, per compiled model ---------------------------------------


@dataclass
class Compiled:
    """One expression, checked and compiled (or why it could not be)."""

    text: str
    evaluate: Callable[[RecordContext], Any] | None = None
    error: str | None = None  # set when the expression no longer checks
    paths: frozenset[tuple[str, ...]] = frozenset()  # lookup paths it reads
    fields: frozenset[str] = frozenset()  # fields of the record it reads
    uses_user: bool = False


@dataclass
class ValidationRule:
    name: str
    field: str  # where the message goes: a field name or "$"
    message: str
    rule: Compiled


@dataclass
class LayoutCondition:
    layout: str
    kind: str  # visible, required or read_only
    rule: Compiled


@dataclass
class ObjectRules:
    """Everything the steps evaluate for one object."""

    defaults: dict[str, Compiled] = field(default_factory=dict)
    conditions: dict[str, list[LayoutCondition]] = field(default_factory=dict)
    validations: list[ValidationRule] = field(default_factory=list)
    # Computed fields of the record: a formula's compiled expression (None:
    # read from the database, e.g. roll-ups). Built when first needed.
    computed: dict[str, Compiled | None] = field(default_factory=dict)

    @staticmethod
    def paths(rules: Iterable[Compiled]) -> set[tuple[str, ...]]:
        return {path for rule in rules for path in rule.paths}

    def computed_for(self, rules: Iterable[Compiled]) -> dict[str, Compiled | None]:
        """The computed fields ``rules`` read, directly or through other formulas."""
        needed: dict[str, Compiled | None] = {}
        pending = [name for rule in rules for name in rule.fields]
        while pending:
            name = pending.pop()
            if name in self.computed and name not in needed:
                needed[name] = self.computed[name]
                if needed[name] is not None:
                    pending.extend(needed[name].fields)
        return needed


def _compiled(text: str, check_text: Callable[[], TypedExpression]) -> Compiled:
    try:
        typed = check_text()
    except ValidationFailed as exc:
        return Compiled(text, error=exc.message)
    reads = Reads.of([typed])
    return Compiled(
        text, evaluate=compile_python(typed), paths=reads.paths, fields=reads.fields, uses_user=reads.uses_user
    )


def _compile_object(model: CompiledModel, obj: CompiledObject) -> ObjectRules:
    definitions = model.definitions
    name = obj.api_name
    rules = ObjectRules()
    for field_name, field_type in obj.fields.items():
        if field_type.computed:
            formula = getattr(field_type, "typed", None)  # formulas compute in Python too; roll-ups only in SQL
            rules.computed[field_name] = (
                _compiled(getattr(field_type, "expression_text", ""), lambda f=formula: f(model))
                if callable(formula)
                else None
            )
        text = field_type.definition.get("default_expression")
        if text:
            rules.defaults[field_name] = _compiled(
                text, lambda ft=field_type, t=text: typecheck_default(model, name, ft, t)
            )
    for definition in definitions.scoped("layout", name):
        layout = definition.document.get("api_name") or definition.key.split(".", 1)[1]
        for field_name, kinds in (definition.document.get("field_rules") or {}).items():
            for kind in CONDITION_KINDS:
                text = kinds.get(kind)
                if text:
                    rule = _compiled(text, lambda t=text: typecheck(model, name, t, LAYOUT_CONDITION))
                    rules.conditions.setdefault(field_name, []).append(LayoutCondition(layout, kind, rule))
        # A section's conditions apply to each of its fields.
        for section in definition.document.get("sections") or []:
            for kind in CONDITION_KINDS:
                text = (section.get("rules") or {}).get(kind)
                if text:
                    rule = _compiled(text, lambda t=text: typecheck(model, name, t, LAYOUT_CONDITION))
                    for field_name in section.get("fields") or []:
                        rules.conditions.setdefault(field_name, []).append(LayoutCondition(layout, kind, rule))
    for definition in definitions.scoped("validation_rule", name):
        document = definition.document
        if document.get("active", True) is False:
            continue
        text = document.get("condition") or ""
        rules.validations.append(
            ValidationRule(
                document.get("api_name") or definition.key.split(".", 1)[1],
                document.get("field") or "$",
                document.get("message") or "is not valid",
                _compiled(text, lambda t=text: typecheck(model, name, t, VALIDATION)),
            )
        )
    return rules


def object_rules(model: CompiledModel, object_name: str) -> ObjectRules:
    """The compiled rules of ``object_name`` at ``model``'s revision (built
    on first use, dropped with the model)."""

    def build() -> ObjectRules:
        obj = model.object(object_name)
        return _compile_object(model, obj) if obj is not None else ObjectRules()

    return model.memo(("object_rules", object_name), build)


# -- reading records behind lookups ---------------------------------------------------------


class RelatedReader:
    """Values at lookup paths for a batch of records, read in the save's
    transaction: one query per object and hop for the whole batch, never
    per record. Records in the recycle bin read as null (as in SQL)."""

    def __init__(self, conn, model: CompiledModel, obj: CompiledObject, paths: Iterable[tuple[str, ...]]):
        self.conn = conn
        self.model = model
        self.root = obj
        self.paths = sorted(set(paths))
        self.rows: dict[tuple[str, int], dict[str, Any]] = {}
        self.needed: dict[str, set[str]] = {}  # object → fields to read
        for path in self.paths:
            current = obj
            for index, name in enumerate(path):
                if index > 0:
                    self.needed.setdefault(current.api_name, set()).add(name)
                if index == len(path) - 1:
                    break
                current = self._target(current, name)
                if current is None:
                    break

    def _target(self, obj: CompiledObject, lookup: str) -> CompiledObject | None:
        field_type = obj.fields.get(lookup)
        if field_type is None or not field_type.is_lookup:
            return None
        return self.model.object(field_type.reference_target)

    def load(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Read every record the paths reach from ``records``."""
        pending: dict[str, set[int]] = {}
        for values in records:
            for path in self.paths:
                target = self._target(self.root, path[0])
                if target is not None and values.get(path[0]) is not None:
                    pending.setdefault(target.api_name, set()).add(int(values[path[0]]))
        while pending:
            object_name, ids = pending.popitem()
            ids = {i for i in ids if (object_name, i) not in self.rows}
            obj = self.model.object(object_name)
            if not ids or obj is None:
                continue
            names = sorted(self.needed.get(object_name, ()))
            for row in self._read(obj, names, sorted(ids)):
                self.rows[(object_name, row["id"])] = row
                for name in names:
                    target = self._target(obj, name)
                    known = target is None or row.get(name) is None or (target.api_name, row[name]) in self.rows
                    if not known:
                        pending.setdefault(target.api_name, set()).add(int(row[name]))

    def _read(self, obj: CompiledObject, names: list[str], ids: list[int]) -> list[dict]:
        table = obj.table
        columns = [table.c.id]
        for name in names:
            field_type = obj.fields.get(name)
            if field_type is not None and field_type.computed:
                columns.append(field_type.select_expression(table, self.model).label(name))
            elif name in table.c:
                columns.append(table.c[name])
        rows = []
        for start in range(0, len(ids), CHUNK):
            query = sa.select(*columns).where(table.c.id.in_(ids[start : start + CHUNK]), table.c.deleted_at.is_(None))
            # Encrypted fields read clear, as on the record itself.
            rows.extend(
                open_row(self.model.registry, obj.api_name, obj.fields, dict(row._mapping))
                for row in self.conn.execute(query)
            )
        return rows

    def resolver(self, values: Mapping[str, Any]) -> Callable[[tuple[str, ...]], Any]:
        def resolve(path: tuple[str, ...]) -> Any:
            current_obj, current = self.root, values
            for name in path[:-1]:
                target = self._target(current_obj, name)
                if target is None or current.get(name) is None:
                    return None
                current = self.rows.get((target.api_name, int(current[name])))
                if current is None:
                    return None
                current_obj = target
            return current.get(path[-1])

        return resolve


# -- the steps ------------------------------------------------------------------------------


def user_globals(store) -> UserGlobals:
    """``$User`` of the store's caller: its guard's user. A guard acting for
    no user (the system: CLI, jobs) has no id; the actor the store records
    (a CLI user, a job's named actor) stands in with its id and e-mail."""
    user = store.guard.user_globals()
    if user == UserGlobals():
        return UserGlobals(id=store.actor.user_id, email=store.actor.email)
    return user


@dataclass(frozen=True)
class Reads:
    """What expressions read of a record: lookup paths, its own fields, ``$User``."""

    paths: frozenset[tuple[str, ...]] = frozenset()
    fields: frozenset[str] = frozenset()
    uses_user: bool = False

    @classmethod
    def of(cls, typed: Iterable[TypedExpression]) -> Reads:
        typed = list(typed)
        references = {path for expression in typed for path in expression.references()}
        return cls(
            paths=frozenset(path for path in references if len(path) > 1),
            fields=frozenset(path[0] for path in references if len(path) == 1),
            uses_user=any(item.kind == "global" and item.value.startswith("user.") for e in typed for item in e.walk()),
        )


class RecordEvaluator:
    """The records of one object as rules read them, in the transaction of
    ``conn``: each record's values (as they will be stored), its formula
    fields worked out from them (so they reflect the save), its roll-ups as
    stored, the values behind lookups (:class:`RelatedReader`, one query
    per hop for the whole batch) and ``$User`` of the store's caller.

    ``rules`` say what will be read (anything with ``paths``, ``fields``
    and ``uses_user``: :class:`Compiled`, :class:`Reads`). Records are
    :meth:`load`-ed under a key of the caller's choosing; the save steps
    (validation, defaults, layout conditions, automations) use
    :meth:`for_saves`, keyed by :attr:`PendingSave.index`."""

    def __init__(self, conn, store, obj: CompiledObject, rules: Iterable[Any]):
        self.conn = conn
        self.store = store
        self.obj = obj
        rules = list(rules)
        computed = object_rules(store.model, obj.api_name).computed_for(rules)
        formulas = {name: rule for name, rule in computed.items() if rule is not None}
        rules = [*rules, *formulas.values()]
        self.user = user_globals(store) if any(r.uses_user for r in rules) else UserGlobals()
        paths = ObjectRules.paths(rules)
        self.reader = RelatedReader(conn, store.model, obj, paths) if paths else None
        self._compute = {name: self._formula(name, rule) for name, rule in formulas.items()}
        self._roll_ups = [name for name, rule in computed.items() if rule is None]
        self._stored: dict[int, dict[str, Any]] = {}
        self.values: dict[Any, _RecordValues] = {}

    @classmethod
    def for_saves(cls, ctx: SaveContext, saves: list[PendingSave], rules: Iterable[Any]) -> RecordEvaluator:
        evaluator = cls(ctx.conn, ctx.store, ctx.obj, rules)
        evaluator.load_saves(saves)
        return evaluator

    def load(self, records: Iterable[tuple[Any, int | None, Mapping[str, Any]]]) -> None:
        """``(key, stored record id or None, values)`` of each record to read."""
        records = list(records)
        self._read_stored([record_id for _key, record_id, _values in records if record_id is not None])
        for key, record_id, values in records:
            self.values[key] = _RecordValues({**self._stored.get(record_id, {}), **values}, self._compute)
        if self.reader is not None:
            self.reader.load([self.values[key] for key, _record_id, _values in records])

    def load_saves(self, saves: Iterable[PendingSave]) -> None:
        """The records of ``saves`` as they will be stored (again, after a
        step changed their values)."""
        self.load((save.index, None if save.is_new else save.record_id, self.current(save)) for save in saves)

    def _formula(self, name: str, rule: Compiled) -> Callable[[Mapping[str, Any]], Any]:
        """A formula field's value worked out from the record's values (so it
        reflects this save), rounded to the field's scale."""
        scale = getattr(self.obj.fields[name], "scale", None)

        def compute(values: Mapping[str, Any]) -> Any:
            if rule.evaluate is None:
                return None
            related = self.reader.resolver(values) if self.reader is not None else None
            value = rule.evaluate(RecordContext(values, related=related, user=self.user))
            if isinstance(value, int | Decimal) and not isinstance(value, bool) and isinstance(scale, int):
                value = Decimal(value).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
            return value

        return compute

    def _read_stored(self, ids: list[int]) -> None:
        """Computed fields only the database can work out (roll-ups), as
        stored for the records ``ids`` (once per record)."""
        ids = [i for i in ids if i not in self._stored]
        if not self._roll_ups or not ids:
            return
        obj, model, names = self.obj, self.store.model, self._roll_ups
        columns = [obj.fields[name].select_expression(obj.table, model).label(name) for name in names]
        query = sa.select(obj.table.c.id, *columns).where(obj.table.c.id.in_(ids))
        for row in self.conn.execute(query):
            self._stored[row.id] = {name: row._mapping[name] for name in names}

    def current(self, save: PendingSave) -> dict[str, Any]:
        values = save.current()
        if save.is_new:
            actor = self.store.actor.user_id
            values.setdefault("owner_id", actor)
            values.setdefault("created_by", actor)
            values.setdefault("updated_by", actor)
        return values

    def record(self, key: Any, *, prior: Mapping[str, Any] | None = None, is_new: bool = False) -> RecordContext:
        values = self.values[key]
        return RecordContext(
            values,
            related=self.reader.resolver(values) if self.reader is not None else None,
            user=self.user,
            prior=prior,
            is_new=is_new,
        )

    def record_of(self, save: PendingSave) -> RecordContext:
        """The record of ``save`` as it will be stored, with its prior values."""
        return self.record(save.index, prior=save.before, is_new=save.is_new)


class _RecordValues(dict):
    """A record's values; its formula fields are worked out when first read."""

    def __init__(self, values: Mapping[str, Any], compute: dict[str, Callable[[Mapping[str, Any]], Any]]):
        super().__init__(values)
        self._compute = compute

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._compute and not super().__contains__(name):
            self[name] = None  # a formula that comes back to itself reads null
            self[name] = self._compute[name](self)
        return super().get(name, default)


def _writes(saves: list[PendingSave]) -> list[PendingSave]:
    """Creates and updates that are records at all."""
    return [s for s in saves if s.action in ("create", "update") and "$" not in s.errors]


def to_column(field_type, value: Any) -> Any:
    """A rule's value as ``field_type``'s column stores it, checked by the
    field's loader like a value sent to the API (null stays null; one text
    for a multi-value field is that one value). Raises ValueError with the
    loader's messages."""
    if value is None:
        return None
    if isinstance(value, str) and field_rule_type(field_type) == "MULTI":
        value = [value]
    try:
        return field_type.to_db(field_type.loader.deserialize(json_safe(value)))
    except ma.ValidationError as exc:
        raise ValueError("; ".join(error_messages(exc))) from None


class DefaultValuesStep:
    """Order 100: ``default_expression`` of fields the caller did not send, on create."""

    order = 100

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        rules = object_rules(ctx.store.model, ctx.obj.api_name)
        creates = [s for s in _writes(saves) if s.is_new]
        if not rules.defaults or not creates:
            return
        evaluation = RecordEvaluator.for_saves(ctx, creates, list(rules.defaults.values()))
        for save in creates:
            for name, rule in rules.defaults.items():
                if name in save.given:
                    continue
                if rule.evaluate is None:
                    save.error(name, f"its default value cannot be computed: {rule.error}")
                    continue
                try:
                    result = rule.evaluate(evaluation.record_of(save))
                except RuleError as exc:
                    save.error(name, f"its default value cannot be computed: {exc.message}")
                    continue
                try:
                    value = to_column(ctx.obj.fields[name], result)
                except ValueError as exc:
                    save.error(name, f"its default value {json_safe(result)!r} is not valid: {exc}")
                    continue
                save.values[name] = value
                # Later defaults (and the other steps) see this value.
                evaluation.values[save.index][name] = value


def reads_hidden(store, obj: CompiledObject, rule: Compiled) -> bool:
    """Whether ``rule`` reads a field the store's user may not read (on the
    record or behind a lookup). Its answer would tell them something about
    that field, so the steps below neither show nor act on it as such."""
    guard, model = store.guard, store.model
    if any(name in obj.fields and name not in guard.readable_fields(obj) for name in rule.fields):
        return True
    for path in rule.paths:
        current = obj
        for name in path:
            if current is None:
                break
            if name in current.fields and name not in guard.readable_fields(current):
                return True
            field_type = current.fields.get(name)
            is_lookup = field_type is not None and field_type.is_lookup
            current = model.object(field_type.reference_target) if is_lookup else None
    return False


# What a user is told when a rule reads fields they may not read.
HIDDEN_LAYOUT = "is {kind} by a layout rule that reads fields you cannot see"
HIDDEN_VALIDATION = "the record is not valid by a validation rule that reads fields you cannot see"


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ";;"


class LayoutConditionsStep:
    """Order 200: the ``field_rules`` of the object's layouts, on the record
    as it will be stored. A field is hidden when any layout's ``visible``
    condition does not hold; a hidden field may not be set (a value sent for
    it is refused) and is never required. ``required`` and ``read_only``
    apply when any layout's condition holds."""

    order = 200

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        rules = object_rules(ctx.store.model, ctx.obj.api_name)
        writes = _writes(saves)
        if not rules.conditions or not writes:
            return
        compiled = [c.rule for conditions in rules.conditions.values() for c in conditions]
        evaluation = RecordEvaluator.for_saves(ctx, writes, compiled)
        for save in writes:
            record = evaluation.record_of(save)
            values = evaluation.values[save.index]
            for name, conditions in rules.conditions.items():
                if name not in ctx.obj.fields:
                    continue
                # (condition, whether it holds, whether it reads fields the user may not)
                held: list[tuple[LayoutCondition, bool, bool]] = []
                for condition in conditions:
                    if reads_hidden(ctx.store, ctx.obj, condition.rule):
                        # Its strict answer, whatever the hidden value: hidden,
                        # required, read-only (the answer must not reveal it).
                        held.append((condition, condition.kind != "visible", True))
                        continue
                    if condition.rule.evaluate is None:
                        save.error(name, f"layout {condition.layout}: its {condition.kind} condition is broken")
                        continue
                    try:
                        held.append((condition, holds(condition.rule.evaluate, record), False))
                    except RuleError as exc:
                        save.error(name, f"layout {condition.layout}: {condition.kind} condition: {exc.message}")
                self._enforce(save, name, values, held)

    @staticmethod
    def _enforce(save: PendingSave, name: str, values: dict, held: list[tuple[LayoutCondition, bool, bool]]) -> None:
        many = name in save.many
        value = save.many.get(name) if many else values.get(name)
        sent = name in save.given and (
            (save.before is None and not _blank(value))
            or (save.before is not None and (many or save.before.get(name) != value))
        )
        hidden, secret = next(((c, s) for c, ok, s in held if c.kind == "visible" and not ok), (None, False))
        if hidden is not None:
            if sent and not _blank(value):
                if secret:
                    save.error(name, HIDDEN_LAYOUT.format(kind="hidden") + " and cannot be set")
                else:
                    save.error(
                        name, f"is hidden (layout {hidden.layout}: visible when {hidden.rule.text}) and cannot be set"
                    )
            return
        read_only, secret = next(((c, s) for c, ok, s in held if c.kind == "read_only" and ok), (None, False))
        if read_only is not None and sent:
            if secret:
                save.error(name, HIDDEN_LAYOUT.format(kind="read-only"))
            else:
                save.error(name, f"is read-only (layout {read_only.layout}: read-only when {read_only.rule.text})")
        required = [s for c, ok, s in held if c.kind == "required" and ok]
        known = not many or save.is_new or name in save.many
        if required and known and _blank(value):
            save.error(name, HIDDEN_LAYOUT.format(kind="required") if all(required) else "is required")


class ValidationRulesStep:
    """Order 400: every active validation rule of the object; a rule whose
    condition holds adds its message under its field (``$``: the record)."""

    order = 400

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        rules = object_rules(ctx.store.model, ctx.obj.api_name)
        writes = _writes(saves)
        if not rules.validations or not writes:
            return
        evaluation = RecordEvaluator.for_saves(ctx, writes, [v.rule for v in rules.validations])
        # Rules reading fields the user may not read answer with one generic
        # message, on the record: their own message (or field) could tell.
        secret = {rule.name for rule in rules.validations if reads_hidden(ctx.store, ctx.obj, rule.rule)}
        for save in writes:
            record = evaluation.record_of(save)
            for rule in rules.validations:
                field, hidden = (rule.field, False) if rule.name not in secret else ("$", True)
                if rule.rule.evaluate is None:  # fail closed: a broken rule refuses the save
                    save.error(
                        field,
                        HIDDEN_VALIDATION if hidden else f"validation rule {rule.name} is broken: {rule.rule.error}",
                    )
                    continue
                try:
                    if holds(rule.rule.evaluate, record):
                        save.error(field, HIDDEN_VALIDATION if hidden else rule.message)
                except RuleError as exc:
                    message = f"validation rule {rule.name} could not be evaluated: {exc.message}"
                    save.error(field, HIDDEN_VALIDATION if hidden else message)


SAVE_STEPS: list = [DefaultValuesStep(), LayoutConditionsStep(), ValidationRulesStep()]


# -- checking definitions when metadata changes ----------------------------------------------


def check_definitions(definitions, model: CompiledModel) -> list[tuple[str, str, str, str]]:
    """Every validation rule, default expression, layout condition and list
    view filter of the proposed metadata, type-checked against its model:
    ``(kind, key, path, message)`` per expression that does not check (a
    field it reads was deleted, a typo, a wrong type)."""
    problems: list[tuple[str, str, str, str]] = []

    def attempt(kind: str, key: str, path: str, run: Callable[[], Any]) -> None:
        try:
            run()
        except ValidationFailed as exc:
            problems.append((kind, key, path, exc.message))

    def object_of(key: str) -> str | None:
        name = key.split(".", 1)[0]
        return name if model.object(name) is not None else None

    for definition in definitions.live("validation_rule"):
        name = object_of(definition.key)
        if name:
            text = definition.document.get("condition")
            attempt(
                "validation_rule",
                definition.key,
                "condition",
                lambda n=name, t=text: typecheck(model, n, t, VALIDATION),
            )
    for definition in definitions.live("field"):
        text = definition.document.get("default_expression")
        name = object_of(definition.key)
        if text and name:
            field_type = model.object(name).fields.get(definition.document["api_name"])
            if field_type is not None:
                attempt(
                    "field",
                    definition.key,
                    "default_expression",
                    lambda n=name, ft=field_type, t=text: typecheck_default(model, n, ft, t),
                )
    for definition in definitions.live("layout"):
        name = object_of(definition.key)
        if not name:
            continue
        for field_name, kinds in (definition.document.get("field_rules") or {}).items():
            for kind, text in (kinds or {}).items():
                if text:
                    attempt(
                        "layout",
                        definition.key,
                        f"field_rules.{field_name}.{kind}",
                        lambda n=name, t=text: typecheck(model, n, t, LAYOUT_CONDITION),
                    )
        for number, section in enumerate(definition.document.get("sections") or []):
            for kind, text in (section.get("rules") or {}).items():
                if text:
                    attempt(
                        "layout",
                        definition.key,
                        f"sections[{number}].rules.{kind}",
                        lambda n=name, t=text: typecheck(model, n, t, LAYOUT_CONDITION),
                    )
    for definition in definitions.live("list_view"):
        name = object_of(definition.key)
        text = definition.document.get("filter")
        if name and text:
            attempt(
                "list_view", definition.key, "filter", lambda n=name, t=text: typecheck(model, n, t, LIST_VIEW_FILTER)
            )
    return problems


def condition_error(exc: RuleError, path: str) -> RuleError:
    """``exc`` reported for the definition member at ``path`` (``condition``)."""
    details = dict(exc.details or {})
    error = RuleError(
        exc.reason,
        line=exc.line,
        column=exc.column,
        **{k: v for k, v in details.items() if k not in ("line", "column", "reason")},
    )
    error.details["path"] = path
    error.details["fields"] = {path: [exc.message]}
    return error


__all__ = [
    "DEFAULT_VALUE",
    "LAYOUT_CONDITION",
    "LIST_VIEW_FILTER",
    "SAVE_STEPS",
    "USES",
    "VALIDATION",
    "DefaultValuesStep",
    "LayoutConditionsStep",
    "Reads",
    "RecordEvaluator",
    "RelatedReader",
    "Use",
    "ValidationRulesStep",
    "check_definitions",
    "condition_error",
    "object_rules",
    "to_column",
    "typecheck",
    "typecheck_default",
    "user_globals",
]
