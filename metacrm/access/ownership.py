"""Ownership transfer: the one way to change a record's ``owner_id``.

``owner_id`` is a system field: record writes refuse it (422), so ownership
cannot be mass-assigned. Transferring needs the object's ``update``
permission with the record in the user's update scope (404 otherwise, as
for any write) AND the ``transfer`` right of the role entry (``"transfer":
true``; the standard admin and sales_manager roles have it). The new owner
must be a member of the tenant. The record leaves any pool it was in or
claimed from, and the change is audited (``record.owner_changed``, with the
old and the new owner).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from metacrm.access.guard import PolicyGuard
from metacrm.access.members import tenant_members
from metacrm.access.tables import pool_claims, pool_records
from metacrm.metadata.physical import CompiledModel
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed
from metacrm.platform.instance import Instance


def transfer_owner(
    instance: Instance,
    guard: PolicyGuard,
    binding: TenantBinding,
    model: CompiledModel,
    object_name: str,
    record_id: int,
    body: Any,
    actor: audit.Actor,
) -> dict:
    obj = model.object(object_name)
    if obj is None:
        raise NotFound(f"no object {object_name!r}")
    guard.require("update", obj)
    if not guard.permits("transfer", obj):
        raise Forbidden(
            f"your roles do not permit transferring {obj.label} records to another owner",
            details={"object": obj.api_name, "action": "transfer"},
        )
    user_id = body.get("user_id") if isinstance(body, dict) else None
    unknown = [k for k in (body if isinstance(body, dict) else {}) if k != "user_id"]
    if unknown:
        raise ValidationFailed(
            'send {"user_id": N}', details={"fields": {k: ["unknown member; use user_id"] for k in unknown}}
        )
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id not in tenant_members(instance, binding):
        raise ValidationFailed(
            f"user {user_id!r} is no member of this tenant", details={"fields": {"user_id": ["not a member"]}}
        )
    table = obj.table
    scope = guard.scope("update", obj)
    with binding.begin() as conn:
        query = sa.select(table.c.id, table.c.owner_id, table.c.version).where(
            table.c.id == record_id, table.c.deleted_at.is_(None)
        )
        if scope is not None:
            query = query.where(scope)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=table)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no {object_name} {record_id}")
        result = {"object": obj.api_name, "id": record_id, "owner_id": user_id, "previous_owner_id": row.owner_id}
        if row.owner_id == user_id:
            return {**result, "version": row.version, "changed": False}
        conn.execute(
            table.update()
            .where(table.c.id == record_id)
            .values(owner_id=user_id, updated_at=utcnow(), updated_by=actor.user_id, version=row.version + 1)
        )
        for pooled in (pool_records, pool_claims):
            conn.execute(pooled.delete().where(pooled.c.object == obj.api_name, pooled.c.record_id == record_id))
        audit.record(
            conn,
            actor,
            "record.owner_changed",
            object=obj.api_name,
            record_id=record_id,
            details={"owner_before": row.owner_id, "owner_after": user_id},
        )
    return {**result, "version": row.version + 1, "changed": True}
