"""Definition kinds: the one registry of what can be defined in a tenant.

A :class:`DefinitionKind` says everything the platform needs to know about one
kind of definition (a row of ``meta_definitions``): its JSON Schema, its
check against the live definitions, whether its key is tenant-wide or per
object, how a metadata change writes it, and how packages, the meta API and
tenant export/import name it. Every kind registers through the
``register_definition_kinds`` hook, the built-in ones included: the metadata
engine its objects, fields, layouts, list views and package records
(:mod:`metacrm.metadata.plugin`), the rule language its validation rules and
automations (:mod:`metacrm.rules.kinds`), the access layer its policy mirror.

:func:`kinds_for` collects them once per plugin manager (so once per
instance); the change set (:mod:`metacrm.metadata.changes`), packages, the
meta API and tenant import all ask that registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from metacrm.metadata import definitions as defs
from metacrm.metadata.definitions import DefinitionErrors, DefinitionSet, scoped_key
from metacrm.platform.caches import Memo

if TYPE_CHECKING:
    from metacrm.metadata.changes import ChangeSet
    from metacrm.metadata.fieldtypes.registry import FieldTypeRegistry


@dataclass(frozen=True)
class KindScope:
    """What a document is checked against: the tenant's definitions as the
    change has them so far, the object it belongs to (object-scoped kinds),
    the field types, and whether the document is new."""

    state: DefinitionSet
    object_api_name: str | None = None
    field_types: FieldTypeRegistry | None = None
    creating: bool = False


# Per kind, the canonical JSON of this many documents that passed its schema.
SCHEMA_PASSES_KEPT = 4096


def _canonical_json(document: Any) -> str | None:
    """``document`` as JSON with sorted keys, or None when JSON cannot tell
    it apart from another value (a tuple, a non-string key, NaN...): only a
    document that reads back equal is remembered as having passed."""
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return text if json.loads(text) == document else None


# check(errors, document, scope): add (path, message) problems to errors; it
# runs only on a document that passed the schema.
Check = Callable[[DefinitionErrors, Any, KindScope], None]
# put(tx, object_api_name, document) -> the stored document.
Writer = Callable[["ChangeSet", "str | None", dict], dict]


@dataclass(frozen=True, eq=False)
class DefinitionKind:
    """One kind of definition.

    * ``name``: the ``kind`` column of ``meta_definitions``;
    * ``label``: how messages name one ("list view"); ``document_label``
      how validation errors name it ("the field definition is not valid");
    * ``schema``: the JSON Schema of a document. None for a record the
      platform keeps for itself (the access policy mirror, a package record):
      written only by its owner's code through ``ChangeSet.write_definition``,
      never by the API, packages or a rollback;
    * ``check``: problems against the live definitions, after the schema;
    * ``object_scoped``: the key is ``<object>.<api_name>`` (deleted and
      purged with the object) instead of the document's ``api_name``;
    * ``collection``: the plural naming a list of them: the member of the
      object payload (``GET /api/v1/meta/objects/{object}``) and the package
      file ``objects/<object>/<collection>.yaml`` ("list_views");
    * ``url``: the path segment of the generic routes
      ``/api/v1/meta/objects/{object}/<url>[/{api_name}]`` (None: the kind
      has routes of its own, or none);
    * ``put``: how the change set writes one when it is not stored as is
      (objects and fields change the physical schema).

    Registration order is the order packages install kinds, rollbacks
    re-apply them and the object payload lists them.
    """

    name: str
    label: str
    schema: dict | None = None
    check: Check | None = None
    object_scoped: bool = False
    collection: str | None = None
    url: str | None = None
    put: Writer | None = None
    document_label: str | None = None

    @property
    def written_by_admins(self) -> bool:
        """Documents come from admins (API, packages, rollbacks), not from the platform itself."""
        return self.schema is not None

    @property
    def stored_as_is(self) -> bool:
        """Written by admins and stored as given (no DDL, no recycle bin):
        ``ChangeSet.delete`` removes one and a rollback puts it back."""
        return self.written_by_admins and self.put is None

    @cached_property
    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    @cached_property
    def _passed_schema(self) -> Memo:
        """Documents (as canonical JSON) that passed the schema: the schema is
        a pure function of the document, and a package installs the same
        documents in every tenant; the most recently seen few thousand."""
        return Memo(SCHEMA_PASSES_KEPT)

    def key(self, object_api_name: str | None, api_name: str) -> str:
        return scoped_key(object_api_name, api_name) if self.object_scoped else api_name

    def validate(self, document: Any, scope: KindScope) -> None:
        """The schema, then the check against the live definitions; one
        ValidationFailed (422) naming the JSON path of every problem."""
        what = self.document_label or self.label
        errors = DefinitionErrors()
        if self.schema is not None:
            text = _canonical_json(document)
            if text is None or text not in self._passed_schema:
                errors.schema(self.validator, document)
                errors.raise_if_any(what)
                if text is not None:
                    self._passed_schema[text] = True
        if self.check is not None:
            self.check(errors, document, scope)
        errors.raise_if_any(what)


class KindRegistry:
    """The definition kinds of an instance, by name, in registration order."""

    def __init__(self, kinds: Iterator[DefinitionKind] | list[DefinitionKind] = ()):
        self._kinds: dict[str, DefinitionKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: DefinitionKind) -> DefinitionKind:
        where = f"definition kind {kind.name!r}"
        if kind.name in self._kinds:
            raise ValueError(f"{where} is already registered; a plugin cannot replace a kind")
        if kind.schema is not None:
            Draft202012Validator.check_schema(kind.schema)
            if "api_name" not in kind.schema.get("required", ()):
                raise ValueError(f"{where}: its schema must require an api_name (the document's key)")
        for other in self._kinds.values():
            for attribute in ("collection", "url"):
                value = getattr(kind, attribute)
                if value is not None and value == getattr(other, attribute):
                    raise ValueError(f"{where}: {attribute} {value!r} is taken by {other.name!r}")
        self._kinds[kind.name] = kind
        return kind

    def get(self, name: str) -> DefinitionKind:
        """The kind ``name``; KeyError naming the registered ones otherwise."""
        kind = self._kinds.get(name)
        if kind is None:
            raise KeyError(f"no definition kind {name!r}; registered: {', '.join(self._kinds)}")
        return kind

    def names(self) -> list[str]:
        return list(self._kinds)

    def object_scoped(self) -> list[DefinitionKind]:
        return [kind for kind in self if kind.object_scoped]

    def by_collection(self, collection: str) -> DefinitionKind | None:
        return next((kind for kind in self if kind.collection == collection), None)

    def by_url(self, url: str) -> DefinitionKind | None:
        return next((kind for kind in self if kind.url == url), None)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[DefinitionKind]:
        return iter(self._kinds.values())

    def __len__(self) -> int:
        return len(self._kinds)


def registry_from_plugins(plugin_manager) -> KindRegistry:
    """Every kind the ``register_definition_kinds`` hook returns, plugins
    asked in registration order (built-ins first)."""
    registry = KindRegistry()
    # pluggy returns results last-registered first.
    for kinds in reversed(plugin_manager.hook.register_definition_kinds()):
        for kind in kinds or ():
            registry.register(kind)
    return registry


@cache
def _metadata_only() -> KindRegistry:
    return KindRegistry(METADATA_KINDS)


def kinds_for(plugin_manager) -> KindRegistry:
    """The definition kinds of a plugin manager's plugins, collected anew
    (the instance keeps its own in ``metadata.model.definition_kinds``).
    Without a plugin manager (a field-type registry built from the built-in
    types alone), the metadata engine's own kinds."""
    if plugin_manager is None:
        return _metadata_only()
    return registry_from_plugins(plugin_manager)


