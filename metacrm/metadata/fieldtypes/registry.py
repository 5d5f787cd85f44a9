"""The field-type registry: type name → class.

An instance builds one registry from the ``register_field_types`` hook
(:func:`registry_from_plugins`; the built-ins arrive through the
:class:`BuiltinFieldTypes` plugin like any other); tests and tools can take
:func:`builtin_registry`. Names are unique: a plugin cannot replace a type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from metacrm.platform.errors import ValidationFailed
from metacrm.platform.hooks import hookimpl

from .base import ALL_OPERATORS, FieldType, Widgets
from .builtin import BUILTIN_TYPES

TYPE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class FieldTypeRegistry:
    def __init__(self, types: Iterable[type[FieldType]] = ()):
        self._types: dict[str, type[FieldType]] = {}
        self.plugin_manager = None  # set when built from an instance's plugins
        # The instance's key ring (metacrm.platform.crypto.KeyRing) for
        # encrypted fields; None in bare tools, which then cannot write them.
        self.keyring = None
        for cls in types:
            self.register(cls)

    def register(self, cls: type[FieldType]) -> type[FieldType]:
        """Adds ``cls`` (returns it, so it also works as a class decorator).
        Raises ValueError for a duplicate name or a class that breaks the contract."""
        if not (isinstance(cls, type) and issubclass(cls, FieldType)):
            raise ValueError(f"{cls!r} is not a FieldType subclass")
        where = f"{cls.__module__}.{cls.__qualname__}"
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not TYPE_NAME_RE.match(name):
            raise ValueError(f"{where}: name must match {TYPE_NAME_RE.pattern}, got {name!r}")
        if name in self._types:
            existing = self._types[name]
            raise ValueError(
                f"field type {name!r} is already registered by {existing.__module__}.{existing.__qualname__}; "
                f"{where} cannot replace it"
            )
        if not isinstance(getattr(cls, "label", None), str) or not cls.label:
            raise ValueError(f"{where}: label must be a non-empty string")
        if not isinstance(cls.widgets, Widgets):
            raise ValueError(f"{where}: widgets must be a Widgets naming the template and its macros")
        unknown = [op for op in cls.operators if op not in ALL_OPERATORS]
        if unknown:
            raise ValueError(f"{where}: unknown operators {unknown}; known: {', '.join(ALL_OPERATORS)}")
        schema = cls.options_schema
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"{where}: options_schema is not a valid JSON Schema: {exc.message}") from None
        if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
            raise ValueError(f'{where}: options_schema must be an object schema with "additionalProperties": false')
        self._types[name] = cls
        return cls

    def get(self, name: Any) -> type[FieldType]:
        """The class of type ``name``; ValidationFailed (on ``type``) naming the valid ones otherwise."""
        cls = self._types.get(name) if isinstance(name, str) else None
        if cls is None:
            message = f"unknown field type {name!r}; use one of: {', '.join(self._types)}"
            raise ValidationFailed(message, details={"fields": {"type": [message]}})
        return cls

    def names(self) -> list[str]:
        """Registered names in registration order (built-ins first)."""
        return list(self._types)

    def bind(self, definition: dict[str, Any]) -> FieldType:
        """A type instance bound to a field ``definition``."""
        return self.get(definition.get("type"))(definition)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[type[FieldType]]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)


def builtin_registry() -> FieldTypeRegistry:
    """A fresh registry holding the built-in types only."""
    return FieldTypeRegistry(BUILTIN_TYPES)


def registry_from_plugins(plugin_manager) -> FieldTypeRegistry:
    """A registry of every type the ``register_field_types`` hook returns
    (register :data:`builtin_field_types` on the manager for the built-ins).
    Plugins are asked in registration order, so built-ins come first and a
    plugin reusing a built-in name raises ValueError."""
    registry = FieldTypeRegistry()
    registry.plugin_manager = plugin_manager  # other per-instance registries (rule functions) start from it
    # pluggy returns results last-registered first.
    for types in reversed(plugin_manager.hook.register_field_types()):
        for cls in types or ():
            registry.register(cls)
    return registry


class BuiltinFieldTypes:
    """The plugin contributing the built-in types (register an instance:
    :data:`builtin_field_types`)."""

    @hookimpl
    def register_field_types(self):
        return list(BUILTIN_TYPES)


builtin_field_types = BuiltinFieldTypes()
