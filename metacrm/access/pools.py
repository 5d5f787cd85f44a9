"""Public pools (公海): records nobody owns, claimed by the first member who
takes them.

A pool is policy (defined through :mod:`metacrm.access.changes`, versioned
and exported with the roles); what is in it is data. A record in a pool has
``owner_id`` NULL and a ``pool_records`` row; the pool's members (roles,
teams, and its admins) read it through the record scope
(:func:`metacrm.access.scopes.in_pool`). Moving records:

* :func:`claim`: a member takes records (at most ``claim_quota`` held from
  the pool at once; not a record they returned less than ``cooldown_days``
  ago). Concurrency-safe: the pool rows are deleted with RETURNING, so of
  two users claiming the same record exactly one gets it and the other a 409
  naming the id;
* :func:`return_records` (and :func:`return_to_pool`, which automations call
  inside their own transaction): records go back, owner cleared;
* :func:`assign`: a pool admin hands records to a member of the tenant;
* :func:`reclaim_due`: claimed records not followed up for ``reclaim_days``
  (the pool's ``follow_up_field``, e.g. ``last_activity_at``, else
  ``updated_at``) go back; the ``access.pools.reclaim`` job runs it daily
  for every tenant.

Every move is audited (``pool.claimed``, ``pool.returned``, ``pool.assigned``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.access.guard import PolicyGuard
from metacrm.access.members import teams_of, tenant_members
from metacrm.access.policy import Pool, load_pools
from metacrm.access.tables import pool_claims, pool_records, pools
from metacrm.metadata.model import model_for
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.platform import audit
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from metacrm.platform.instance import Instance
from metacrm.platform.jobs import JobSpec, crontab
from metacrm.platform.tenancy import list_tenants

MAX_IDS = 200
MAX_REASON = 500
RECLAIM_ACTOR = audit.Actor(email="system:pool-reclaim")


def record_ids(body: Any, key: str = "ids") -> list[int]:
    ids = body.get(key) if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > MAX_IDS
        or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids)
    ):
        raise ValidationFailed(
            f"{key} must be a list of 1 to {MAX_IDS} record ids", details={"fields": {key: ["a list of record ids"]}}
        )
    return list(dict.fromkeys(ids))


def _reason(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("say why the records go back", details={"fields": {"reason": ["is required"]}})
    if len(value) > MAX_REASON:
        raise ValidationFailed(f"reason: at most {MAX_REASON} characters", details={"fields": {"reason": ["too long"]}})
    return value.strip()


def _lock_pool(conn: Connection, name: str) -> None:
    """Serialize moves in one pool (PostgreSQL; SQLite has one writer anyway),
    so the quota cannot be overrun by two claims at once."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(pools.c.api_name).where(pools.c.api_name == name).with_for_update())


def _set_owner(conn: Connection, obj: CompiledObject, ids: list[int], owner: int | None, actor: audit.Actor, now):
    table = obj.table
    conn.execute(
        table.update()
        .where(table.c.id.in_(ids))
        .values(owner_id=owner, updated_at=now, updated_by=actor.user_id, version=table.c.version + 1)
    )


# -- the service automations call ------------------------------------------------------------------


def return_to_pool(
    conn: Connection,
    model: CompiledModel,
    object_name: str,
    record_ids: list[int],
    *,
    reason: str,
    actor,
    pool: str | None = None,
) -> int:
    """Move live records of ``object_name`` into its pool (``pool``, or the
    object's first pool by api name): owner cleared, pool rows and audit
    entries written, inside the caller's transaction ``conn``. Records
    already in a pool or in the recycle bin are skipped. Returns how many moved."""
    reason = _reason(reason)
    obj = model.object(object_name)
    if obj is None:
        raise NotFound(f"no object {object_name!r}")
    target = _pool_for(conn, object_name, pool)
    ids = list(dict.fromkeys(int(i) for i in record_ids))
    if not ids:
        return 0
    _lock_pool(conn, target.api_name)
    table = obj.table
    already = sa.select(pool_records.c.record_id).where(pool_records.c.object == object_name)
    rows = conn.execute(
        sa.select(table.c.id, table.c.owner_id).where(
            table.c.id.in_(ids), table.c.deleted_at.is_(None), table.c.id.not_in(already)
        )
    ).all()
    if not rows:
        return 0
    now = utcnow()
    moved = [r.id for r in rows]
    _set_owner(conn, obj, moved, None, actor, now)
    conn.execute(pool_claims.delete().where(pool_claims.c.object == object_name, pool_claims.c.record_id.in_(moved)))
    conn.execute(
        pool_records.insert(),
        [
            {
                "object": object_name,
                "record_id": r.id,
                "pool": target.api_name,
                "since": now,
                "returned_by": r.owner_id,
                "reason": reason,
            }
            for r in rows
        ],
    )
    audit.record_many(
        conn,
        actor,
        "pool.returned",
        object=object_name,
        items=[(r.id, {"pool": target.api_name, "owner_before": r.owner_id, "reason": reason}) for r in rows],
    )
    return len(rows)


