"""Definitions: the JSON documents admins write, their JSON Schemas, and the
checks against the live model.

A :class:`DefinitionSet` is the whole metadata state of a tenant (live and
in-recycle-bin documents). Validation (run by each kind,
:meth:`metacrm.metadata.kinds.DefinitionKind.validate`) happens in two steps
and reports every problem at once, each with the JSON path it points at:
first the kind's Draft 2020-12 schema (plus, for fields, the type's options
schema), then the live model (referenced objects and fields exist, names
unique and not reserved, picklist values unique…): the ``check_*``
functions below, for the metadata engine's own kinds.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from metacrm.metadata.reserved import SYSTEM_FIELDS, reserved_reason
from metacrm.platform.errors import ValidationFailed


@cache
def schema_for(kind: str, package: str = "metacrm.metadata") -> dict:
    """The JSON Schema file ``schemas/<kind>.json`` of ``package`` (the layer
    that owns the kind), checked to be a valid Draft 2020-12 schema. The
    kinds (:mod:`metacrm.metadata.kinds`, :mod:`metacrm.rules.kinds`) load
    theirs with it; everything else asks the kind registry."""
    text = resources.files(package).joinpath("schemas", f"{kind}.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return schema


def json_path(parts: Iterable[Any]) -> str:
    """("options", "values", 1, "value") → "options.values[1].value"."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class DefinitionErrors:
    """Collects (path, message) pairs; raises them together."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        full = ".".join(p for p in (self.prefix, path) if p)
        self.items.append((full or "$", message))

    def schema(self, validator: Draft202012Validator, document: Any, base: tuple = ()) -> None:
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
            self.add(json_path((*base, *error.absolute_path)), error.message)

    def raise_if_any(self, what: str) -> None:
        if not self.items:
            return
        fields: dict[str, list[str]] = {}
        for path, message in self.items:
            fields.setdefault(path, []).append(message)
        raise ValidationFailed(
            f"the {what} is not valid: " + "; ".join(f"{p}: {m}" for p, m in self.items[:3]),
            details={"errors": [{"path": p, "message": m} for p, m in self.items], "fields": fields},
        )


@dataclass
class Definition:
    kind: str
    key: str
    document: dict
    deleted_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.deleted_at is None


@dataclass
class DefinitionSet:
    """Every definition of a tenant, keyed by (kind, key)."""

    items: dict[tuple[str, str], Definition] = field(default_factory=dict)

    def copy(self) -> DefinitionSet:
        return DefinitionSet(
            {k: Definition(v.kind, v.key, copy.deepcopy(v.document), v.deleted_at) for k, v in self.items.items()}
        )

    def fingerprint(self) -> str | None:
        """A digest of every definition (kind, key, document, in the recycle
        bin or not): equal for equal definitions whatever their revisions or
        times; None when a document is not plain JSON."""
        digest = hashlib.sha256()
        try:
            for (kind, key), item in sorted(self.items.items()):
                document = json.dumps(item.document, sort_keys=True, separators=(",", ":"), allow_nan=False)
                digest.update(json.dumps([kind, key, item.deleted_at is None, document]).encode())
        except (TypeError, ValueError):
            return None
        return digest.hexdigest()

    def get(self, kind: str, key: str, *, include_deleted: bool = False) -> Definition | None:
        item = self.items.get((kind, key))
        if item is None or (not include_deleted and not item.live):
            return None
        return item

    def live(self, kind: str) -> list[Definition]:
        return [d for (k, _), d in sorted(self.items.items()) if k == kind and d.live]

    def object(self, api_name: str) -> dict | None:
        item = self.get("object", api_name)
        return item.document if item else None

    def objects(self) -> list[dict]:
        return [d.document for d in self.live("object")]

    def scoped(self, kind: str, object_api_name: str, *, include_deleted: bool = False) -> list[Definition]:
        prefix = object_api_name + "."
        return [
            d
            for (k, key), d in sorted(self.items.items())
            if k == kind and key.startswith(prefix) and (include_deleted or d.live)
        ]

    def fields(self, object_api_name: str) -> list[dict]:
        return [d.document for d in self.scoped("field", object_api_name)]

    def field(self, object_api_name: str, field_api_name: str) -> dict | None:
        item = self.get("field", f"{object_api_name}.{field_api_name}")
        return item.document if item else None


def scoped_key(object_api_name: str, api_name: str) -> str:
    return f"{object_api_name}.{api_name}"


# -- the checks of the metadata engine's kinds against the live definitions ---------
# Each runs once the document passed its kind's schema (see
# :mod:`metacrm.metadata.kinds`, which registers them) and adds its problems
# to ``errors``; ``scope`` is a :class:`~metacrm.metadata.kinds.KindScope`.


def _check_name(errors: DefinitionErrors, api_name: Any, kind: str = "field") -> None:
    if isinstance(api_name, str):
        reason = reserved_reason(api_name, kind=kind)
        if reason:
            errors.add("api_name", reason)


def check_object(errors: DefinitionErrors, document: dict, scope) -> None:
    state, registry = scope.state, scope.field_types
    api_name = document["api_name"]
    _check_name(errors, api_name, "object")
    if scope.creating and state.get("object", api_name, include_deleted=True):
        in_bin = not state.get("object", api_name)
        errors.add("api_name", f"an object {api_name!r} already exists" + (" in the recycle bin" if in_bin else ""))
    if not scope.creating:
        fields = {f["api_name"]: f for f in state.fields(api_name)}
        name_field = document.get("name_field")
        if name_field and name_field not in fields:
            errors.add("name_field", f"no field {name_field!r} on {api_name}")
        elif name_field and fields[name_field]["type"] not in ("text", "auto_number", "email", "phone"):
            errors.add("name_field", "the name field must be a text, e-mail, phone or auto-number field")
        elif name_field and fields[name_field].get("encrypted"):
            errors.add(
                "name_field", f"{name_field} is encrypted; a name is shown in clear wherever the record is linked"
            )
        for i, name in enumerate(document.get("search_fields") or []):
            if name not in fields:
                errors.add(f"search_fields[{i}]", f"no field {name!r} on {api_name}")
            elif registry is not None and not registry.get(fields[name]["type"]).searchable:
                errors.add(
                    f"search_fields[{i}]",
                    f"{name} is a {fields[name]['type']} field; only text-like fields are searched",
                )


def check_field(errors: DefinitionErrors, document: dict, scope) -> None:
    state, registry, object_api_name = scope.state, scope.field_types, scope.object_api_name
    what = "field definition"
    if state.object(object_api_name) is None:
        errors.add("object", f"no object {object_api_name!r}")
        errors.raise_if_any(what)
    api_name = document["api_name"]
    _check_name(errors, api_name)
    if scope.creating and state.get("field", scoped_key(object_api_name, api_name), include_deleted=True):
        in_bin = not state.get("field", scoped_key(object_api_name, api_name))
        errors.add(
            "api_name",
            f"{object_api_name} already has a field {api_name!r}"
            + (" in the recycle bin: restore or purge it first" if in_bin else ""),
        )
    if document["type"] not in registry.names():
        errors.add("type", f"unknown field type {document['type']!r}; one of: {', '.join(sorted(registry.names()))}")
        errors.raise_if_any(what)
    field_type = registry.get(document["type"])
    errors.schema(Draft202012Validator(field_type.options_schema), document.get("options") or {}, ("options",))
    errors.raise_if_any(what)
    bound = registry.bind(document)
    for path, message in bound.validate_definition(state.object):
        errors.add(path, message)
    validate_default = getattr(bound, "validate_default", None)
    if validate_default and document.get("default") is not None:
        for path, message in validate_default():
            errors.add(path, message)
    if document.get("default_expression") and document.get("default") is not None:
        errors.add("default_expression", "give either default or default_expression, not both")
    if document.get("unique") and not field_type.has_column:
        errors.add("unique", f"a {document['type']} field cannot be unique")
    if document.get("encrypted"):
        if not field_type.encryptable:
            encryptable = ", ".join(sorted(t.name for t in registry if t.encryptable))
            errors.add("encrypted", f"a {document['type']} field cannot be encrypted; these can: {encryptable}")
        object_document = state.object(object_api_name) or {}
        if object_document.get("name_field") == api_name:
            errors.add("encrypted", f"{api_name} is the name field of {object_api_name}: names are shown in clear")


def check_layout(errors: DefinitionErrors, document: dict, scope) -> None:
    state, object_api_name = scope.state, scope.object_api_name
    fields = {f["api_name"] for f in state.fields(object_api_name)}
    if state.object(object_api_name) is None:
        errors.add("object", f"no object {object_api_name!r}")
    for s, section in enumerate(document["sections"]):
        for f, name in enumerate(section["fields"]):
            if name not in fields:
                errors.add(f"sections[{s}].fields[{f}]", f"no field {name!r} on {object_api_name}")
    for name in document.get("field_rules") or {}:  # the conditions are checked by the rule language
        if name not in fields:
            errors.add(f"field_rules.{name}", f"no field {name!r} on {object_api_name}")
    for r, related in enumerate(document.get("related_lists") or []):
        child = related["object"]
        child_field = state.field(child, related["field"]) if state.object(child) else None
        if state.object(child) is None:
            errors.add(f"related_lists[{r}].object", f"no object {child!r}")
        elif child_field is None or (child_field.get("options") or {}).get("target") != object_api_name:
            errors.add(f"related_lists[{r}].field", f"{child}.{related['field']} is no lookup to {object_api_name}")
        else:
            child_fields = {f["api_name"] for f in state.fields(child)}
            for c, name in enumerate(related.get("columns") or []):
                if name not in child_fields:
                    errors.add(f"related_lists[{r}].columns[{c}]", f"no field {name!r} on {child}")


def check_list_view(errors: DefinitionErrors, document: dict, scope) -> None:
    object_api_name = scope.object_api_name
    fields = {f["api_name"] for f in scope.state.fields(object_api_name)} | set(SYSTEM_FIELDS)
    for c, name in enumerate(document["columns"]):
        if name not in fields:
            errors.add(f"columns[{c}]", f"no field {name!r} on {object_api_name}")
    for name in (document.get("sort") or "").replace("-", "").split(","):
        if name and name not in fields:
            errors.add("sort", f"no field {name!r} on {object_api_name}")
    for name in document.get("filters") or {}:
        if name not in fields:
            errors.add(f"filters.{name}", f"no field {name!r} on {object_api_name}")
    for member, name in (document.get("board") or {}).items():
        if name not in fields:
            errors.add(f"board.{member}", f"no field {name!r} on {object_api_name}")


def check_app(errors: DefinitionErrors, document: dict, scope) -> None:
    """The objects an app groups exist (an object in the recycle bin may stay
    listed: the navigation leaves it out while it is deleted). Roles are the
    access layer's; the navigation ignores names no role has."""
    for i, name in enumerate(document["objects"]):
        if scope.state.get("object", name, include_deleted=True) is None:
            errors.add(f"objects[{i}]", f"no object {name!r}")
