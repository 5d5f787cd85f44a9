"""Merge fields: text with ``{{account.name}}`` placeholders filled from a
record as its reader may see it — e-mail templates, mass e-mail, printable
documents (quotes), survey and reminder texts. One engine for all of them.

The engine is Jinja's immutable sandbox: templates may read values,
branch, loop and use filters, but reach no Python attribute beginning with
``_``, call no method that changes anything, and loop at most
``MAX_RANGE`` times. HTML templates are autoescaped, so a value holding
``<script>`` prints as text.

Values come through the caller's record store, so its guard applies: a
field the reader may not read is blank, and a lookup to a record outside
their scope is blank exactly like one that is not filled in — a template
can't be used to read around the access layer.

A template names fields by api name. The record's own fields are at the top
level and also under the object's name (``{{first_name}}`` and
``{{contact.first_name}}`` are the same); a lookup is the linked record
(``{{account.name}}``, ``{{opportunity.account.industry}}``), printed as its
name; ``{{today}}`` is the date the text is rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed

# Linked records followed from one rendering (guards against templates that
# walk a long chain of lookups record by record).
MAX_LINKED_READS = 50


class _Environment(ImmutableSandboxedEnvironment):
    """Blank for whatever the template may not reach, instead of an error
    that would tell a reader what exists."""

    def __init__(self, *, html: bool):
        super().__init__(autoescape=html, undefined=ChainableUndefined, keep_trailing_newline=True)


_ENVIRONMENTS = {False: _Environment(html=False), True: _Environment(html=True)}


def check_template(text: str, *, path: str) -> None:
    """Refuse a template that does not parse, naming ``path`` and the line
    (a 422 like every definition error)."""
    try:
        _ENVIRONMENTS[False].parse(text)
    except TemplateSyntaxError as error:
        raise ValidationFailed(
            f"{path}: line {error.lineno}: {error.message}",
            details={path: [f"line {error.lineno}: {error.message}"]},
        ) from None


@lru_cache(maxsize=256)
def _compiled(text: str, html: bool):
    return _ENVIRONMENTS[html].from_string(text)


def render(text: str, context: dict[str, Any], *, html: bool = False) -> str:
    """``text`` with its merge fields filled from ``context`` (see
    :func:`record_context`). A template that tries to leave the sandbox is
    refused with a 422."""
    try:
        return _compiled(text, html).render(context)
    except TemplateSyntaxError as error:
        raise ValidationFailed(f"template: line {error.lineno}: {error.message}") from None
    except SecurityError as error:
        raise ValidationFailed(f"template: {error}") from None


class _Reads:
    """The linked-record reads of one rendering: each record read once, and
    at most :data:`MAX_LINKED_READS` of them."""

    def __init__(self, store):
        self.store = store
        self.records: dict[tuple[str, int], dict | None] = {}

    def read(self, object_name: str, record_id: int) -> dict | None:
        key = (object_name, record_id)
        if key not in self.records:
            if len(self.records) >= MAX_LINKED_READS:
                return None
            try:
                self.records[key] = self.store.get(object_name, record_id)
            except (NotFound, Forbidden):  # outside the reader's scope reads as "not filled in"
                self.records[key] = None
        return self.records[key]


class RecordView:
    """One record's readable values for a template. Attribute and item access
    both work (``account.name``, ``account["name"]``); a lookup is another
    :class:`RecordView`, read only when the template goes past its name."""

    __slots__ = ("_object", "_values", "_load", "_reads")

    def __init__(self, object_name: str, values: dict | None, reads: _Reads, load: Callable[[], dict | None] = None):
        self._object = object_name
        self._values = values
        self._load = load
        self._reads = reads

    def _all(self) -> dict:
        if self._values is None and self._load is not None:
            self._values, self._load = self._load() or {}, None
        return self._values or {}

    def _value(self, name: str) -> Any:
        obj = self._reads.store.object(self._object)
        field = obj.fields.get(name)
        value = self._all().get(name)
        if value is None:  # blank, hidden or no such field: all print as nothing
            return ChainableUndefined(name=name)
        if field is not None and field.is_lookup and isinstance(value, dict) and value.get("id") is not None:
            return self._linked(field.target, value)
        return value

    def _linked(self, target: str, link: dict) -> RecordView:
        reads = self._reads

        def load() -> dict | None:
            return reads.read(target, link["id"])

        # The name travels with the lookup (already trimmed to what the reader may see).
        if link.get("name") is None:
            return RecordView(target, None, reads, load)
        return _NamedLink(target, link, reads, load)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._value(name)

    def __getitem__(self, name: str) -> Any:
        return self._value(name)

    def __str__(self) -> str:
        obj = self._reads.store.object(self._object)
        name_field = obj.name_field if obj is not None else None
        value = self._all().get(name_field) if name_field else None
        return "" if value is None else str(value)

    def __bool__(self) -> bool:
        return bool(self._all())


class _NamedLink(RecordView):
    """A lookup whose name is already known: ``{{account}}`` prints it
    without a read; any other field reads the linked record."""

    __slots__ = ("_name",)

    def __init__(self, object_name: str, link: dict, reads: _Reads, load):
        super().__init__(object_name, None, reads, load)
        self._name = link["name"]

    def __str__(self) -> str:
        return str(self._name)

    def __bool__(self) -> bool:
        return True


def record_context(
    store, object_name: str, record: dict, *, children: dict[str, tuple[str, list[dict]]] | None = None, **extra: Any
) -> dict[str, Any]:
    """The context of a template rendered for ``record`` (a record as the
    store returns it, read by the template's reader): its fields at the top
    level and under ``object_name``, plus ``today`` and ``extra``.
    ``children`` maps a name to (object, records read by the same reader):
    each becomes a list of records (a quote's ``lines``)."""
    reads = _Reads(store)
    view = RecordView(object_name, record, reads)
    context: dict[str, Any] = {name: view[name] for name in record}
    context[object_name] = view
    for name, (child_object, rows) in (children or {}).items():
        context[name] = [RecordView(child_object, row, reads) for row in rows]
    context["today"] = date.today().isoformat()
    context.update(extra)
    return context
