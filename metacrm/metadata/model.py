"""The compiled-model cache: per tenant, the compiled model of the current
metadata revision.

Every request asks :func:`model_for` with its tenant binding; that costs one
indexed read of the tenant's head revision, and a recompile only when the
revision moved (a change made by another worker is picked up on the next
request). Nothing here outlives a revision, so workers on many hosts stay
consistent with no broadcast.
"""

from __future__ import annotations

import threading

from metacrm.metadata.changes import current_revision, definitions_at
from metacrm.metadata.fieldtypes.registry import FieldTypeRegistry, registry_from_plugins
from metacrm.metadata.physical import CompiledModel, compile_model
from metacrm.platform.database import TenantBinding
from metacrm.platform.instance import Instance

_lock = threading.Lock()


def field_types(instance: Instance) -> FieldTypeRegistry:
    """The registry of field types: built-ins plus those plugins register."""
    registry = instance.caches.get("field_types")
    if registry is None:
        with _lock:
            registry = instance.caches.get("field_types")
            if registry is None:
                registry = registry_from_plugins(instance.pm)
                instance.caches["field_types"] = registry
    return registry


def model_for(instance: Instance, binding: TenantBinding) -> CompiledModel:
    models: dict[str, CompiledModel] = instance.caches.setdefault("models", {})
    with binding.connect() as conn:
        revision = current_revision(conn)
        cached = models.get(binding.slug)
        if cached is not None and cached.revision == revision:
            return cached
        revision, definitions = definitions_at(conn)
    model = compile_model(revision, definitions, field_types(instance))
    models[binding.slug] = model
    return model
