"""Emptying the recycle bin: records, fields and objects deleted longer ago
than the retention period (``RECYCLE_BIN_DAYS``, 15 by default) are removed
for good. Run by ``metacrm recycle purge`` and nightly by the
``recycle.purge`` job.
"""

from __future__ import annotations

from datetime import timedelta

from metacrm.metadata.changes import purge_expired
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import field_types, model_for
from metacrm.metadata.store import RecordStore
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.instance import Instance
from metacrm.platform.jobs import JobSpec, crontab
from metacrm.platform.tenancy import list_tenants

RETENTION_ACTOR = audit.Actor(email="system:retention")
# Retention is the platform enforcing its own rule, not a user acting: it
# may purge any binned record, and do nothing else.
RETENTION_GUARD = SystemGuard(("delete",), purpose="retention")


def purge_recycle_bin(instance: Instance, binding: TenantBinding, days: int | None = None) -> list[str]:
    """Purge what has been in the tenant's recycle bin longer than ``days``.
    Returns one line per purged item group."""
    days = instance.config["RECYCLE_BIN_DAYS"] if days is None else days
    cutoff = utcnow() - timedelta(days=days)
    store = RecordStore(binding, model_for(instance, binding), RETENTION_GUARD, RETENTION_ACTOR, field_types(instance))
    done = []
    for object_name in store.model.objects:
        count = store.purge(object_name, older_than=cutoff)
        if count:
            done.append(f"{count} {object_name} record(s)")
    done += purge_expired(binding, field_types(instance), RETENTION_ACTOR, days)
    return done


def _purge_every_tenant(instance: Instance) -> None:
    for tenant in list_tenants(instance):
        if tenant["status"] == "active":
            purge_recycle_bin(instance, instance.db.bind(tenant["slug"]))


JOBS = [JobSpec("recycle.purge", _purge_every_tenant, schedule=crontab(minute="17", hour="3"))]
