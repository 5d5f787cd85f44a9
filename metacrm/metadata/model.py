"""The compiled-model cache: per tenant, the compiled model of the current
metadata revision.

Every request asks :func:`model_for` with its tenant binding; that costs one
indexed read of the tenant's head revision, and a recompile only when the
revision moved (a change made by another worker is picked up on the next
request). Nothing here outlives a revision, so workers on many hosts stay
consistent with no broadcast.
"""

from __future__ import annotations

from metacrm.metadata.changes import MetadataService, current_revision, definitions_at
from metacrm.metadata.definitions import DefinitionSet
from metacrm.metadata.events import Handler, RecordEvents, record_event_steps
from metacrm.metadata.fieldtypes.registry import FieldTypeRegistry, registry_from_plugins
from metacrm.metadata.guard import Guard
from metacrm.metadata.kinds import KindRegistry, kinds_for
from metacrm.metadata.physical import CompiledModel, compile_model
from metacrm.metadata.saving import ordered
from metacrm.metadata.store import RecordStore
from metacrm.platform import audit
from metacrm.platform.caches import CacheSlot, Memo
from metacrm.platform.crypto import keyring_from_config
from metacrm.platform.database import TenantBinding
from metacrm.platform.hooks import TenantHooks
from metacrm.platform.instance import Instance

FIELD_TYPES: CacheSlot[FieldTypeRegistry] = CacheSlot("field_types")
# Tenant slug -> its compiled model at the last revision asked for, for the
# TENANT_CACHE_SIZE most recently served tenants (InstanceCaches.per_tenant).
MODELS: CacheSlot[Memo] = CacheSlot("models")
# (plugin name, step or RecordEvents) of every plugin, collected once; each
# tenant's model keeps those of the plugins it has installed.
SAVE_STEPS: CacheSlot[tuple] = CacheSlot("save_steps")
RECORD_EVENTS: CacheSlot[tuple] = CacheSlot("record_events")
DEFINITION_KINDS: CacheSlot[KindRegistry] = CacheSlot("definition_kinds")
# Fingerprint of a tenant's definitions -> the problems the check_definitions
# hooks found in them (see definition_checks).
DEFINITION_CHECKS: CacheSlot[Memo] = CacheSlot("definition_checks")
DEFINITION_CHECKS_KEPT = 64


def field_types(instance: Instance) -> FieldTypeRegistry:
    """The registry of field types: built-ins plus those plugins register."""
    return instance.caches.get_or_build(
        FIELD_TYPES, lambda: _with_keyring(registry_from_plugins(instance.pm), instance)
    )


def _with_keyring(registry: FieldTypeRegistry, instance: Instance) -> FieldTypeRegistry:
    registry.keyring = keyring_from_config(instance.config)  # encrypted fields (metacrm/platform/crypto.py)
    return registry


def definition_kinds(instance: Instance) -> KindRegistry:
    """The registry of definition kinds: those the ``register_definition_kinds``
    hook returns, built-ins included (collected once per instance)."""
    return instance.caches.get_or_build(DEFINITION_KINDS, lambda: kinds_for(instance.pm))


def model_for(instance: Instance, binding: TenantBinding, revision: int | None = None) -> CompiledModel:
    """The tenant's compiled model at its head revision. ``revision``: the
    head the caller has just read (a request reads it with the caller's
    roles in one statement); the cached model at that revision is returned
    without a round trip."""
    models = instance.caches.per_tenant(MODELS, lambda _slug, model: instance.db.forget_tables(model.sa_metadata))
    if revision is not None:
        cached = models.get(binding.slug)
        if cached is not None and cached.revision == revision:
            return cached
    with binding.connect() as conn:
        revision = current_revision(conn)
        cached = models.get(binding.slug)
        if cached is not None and cached.revision == revision:
            return cached
        revision, definitions = definitions_at(conn)
    model = compile_model(revision, definitions, field_types(instance))
    models[binding.slug] = model
    return model


