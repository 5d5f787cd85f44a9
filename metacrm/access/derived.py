"""Derived visibility: a computed field is only as visible as what it reads.

A formula or roll-up summary shows a value worked out from other fields —
on its own record, behind lookups (``account.annual_revenue``) or on child
records (a roll-up's relation, aggregated field and filter). Salesforce
shows such a value to anyone who may read the formula field itself, so a
formula over a hidden salary shows the salary. Here the default is safe: a
computed field is readable only when every field it reads (transitively,
through the computed fields it reads) is readable by the same user. An admin
who wants the field to be read on its own terms sets ``own_access: true`` on
its definition; then only its own field-level access counts.

:func:`field_reads` is what a computed field reads, per compiled model;
:class:`DerivedVisibility` answers, for one user's readable fields, which
computed fields of an object are hidden and why (explain shows the reason).
Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Callable

from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.platform.errors import ValidationFailed
from metacrm.rules.types import TypedExpression

# (object api name, field api name)
FieldRef = tuple[str, str]
BROKEN = "whose definition no longer checks, so what it reads is unknown"


def own_access(field_type) -> bool:
    """The admin's opt-out: the computed field is read on its own access only."""
    return field_type.definition.get("own_access") is True


def expression_reads(model: CompiledModel, root: str, typed: TypedExpression | None) -> set[FieldRef]:
    """Every field ``typed`` (an expression over ``root``) reads: its own
    fields, and for a lookup path each lookup followed and the field at the
    end. System columns (id, owner_id…) are readable by anyone who may read
    the object, so they are left out."""
    found: set[FieldRef] = set()
    for item in typed.walk() if typed is not None else ():
        if item.kind == "field":
            found.add((root, item.value))
        elif item.kind == "related":
            for obj, lookup, _target in item.value.hops:
                found.add((obj, lookup))
            found.add((item.value.target, item.value.field))
    return {(obj, name) for obj, name in found if _is_field(model, obj, name)}


def _is_field(model: CompiledModel, object_name: str, name: str) -> bool:
    obj = model.object(object_name)
    return obj is not None and name in obj.fields


def field_reads(model: CompiledModel, object_name: str, name: str) -> frozenset[FieldRef] | None:
    """What the computed field ``object_name.name`` reads directly; None
    when its definition no longer checks (it is then hidden: fail closed).
    Built once per compiled model."""

    def build() -> frozenset[FieldRef] | None:
        field_type = model.object(object_name).fields[name]
        try:
            if field_type.name == "formula":
                return frozenset(expression_reads(model, object_name, field_type.typed(model)))
            options = field_type.options
            child = options.get("object") or ""
            reads = {(child, options.get("relation") or "")}
            if options.get("field"):
                reads.add((child, options["field"]))
            reads |= expression_reads(model, child, field_type.filter_typed(model))
            return frozenset(r for r in reads if _is_field(model, *r))
        except ValidationFailed:  # RuleError included
            return None

    return model.memo(("derived_reads", object_name, name), build)


class DerivedVisibility:
    """Which computed fields one user may not read, given the fields the
    user may read by field-level security alone (``readable(obj)``)."""

    def __init__(self, model: CompiledModel, readable: Callable[[CompiledObject], frozenset[str]]):
        self.model = model
        self._readable = readable
        self._chains: dict[FieldRef, tuple[str, ...] | None] = {}

    def hidden(self, obj: CompiledObject) -> dict[str, str]:
        """Computed fields of ``obj`` readable by field-level security but
        hidden because of what they read → why, in words."""
        readable = self._readable(obj)
        out = {}
        for name, field_type in obj.fields.items():
            if field_type.computed and name in readable and not own_access(field_type):
                chain = self._chain(obj.api_name, name, ())
                if chain is not None:
                    out[name] = _words(chain)
        return out

    def _chain(self, object_name: str, name: str, path: tuple[FieldRef, ...]) -> tuple[str, ...] | None:
        """None when ``object_name.name`` is visible; else the fields from it
        to the one the user may not read, and why that one is not."""
        key = (object_name, name)
        if key in self._chains:
            return self._chains[key]
        here = f"{object_name}.{name}"
        obj = self.model.object(object_name)
        if obj is None or name not in self._readable(obj):
            return (here, "which is hidden from you")
        field_type = obj.fields[name]
        if not field_type.computed or own_access(field_type):
            return None
        if key in path:  # computed fields reading each other: definitions refuse that; fail closed
            return (here, "which reads itself")
        reads = field_reads(self.model, object_name, name)
        if reads is None:
            chain = (here, BROKEN)
        else:
            chain = None
            for read in sorted(reads):
                inner = self._chain(*read, (*path, key))
                if inner is not None:
                    chain = (here, *inner)
                    break
        self._chains[key] = chain
        return chain


def _words(chain: tuple[str, ...]) -> str:
    """("a.f", "a.g", "a.secret", "which is hidden from you") → "it reads
    a.g, which reads a.secret, which is hidden from you"."""
    if len(chain) == 2:  # the field itself no longer checks
        return "its definition no longer checks, so what it reads is unknown"
    return "it reads " + ", which reads ".join(chain[1:-1]) + f", {chain[-1]}"