def _pool_for(conn: Connection, object_name: str, name: str | None) -> Pool:
    candidates = [p for p in load_pools(conn).values() if p.object == object_name]
    if name is not None:
        for pool in candidates:
            if pool.api_name == name:
                return pool
        raise NotFound(f"no pool {name!r} for {object_name}")
    if not candidates:
        raise NotFound(f"{object_name} has no pool")
    return candidates[0]


def _followed_up(model: CompiledModel, obj: CompiledObject, pool: Pool, cutoff: datetime):
    """The condition "followed up since ``cutoff``": by the pool's follow-up
    field (a stored column, or a computed one such as the roll-up
    ``last_activity_at``, through its SQL expression) or, since the claim
    itself starts the clock, claimed since; by ``updated_at`` when the
    pool names no field or its field is gone (a claim writes it anyway)."""
    field_type = obj.fields.get(pool.follow_up_field or "")
    if field_type is None:
        return obj.table.c.updated_at >= cutoff
    moment = field_type.select_expression(obj.table, model) if field_type.computed else obj.table.c[field_type.api_name]
    # A date field counts the whole day; a datetime its moment.
    value_type = getattr(field_type, "value_type", None) or field_type
    since = cutoff.date() if value_type.name == "date" else cutoff
    return sa.or_(pool_claims.c.at >= cutoff, sa.func.coalesce(moment >= since, False))


def reclaim_due(binding: TenantBinding, model: CompiledModel, *, now=None, actor=audit.SYSTEM) -> dict[str, int]:
    """Return to every pool with ``reclaim_days`` the records claimed from it
    whose owner has not followed up for that many days: neither since they
    were claimed nor by the pool's ``follow_up_field`` (``updated_at`` when
    it names none; crm_core's pools count completed activities,
    ``last_activity_at``). Returns the number moved per pool (pools with
    nothing due are left out)."""
    now = as_utc(now) if now is not None else utcnow()
    done: dict[str, int] = {}
    with binding.begin() as conn:
        for pool in load_pools(conn).values():
            obj = model.object(pool.object)
            if pool.reclaim_days is None or obj is None:
                continue
            table = obj.table
            cutoff = now - timedelta(days=pool.reclaim_days)
            due = (
                conn.execute(
                    sa.select(table.c.id)
                    .join(
                        pool_claims,
                        sa.and_(pool_claims.c.object == pool.object, pool_claims.c.record_id == table.c.id),
                    )
                    .where(
                        pool_claims.c.pool == pool.api_name,
                        table.c.owner_id == pool_claims.c.user_id,
                        table.c.deleted_at.is_(None),
                        sa.not_(_followed_up(model, obj, pool, cutoff)),
                    )
                )
                .scalars()
                .all()
            )
            if due:
                reason = f"no follow-up for {pool.reclaim_days} days"
                moved = return_to_pool(conn, model, pool.object, due, reason=reason, actor=actor, pool=pool.api_name)
                if moved:
                    done[pool.api_name] = moved
    return done


def _reclaim_every_tenant(instance: Instance) -> None:
    for tenant in list_tenants(instance):
        if tenant["status"] == "active":
            binding = instance.db.bind(tenant["slug"])
            reclaim_due(binding, model_for(instance, binding), actor=RECLAIM_ACTOR)


JOBS = [JobSpec("access.pools.reclaim", _reclaim_every_tenant, schedule=crontab(minute="41", hour="3"))]


# -- what users do (the /api/v1/pools endpoints) --------------------------------------------------------


def visible_pools(guard: PolicyGuard, binding: TenantBinding, model: CompiledModel) -> list[Pool]:
    """The pools the user works or administers (through roles or teams) whose object is live."""
    with binding.connect() as conn:
        my_teams = set(teams_of(conn, guard.user_id))
    return [
        p
        for _name, p in sorted(guard.policy.pools.items())
        if model.object(p.object) is not None
        and (guard.policy.member_of(guard.roles, p) or my_teams & set(p.member_teams))
    ]