def installed_plugins(definitions: DefinitionSet) -> frozenset[str]:
    """The plugins installed in a tenant: those its live package records name
    (a record written before plugins were named is its package's)."""
    return frozenset(d.document.get("plugin", d.key) for d in definitions.live("package"))


def tenant_hooks(instance: Instance, definitions: DefinitionSet) -> TenantHooks:
    """The one accessor of tenant-scoped hooks (``hooks.TENANT_HOOKS``): the
    hooks as the tenant whose definitions these are sees them — built-in
    plugins and the plugins installed there."""
    return instance.pm.for_tenant(installed_plugins(definitions))


def _plugin_save_steps(instance: Instance) -> tuple:
    return instance.caches.get_or_build(
        SAVE_STEPS,
        lambda: tuple(
            (plugin, step) for plugin, result in instance.pm.each("register_save_steps") for step in result or ()
        ),
    )


def _record_event_handlers(instance: Instance) -> tuple[Handler, ...]:
    def build() -> tuple[Handler, ...]:
        handlers = []
        for plugin, result in instance.pm.each("register_record_events"):
            for events in result or ():
                if not isinstance(events, RecordEvents) or not events.objects:
                    instance.pm.report_broken(plugin, f"register_record_events returned {events!r}, not RecordEvents")
                    break
                handlers.append(Handler(plugin, events))
        return tuple(handlers)

    return instance.caches.get_or_build(RECORD_EVENTS, build)


def save_steps(instance: Instance, model: CompiledModel) -> tuple:
    """The save pipeline of ``model``'s tenant, in order: the steps of the
    ``register_save_steps`` hook and the record-event handlers, of built-in
    plugins and of those installed in the tenant (kept with the model, so
    an install, which makes a new revision, is seen at once)."""

    def build() -> tuple:
        installed = installed_plugins(model.definitions)
        runs = instance.pm.runs_for
        steps = [step for plugin, step in _plugin_save_steps(instance) if runs(plugin, installed)]
        handlers = [h for h in _record_event_handlers(instance) if runs(h.plugin, installed)]
        return ordered([*steps, *record_event_steps(handlers)])

    return model.memo("save_steps", build)


def definition_checks(instance: Instance):
    """``check(definitions, model) -> [(kind, key, path, message)]`` over
    every ``check_definitions`` hook that runs for the tenant.

    A hook sees the definitions and the model compiled from them, nothing
    else, so the problems are a function of the definitions: they are kept
    per fingerprint of the definitions (the most recent few), and installing
    a package in a fresh tenant, which leads every such tenant to the same
    definitions, compiles and checks its formulas once per worker."""
    memo = instance.caches.get_or_build(DEFINITION_CHECKS, lambda: Memo(DEFINITION_CHECKS_KEPT))

    def check(definitions, model) -> list[tuple[str, str, str, str]]:
        hook = tenant_hooks(instance, definitions).check_definitions

        def run() -> tuple[tuple[str, str, str, str], ...]:
            results = hook(definitions=definitions, model=model)
            return tuple(problem for result in results for problem in (result or []))

        fingerprint = definitions.fingerprint()
        if fingerprint is None:
            return list(run())
        # The plugins whose checks run too (one found broken since drops out).
        key = (fingerprint, tuple(impl.plugin_name for impl in hook.get_hookimpls()))
        return list(memo(key, run))

    return check


def record_store(instance: Instance, binding: TenantBinding, guard: Guard, actor: audit.Actor) -> RecordStore:
    """The record store of ``binding`` with the instance's save pipeline:
    the one way product code gets a store."""
    model = model_for(instance, binding)
    return RecordStore(
        binding, model, guard, actor, field_types(instance), steps=save_steps(instance, model), instance=instance
    )


def metadata_service(instance: Instance, binding: TenantBinding, actor: audit.Actor) -> MetadataService:
    """The metadata service of ``binding`` with the instance's definition checks."""
    return MetadataService(
        binding, field_types(instance), actor, checks=definition_checks(instance), kinds=definition_kinds(instance)
    )