# -- the metadata engine's own kinds --------------------------------------------------


def _put_object(tx: ChangeSet, _object_api_name: str | None, document: dict) -> dict:
    """Create the object (and its table) or update its document."""
    api_name = document.get("api_name")
    if isinstance(api_name, str) and tx.state.get("object", api_name) is not None:
        return tx.update_object(api_name, {k: v for k, v in document.items() if k != "api_name"})
    return tx.create_object(document)


def _put_field(tx: ChangeSet, object_api_name: str | None, document: dict) -> dict:
    """Add the field (and its column) or change it, converting stored values."""
    api_name = document.get("api_name")
    if isinstance(api_name, str) and tx.state.field(object_api_name, api_name) is not None:
        return tx.update_field(object_api_name, api_name, {k: v for k, v in document.items() if k != "api_name"})
    return tx.add_field(object_api_name, document)


METADATA_KINDS = (
    DefinitionKind(
        "object",
        "object",
        schema=defs.schema_for("object"),
        check=defs.check_object,
        put=_put_object,
        document_label="object definition",
    ),
    DefinitionKind(
        "field",
        "field",
        schema=defs.schema_for("field"),
        check=defs.check_field,
        object_scoped=True,
        collection="fields",
        put=_put_field,
        document_label="field definition",
    ),
    DefinitionKind(
        "layout",
        "layout",
        schema=defs.schema_for("layout"),
        check=defs.check_layout,
        object_scoped=True,
        collection="layouts",
        url="layouts",
    ),
    DefinitionKind(
        "list_view",
        "list view",
        schema=defs.schema_for("list_view"),
        check=defs.check_list_view,
        object_scoped=True,
        collection="list_views",
        url="list-views",
    ),
    DefinitionKind(
        "app",
        "app",
        schema=defs.schema_for("app"),
        check=defs.check_app,
        collection="apps",
        document_label="app definition",
    ),
    DefinitionKind("package", "package"),  # the record of an installed package (metacrm.plugins.packages)
)