def pool_of(guard: PolicyGuard, binding: TenantBinding, model: CompiledModel, name: str) -> tuple[Pool, CompiledObject]:
    """A pool the user may work, and its object; 404 otherwise (existence does not leak)."""
    for pool in visible_pools(guard, binding, model):
        if pool.api_name == name:
            return pool, model.object(pool.object)
    raise NotFound(f"no pool {name!r}")


def held_count(conn: Connection, obj: CompiledObject, pool: str, user_id: int) -> int:
    """Records the user holds claimed from the pool now (the quota's measure)."""
    table = obj.table
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(pool_claims.join(table, table.c.id == pool_claims.c.record_id))
        .where(
            pool_claims.c.pool == pool,
            pool_claims.c.object == obj.api_name,
            pool_claims.c.user_id == user_id,
            pool_claims.c.how == "claimed",
            table.c.owner_id == user_id,
            table.c.deleted_at.is_(None),
        )
    ).scalar()


def cooling_down(conn: Connection, pool: Pool, user_id: int, *, now=None) -> dict[int, datetime]:
    """The records waiting in ``pool`` that ``user_id`` returned less than
    ``cooldown_days`` ago, each with when they may claim it again (what
    :func:`claim` refuses, for the screens to show beforehand)."""
    if not pool.cooldown_days:
        return {}
    now = as_utc(now) if now is not None else utcnow()
    wait = timedelta(days=pool.cooldown_days)
    rows = conn.execute(
        sa.select(pool_records.c.record_id, pool_records.c.since).where(
            pool_records.c.pool == pool.api_name,
            pool_records.c.returned_by == user_id,
            pool_records.c.since > now - wait,
        )
    ).all()
    return {r.record_id: as_utc(r.since) + wait for r in rows}


def waiting_count(conn: Connection, pool: str) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(pool_records).where(pool_records.c.pool == pool)
    ).scalar()


def _take(conn: Connection, pool: Pool, obj: CompiledObject, ids: list[int]) -> list[int]:
    """Delete the pool rows of ``ids``; 409 naming the ids that are not in the
    pool (already claimed by someone else, or never there)."""
    table = obj.table
    live = sa.select(table.c.id).where(table.c.deleted_at.is_(None))
    taken = set(
        conn.execute(
            pool_records.delete()
            .where(
                pool_records.c.pool == pool.api_name,
                pool_records.c.object == obj.api_name,
                pool_records.c.record_id.in_(ids),
                pool_records.c.record_id.in_(live),
            )
            .returning(pool_records.c.record_id)
        ).scalars()
    )
    missing = [i for i in ids if i not in taken]
    if missing:
        raise Conflict(
            f"not in pool {pool.api_name} (claimed by someone else, or never there): " + ", ".join(map(str, missing)),
            details={"ids": missing},
        )
    return ids


def claim(guard: PolicyGuard, binding: TenantBinding, model: CompiledModel, name: str, body: Any, actor) -> dict:
    pool, obj = pool_of(guard, binding, model, name)
    guard.require("read", obj)
    ids = record_ids(body)
    now = utcnow()
    with binding.begin() as conn:
        _lock_pool(conn, pool.api_name)
        held = held_count(conn, obj, pool.api_name, guard.user_id)
        if held + len(ids) > pool.claim_quota:
            raise Conflict(
                f"you hold {held} record(s) from {pool.label}; its quota is {pool.claim_quota} at once",
                details={"held": held, "claim_quota": pool.claim_quota, "asked": len(ids)},
            )
        if pool.cooldown_days:
            recent = conn.execute(
                sa.select(pool_records.c.record_id, pool_records.c.since).where(
                    pool_records.c.object == obj.api_name,
                    pool_records.c.record_id.in_(ids),
                    pool_records.c.returned_by == guard.user_id,
                    pool_records.c.since > now - timedelta(days=pool.cooldown_days),
                )
            ).all()
            if recent:
                wait = timedelta(days=pool.cooldown_days)
                until = {r.record_id: (as_utc(r.since) + wait).isoformat() for r in recent}
                raise Conflict(
                    f"you returned {', '.join(map(str, sorted(until)))} less than {pool.cooldown_days} days ago",
                    details={"ids": sorted(until), "claimable_after": {str(k): v for k, v in until.items()}},
                )
        _take(conn, pool, obj, ids)
        _set_owner(conn, obj, ids, guard.user_id, actor, now)
        _write_claims(conn, pool, obj, ids, guard.user_id, "claimed", now)
        audit.record_many(
            conn, actor, "pool.claimed", object=obj.api_name, items=[(i, {"pool": pool.api_name}) for i in ids]
        )
    return {"pool": pool.api_name, "claimed": ids, "held": held + len(ids), "claim_quota": pool.claim_quota}


