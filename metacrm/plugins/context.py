"""Per-request access to the tenant's compiled model, record store and
metadata service, each built for the signed-in identity and its guard."""

from __future__ import annotations

from flask import current_app, g

from metacrm.access.guard import PolicyGuard
from metacrm.access.members import head_and_roles, snapshot_from
from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types as _field_types
from metacrm.metadata.model import metadata_service as _metadata_service
from metacrm.metadata.model import model_for, save_steps
from metacrm.metadata.physical import CompiledModel
from metacrm.metadata.store import RecordStore
from metacrm.platform.instance import Instance
from metacrm.platform.web import current_actor, current_identity, current_tenant


def instance() -> Instance:
    return current_app.extensions["metacrm"]


def guard() -> PolicyGuard:
    """The signed-in user's guard: their tenant's policy at this request's
    metadata revision and the roles they hold now."""
    if "guard" not in g:
        compiled = model()
        snapshot = g.get("tenant_snapshot")
        roles = snapshot.roles if snapshot is not None and snapshot.provisioned else None
        g.guard = PolicyGuard.for_identity(instance(), current_tenant(), current_identity(), compiled, roles=roles)
    return g.guard


def model() -> CompiledModel:
    """The tenant's model at this request's revision. The first call also
    reads the caller's roles, in the same statement as the revision (one
    round trip for both, issue 16); a later call (after a metadata change
    in this request) reads the head again."""
    if "model" not in g:
        revision = None
        if "tenant_snapshot" not in g and g.get("identity") is not None:
            folded = g.get("tenant_reads")  # read with the token (PostgreSQL), else one statement now
            g.tenant_snapshot = (
                snapshot_from(folded) if folded else head_and_roles(current_tenant(), current_identity().user_id)
            )
            revision = g.tenant_snapshot.revision
        g.model = model_for(instance(), current_tenant(), revision)
    return g.model


def store() -> RecordStore:
    tenant_model = model()
    steps = save_steps(instance(), tenant_model)
    return RecordStore(
        current_tenant(), tenant_model, guard(), current_actor(), field_types(), steps=steps, instance=instance()
    )


def field_types():
    return _field_types(instance())


def revision_reader() -> MetadataService:
    """Reading revisions needs no admin right; changing does."""
    return _metadata_service(instance(), current_tenant(), current_actor())


def metadata_service() -> MetadataService:
    """Only for holders of the manage_metadata permission; refreshes the model after the change."""
    guard().require_metadata_admin()
    g.pop("model", None)
    return _metadata_service(instance(), current_tenant(), current_actor())
