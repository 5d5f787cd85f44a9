"""The types of the rule language.

======== ==========================================================
TEXT     text, long text, rich text, e-mail, phone, URL, auto-number
NUMBER   integer, decimal, currency, percent (Python ``int``/``Decimal``)
BOOLEAN  yes/no
DATE     a calendar date
DATETIME an instant (UTC)
PICKLIST one value of a picklist field; compares with TEXT, and text
         literals compared with it must be among the field's values
MULTI    multi-picklists and tags (a set of values; INCLUDES, ISBLANK)
ID       a record id: lookups, master-detail, ``id``, ``owner_id``, ``$User.Id``
NULL     the literal NULL (fits anywhere)
======== ==========================================================

A field type may name its rule type in a class attribute ``rule_type``
(e.g. a formula type returning ``"NUMBER"``); built-in types are mapped
below. Depends on nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any


@dataclass(frozen=True)
class RuleType:
    """A type. ``field``, ``values``, ``case_insensitive`` describe picklists
    and multi-value fields; they do not take part in equality."""

    name: str
    field: str | None = dc_field(default=None, compare=False)
    # Allowed values of a restricted picklist / multi-picklist; None: any.
    values: tuple[str, ...] | None = dc_field(default=None, compare=False)
    # Tags match values ignoring (ASCII) case.
    case_insensitive: bool = dc_field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.name}({self.field})" if self.field else self.name

    @property
    def is_textual(self) -> bool:
        return self.name in ("TEXT", "PICKLIST")


TEXT = RuleType("TEXT")
NUMBER = RuleType("NUMBER")
BOOLEAN = RuleType("BOOLEAN")
DATE = RuleType("DATE")
DATETIME = RuleType("DATETIME")
ID = RuleType("ID")
NULL = RuleType("NULL")


def PICKLIST(field: str, values: tuple[str, ...] | None = None) -> RuleType:  # noqa: N802 - reads like the type
    """The type of picklist field ``field`` (``values``: the allowed ones, None when unrestricted)."""
    return RuleType("PICKLIST", field=field, values=values)


def MULTI(field: str, values: tuple[str, ...] | None = None, *, case_insensitive: bool = False) -> RuleType:  # noqa: N802
    """The type of a multi-picklist or tags field."""
    return RuleType("MULTI", field=field, values=values, case_insensitive=case_insensitive)


ALL_NAMES = ("TEXT", "NUMBER", "BOOLEAN", "DATE", "DATETIME", "PICKLIST", "MULTI", "ID", "NULL")

# Built-in field type name → rule type name.
FIELD_TYPE_NAMES = {
    "text": "TEXT",
    "long_text": "TEXT",
    "rich_text": "TEXT",
    "email": "TEXT",
    "phone": "TEXT",
    "url": "TEXT",
    "auto_number": "TEXT",
    "integer": "NUMBER",
    "decimal": "NUMBER",
    "currency": "NUMBER",
    "percent": "NUMBER",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "DATETIME",
    "picklist": "PICKLIST",
    "multi_picklist": "MULTI",
    "tags": "MULTI",
    "lookup": "ID",
    "master_detail": "ID",
}

# System columns every object has, usable in rules like fields.
SYSTEM_FIELD_TYPES = {
    "id": ID,
    "owner_id": ID,
    "created_at": DATETIME,
    "created_by": ID,
    "updated_at": DATETIME,
    "updated_by": ID,
}


def unify(a: RuleType, b: RuleType) -> RuleType | None:
    """The type of a value that is either an ``a`` or a ``b`` (IF branches,
    BLANKVALUE, CASE results); None when they do not mix."""
    if a.name == "NULL":
        return b
    if b.name == "NULL":
        return a
    if a.name == b.name:
        if a.name in ("PICKLIST", "MULTI") and a.field != b.field:
            return TEXT if a.name == "PICKLIST" else RuleType("MULTI")
        return a
    if a.is_textual and b.is_textual:
        return TEXT
    return None


@dataclass(frozen=True)
class RelatedPath:
    """A field reached through lookups: ``hops`` are (object, lookup field,
    target object) from the root; ``field`` is the field of the last target."""

    hops: tuple[tuple[str, str, str], ...]
    field: str

    @property
    def names(self) -> tuple[str, ...]:
        """The api names as the record context's resolver receives them:
        ``("account", "owner", "email")``."""
        return (*(lookup for _obj, lookup, _target in self.hops), self.field)

    @property
    def target(self) -> str:
        return self.hops[-1][2]


@dataclass(frozen=True, eq=False)
class TypedExpression:
    """A type-checked expression, the input of both compilers.

    ``kind`` is ``literal`` (``value``: the value), ``field`` (``value``: the
    api name of a field of the root object), ``related`` (``value``: a
    :class:`RelatedPath`), ``global`` (``value``: ``user.id``, ``user.role``,
    ``user.team``, ``user.email``, ``now`` or ``today``) or ``call``
    (``function``: the :class:`~metacrm.rules.functions.Function`, operators
    included; ``args``). ``field_type`` is the field type behind a field
    reference. ``node`` is the syntax node (for positions)."""

    kind: str
    type: RuleType
    node: Any
    args: tuple[TypedExpression, ...] = ()
    value: Any = None
    function: Any = None
    field_type: Any = None
    object: str | None = None  # the root object's api name (on the root)

    @property
    def line(self) -> int:
        return self.node.line

    @property
    def column(self) -> int:
        return self.node.column

    def walk(self):
        """This expression and every sub-expression, parents first."""
        stack = [self]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(current.args))

    def references(self) -> set[tuple[str, ...]]:
        """The field paths read: ``("amount",)``, ``("account", "industry")``."""
        found: set[tuple[str, ...]] = set()
        for item in self.walk():
            if item.kind == "field":
                found.add((item.value,))
            elif item.kind == "related":
                found.add(item.value.names)
        return found

    @property
    def uses_prior_values(self) -> bool:
        """True when ISNEW/ISCHANGED/PRIORVALUE appear (record context only)."""
        return any(item.kind == "call" and item.function.prior for item in self.walk())