def _write_claims(conn: Connection, pool: Pool, obj: CompiledObject, ids: list[int], user_id: int, how: str, now):
    conn.execute(pool_claims.delete().where(pool_claims.c.object == obj.api_name, pool_claims.c.record_id.in_(ids)))
    conn.execute(
        pool_claims.insert(),
        [
            {"object": obj.api_name, "record_id": i, "pool": pool.api_name, "user_id": user_id, "how": how, "at": now}
            for i in ids
        ],
    )


def return_records(
    guard: PolicyGuard, binding: TenantBinding, model: CompiledModel, name: str, body: Any, actor
) -> dict:
    """A member gives back records in their update scope (their own, or a
    manager's reports'); 404 naming the ids they may not change."""
    pool, obj = pool_of(guard, binding, model, name)
    guard.require("update", obj)
    ids = record_ids(body)
    reason = _reason(body.get("reason"))
    table = obj.table
    scope = guard.scope("update", obj)
    with binding.begin() as conn:
        query = sa.select(table.c.id).where(table.c.id.in_(ids), table.c.deleted_at.is_(None))
        if scope is not None:
            query = query.where(scope)
        mine = set(conn.execute(query).scalars())
        missing = [i for i in ids if i not in mine]
        if missing:
            raise NotFound(
                f"no {obj.api_name} {', '.join(map(str, missing))} that you may change", details={"ids": missing}
            )
        pooled = set(
            conn.execute(
                sa.select(pool_records.c.record_id).where(
                    pool_records.c.object == obj.api_name, pool_records.c.record_id.in_(ids)
                )
            ).scalars()
        )
        if pooled:
            raise Conflict(f"already in a pool: {', '.join(map(str, sorted(pooled)))}", details={"ids": sorted(pooled)})
        moved = return_to_pool(conn, model, obj.api_name, ids, reason=reason, actor=actor, pool=pool.api_name)
    return {"pool": pool.api_name, "returned": ids, "count": moved}


def assign(
    instance: Instance,
    guard: PolicyGuard,
    binding: TenantBinding,
    model: CompiledModel,
    name: str,
    body: Any,
    actor,
) -> dict:
    """A pool admin hands records in the pool to a member of the tenant (no quota)."""
    pool, obj = pool_of(guard, binding, model, name)
    if not guard.policy.administers(guard.roles, pool):
        raise Forbidden(f"only the admins of {pool.label} assign its records", details={"pool": pool.api_name})
    ids = record_ids(body)
    user_id = body.get("user_id")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id not in tenant_members(instance, binding):
        raise ValidationFailed(
            f"user {user_id!r} is no member of this tenant", details={"fields": {"user_id": ["not a member"]}}
        )
    now = utcnow()
    with binding.begin() as conn:
        _lock_pool(conn, pool.api_name)
        _take(conn, pool, obj, ids)
        _set_owner(conn, obj, ids, user_id, actor, now)
        _write_claims(conn, pool, obj, ids, user_id, "assigned", now)
        audit.record_many(
            conn,
            actor,
            "pool.assigned",
            object=obj.api_name,
            items=[(i, {"pool": pool.api_name, "owner_after": user_id}) for i in ids],
        )
    return {"pool": pool.api_name, "assigned": ids, "user_id": user_id}


def pool_json(conn: Connection, guard: PolicyGuard, pool: Pool, obj: CompiledObject) -> dict:
    return {
        **pool.to_json(),
        "records": waiting_count(conn, pool.api_name),
        "held_by_me": held_count(conn, obj, pool.api_name, guard.user_id),
        "i_administer": guard.policy.administers(guard.roles, pool),
    }


def in_pool_clause(obj: CompiledObject, pool: str):
    """For listing one pool through the record store (ANDed with the user's read scope)."""
    return sa.exists().where(
        pool_records.c.object == obj.api_name,
        pool_records.c.record_id == obj.table.c.id,
        pool_records.c.pool == pool,
    )
