"""The compiled row loader: a write's JSON record → column values, link ids
and errors by field, for a whole row in one function.

Built once per object and compiled model (kept in the model's memo, dropped
with it): what each field name of a record means (an identifier, a system
field, read-only, a link field, a column) and each field's
:attr:`~metacrm.metadata.fieldtypes.base.FieldType.column_loader` are worked
out once, as are the definitions' ``default`` values of a create. Loading a
row is then one dictionary look-up and one plain function call per value, no
per-field dispatch through marshmallow (the loaders fall back to it only for
the values they are not sure about, invalid ones included, so the messages
are the field type's own).

What a user may see and write is the guard's, per call: :meth:`RowLoader.bind`
takes the call's readable and writable fields once for all its rows.

A caller that loaded the values itself with the same loaders (the import,
which types every cell of a file once: ``typed``) hands the store column
values: the names are checked as for any write (unknown, system, read-only,
not writable), the values are taken as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma

from metacrm.metadata.fieldtypes.base import SLOW
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.metadata.values import error_messages
from metacrm.platform.errors import Forbidden

# What a name of a record means to a write.
_SKIP, _SYSTEM, _READ_ONLY, _LINKS, _COLUMN = range(5)
_IDENTIFIERS = ("id", "version")  # identify the record; not values
_UNKNOWN = (None, None, None)

NOT_A_RECORD = "a record must be a JSON object"


class RowLoader:
    """The loading of ``obj``'s records (see the module)."""

    def __init__(self, obj: CompiledObject):
        self.obj = obj
        # name → (kind, shortcut or None, loader)
        self.kinds: dict[str, tuple[int, Callable[[Any], Any] | None, Callable[[Any], Any] | None]] = {}
        for name in _IDENTIFIERS:
            self.kinds[name] = (_SKIP, None, None)
        for name in SYSTEM_FIELDS:
            self.kinds.setdefault(name, (_SYSTEM, None, None))
        for name, field_type in obj.fields.items():
            if name in self.kinds:
                continue
            if field_type.read_only:
                self.kinds[name] = (_READ_ONLY, None, None)
            elif field_type.stores_links:
                self.kinds[name] = (_LINKS, None, _links_loader(field_type))
            else:
                self.kinds[name] = (_COLUMN, *field_type.column_loaders)
        # The definitions' ``default`` of a create, as column values; a
        # default that does not load raises (ValidationFailed) on every create.
        self.defaults: list[tuple[str, Callable[[], Any]]] = []
        for name, field_type in obj.fields.items():
            if field_type.has_column and not field_type.read_only and field_type.definition.get("default") is not None:
                self.defaults.append((name, _default_of(field_type)))

    def bind(
        self, readable: set[str], writable: set[str], *, typed: bool = False
    ) -> Callable[[Any, bool], tuple[dict, dict, dict]]:
        """``load(data, creating)`` → (column values, many-to-many ids, errors
        by field) for one call of a user who may read ``readable`` and write
        ``writable``; raises Forbidden for a field they may read but not write.
        ``typed``: ``data`` holds column values already (each field's
        :attr:`~metacrm.metadata.fieldtypes.base.FieldType.column_loader`
        result; a list of ids for a many-to-many field), taken as they are."""
        kinds, defaults = self.kinds, self.defaults
        if typed:
            # No loaders: a value is taken as it is (below, ``loader is None``).
            kinds = {
                name: (entry[0], None, None) if entry[0] in (_COLUMN, _LINKS) else entry
                for name, entry in kinds.items()
            }
        fields = self.obj.fields

        def load(data: Any, creating: bool) -> tuple[dict, dict, dict]:
            if not isinstance(data, dict):
                return {}, {}, {"$": [NOT_A_RECORD]}
            errors: dict[str, list[str]] = {}
            values: dict[str, Any] = {}
            many: dict[str, list[int]] = {}
            for name, raw in data.items():
                kind, fast, loader = kinds.get(name, _UNKNOWN)
                if kind == _COLUMN and name in writable:  # the common case first
                    if loader is None:  # typed
                        values[name] = raw
                        continue
                    if fast is not None:
                        value = fast(raw)
                        if value is not SLOW:
                            values[name] = value
                            continue
                    try:
                        values[name] = loader(raw)
                    except ma.ValidationError as exc:
                        errors[name] = error_messages(exc)
                    continue
                if kind == _SKIP:
                    continue
                if kind == _SYSTEM:
                    errors[name] = ["is a system field and cannot be written"]
                    continue
                if kind is None or name not in readable:
                    errors[name] = ["unknown field"]
                    continue
                if kind == _READ_ONLY:
                    errors[name] = ["is read-only"]
                    continue
                if name not in writable:
                    raise Forbidden(f"you may not write {name}", details={"fields": {name: ["not writable for you"]}})
                try:
                    if loader is None:  # typed
                        loaded = raw
                    else:
                        loaded = loader(raw) if fast is None else fast(raw)
                        if loaded is SLOW:
                            loaded = loader(raw)
                except ma.ValidationError as exc:
                    errors[name] = error_messages(exc)
                    continue
                if kind == _LINKS:
                    many[name] = loaded
                else:
                    values[name] = loaded
            if creating:
                for name, default in defaults:
                    if name not in data:
                        values[name] = default()
            return values, many, errors

        # A column the user may write but not read is refused as unknown, as
        # before: only names both readable and writable take the short way.
        writable = writable & readable & set(fields)
        return load


def row_loader(model: CompiledModel, obj: CompiledObject) -> RowLoader:
    """The :class:`RowLoader` of ``obj`` at ``model``'s revision (built on first use)."""
    return model.memo(("row_loader", obj.api_name), lambda: RowLoader(obj))


def _links_loader(field_type) -> Callable[[Any], list[int]]:
    deserialize, load_links = field_type.loader.deserialize, field_type.load_links

    def load(value: Any) -> list[int]:
        return load_links(deserialize(value))

    return load


def _default_of(field_type) -> Callable[[], Any]:
    try:
        value = field_type.to_db(field_type.default_value())
    except Exception:  # noqa: BLE001 - raised again, as before, by each create that needs it
        return lambda: field_type.to_db(field_type.default_value())
    if isinstance(value, (list, dict, set)):  # never share a mutable value between rows
        return lambda: field_type.to_db(field_type.default_value())
    return lambda: value
