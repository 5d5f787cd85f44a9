"""Loading a tenant's compiled access policy (Casbin enforcer) with 1,000 policies.

    .venv/bin/python bench/enforcer_load.py [--quick] [--database-url URL|sqlite] [--profile]

The tenant gets 50 objects and 20 roles of its own (role NN reports to role
NN-1), and every role an entry for every object (20 x 50 = 1,000 policies,
each a row per action: 6,000 ``casbin_rule`` rows, plus the standard roles'
``*`` rows; one field permission per entry), written through
``AccessChanges`` in one change — the way the permission matrix saves them.

* ``load``: ``metacrm.access.policy.load_policy`` on an open connection:
  read every policy table, build the Casbin enforcer (pycasbin model,
  TenantPolicyAdapter), roles, inheritance and the entry, field and
  org-wide maps — what a worker does once per tenant and metadata revision;
* ``policy_for_miss`` (for reference): ``policy_for`` after dropping the
  cached policy (adds a connection checkout and the head-revision read);
* ``raw_rows`` (the baseline): the same rows (``casbin_rule``, ``roles``,
  ``field_permissions``, ``object_settings``) read with hand-written SQL on
  an open connection, fetched as tuples;
* the cached hit: ``policy_for(instance, binding, revision)`` (what a request
  does: the model's revision is known, no query) and ``policy_for(instance,
  binding)`` (the revision is read first), and ``PolicyGuard.for_identity``.

No goal was set: the load/raw ratio and the hit costs are reported.
Rounds: full 30 loads and 3000 hits; --quick 5 loads and 500 hits; --smoke (tests
only) 4 roles x 5 objects, 2 loads and 10 hits.
"""

from __future__ import annotations

import sys
import time

import _common as c
import sqlalchemy as sa

from metacrm.access.changes import AccessChanges
from metacrm.access.guard import PolicyGuard
from metacrm.access.policy import POLICIES, load_policy, policy_for
from metacrm.access.tables import casbin_rule, field_permissions, object_settings, roles
from metacrm.metadata.changes import current_revision

BENCH = "enforcer_load"
OBJECTS = 50
ROLES = 20
SCOPES = ("own", "team", "subordinates", "all")


def setup_policies(env: c.BenchEnv, objects: int, roles_count: int) -> None:
    with env.metadata().change(f"bench: {objects} objects") as tx:
        for k in range(objects):
            tx.create_object(
                {"api_name": f"obj{k:02d}", "label": f"Object {k}"},
                [
                    {"api_name": "name", "label": "Name", "type": "text"},
                    {"api_name": "note", "label": "Note", "type": "text"},
                ],
            )
    changes = AccessChanges(env.instance, env.binding, env.actor)
    with changes.change(f"bench: {roles_count} roles x {objects} objects") as change:
        for r in range(roles_count):
            change.create_role(
                {
                    "api_name": f"role{r:02d}",
                    "label": f"Role {r}",
                    "parent_role": f"role{r - 1:02d}" if r else None,
                }
            )
        for r in range(roles_count):
            for k in range(objects):
                read = SCOPES[(r + k) % len(SCOPES)]
                change.put_object_access(
                    f"role{r:02d}",
                    f"obj{k:02d}",
                    {
                        "create": True,
                        "read": read,
                        "update": "own",
                        "delete": "none",
                        "export": k % 2 == 0,
                        "import": False,
                        "fields": {"note": "read" if (r + k) % 3 else "hidden"},
                    },
                )


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    loads, hits = (5, 500) if args.quick else (30, 3000)
    objects, roles_count = (OBJECTS, ROLES)
    if args.smoke:
        loads, hits, objects, roles_count = 2, 10, 5, 4
    with c.BenchEnv(args.database_url) as env:
        c.log(f"writing {roles_count} roles x {objects} objects through AccessChanges ...")
        t0 = time.perf_counter()
        setup_policies(env, objects, roles_count)
        write_s = time.perf_counter() - t0
        c.log(f"  written in {write_s:.1f} s")
        binding, slug = env.binding, env.binding.slug
        with binding.connect() as conn:
            revision = current_revision(conn)
            rule_rows = conn.execute(sa.select(sa.func.count()).select_from(casbin_rule)).scalar_one()
            entries = conn.execute(
                sa.select(sa.func.count(sa.distinct(casbin_rule.c.v0 + ":" + casbin_rule.c.v2))).where(
                    casbin_rule.c.ptype == "p", casbin_rule.c.v0.like("role%")
                )
            ).scalar_one()
        assert entries == roles_count * objects, entries
        c.log(f"  {entries} policies (role x object), {rule_rows} casbin_rule rows, revision {revision}")

        def load():
            with binding.connect() as conn:
                return load_policy(conn, slug, revision)

        rule_query = sa.select(
            casbin_rule.c.ptype, casbin_rule.c.v0, casbin_rule.c.v1, casbin_rule.c.v2, casbin_rule.c.v3,
            casbin_rule.c.v4, casbin_rule.c.v5,
        ).order_by(casbin_rule.c.id)  # fmt: skip

        def raw_rows():
            with binding.connect() as conn:
                return (
                    conn.execute(rule_query).all(),
                    conn.execute(sa.select(roles).order_by(roles.c.api_name)).all(),
                    conn.execute(sa.select(field_permissions)).all(),
                    conn.execute(sa.select(object_settings)).all(),
                )

        cache = env.instance.caches.per_tenant(POLICIES)

        def policy_for_miss():
            cache.pop(slug, None)
            return policy_for(env.instance, binding)

        policy = load()
        rules, role_rows, field_rows, _settings = raw_rows()
        assert len(rules) == rule_rows and len(role_rows) == len(policy.roles)
        assert len(field_rows) == sum(len(v) for v in policy.fields.values())
        assert policy.scopes(frozenset({"role01"}), "obj03", "read") == {SCOPES[(1 + 3) % len(SCOPES)]}
        assert f"role{roles_count - 1:02d}" in policy.below(frozenset({"role00"}))

        c.log(f"timing {loads} interleaved loads ...")
        load_samples = c.interleaved(
            {"load": load, "policy_for_miss": policy_for_miss, "raw_rows": raw_rows}, loads, warmup=1
        )
        cached = policy_for(env.instance, binding)
        model = env.model()
        assert policy_for(env.instance, binding, revision) is cached

        def hit_at_revision():
            return policy_for(env.instance, binding, revision)

        def hit_checked():
            return policy_for(env.instance, binding)

        def guard_for_identity():
            return PolicyGuard.for_identity(env.instance, binding, env.identity, model)

        def select_1():
            with binding.connect() as conn:
                return conn.execute(sa.text("SELECT 1")).scalar_one()

        c.log(f"timing {hits} interleaved cache hits ...")
        hit_samples = c.interleaved(
            {
                "hit_at_revision": hit_at_revision,
                "hit_checked": hit_checked,
                "guard_for_identity": guard_for_identity,
                "select_1": select_1,
            },
            hits,
            warmup=20,
        )
        s = {name: c.summary_ms(v) for name, v in {**load_samples, **hit_samples}.items()}
        for name, stats in s.items():
            c.log(f"  {name:18s} p50 {stats['p50_ms']:9.3f} ms  p95 {stats['p95_ms']:9.3f} ms")
        if args.profile:
            c.profile_calls("load_policy, 1000 policies", load, 3)
    hit_us = c.percentile(hit_samples["hit_at_revision"], 50) * 1e6
    c.emit(
        BENCH,
        {
            "load_p50_ms": s["load"]["p50_ms"],
            "load_max_ms": c.rnd(max(load_samples["load"]) * 1000),
            "policy_for_miss_p50_ms": s["policy_for_miss"]["p50_ms"],
            "cached_hit_at_revision_p50_us": c.rnd(hit_us, 2),
            "cached_hit_checked_p50_ms": s["hit_checked"]["p50_ms"],
            "guard_for_identity_p50_ms": s["guard_for_identity"]["p50_ms"],
            "write_all_policies_in_one_change_s": c.rnd(write_s, 1),
        },
        {"raw_rows_p50_ms": s["raw_rows"]["p50_ms"], "select_1_p50_ms": s["select_1"]["p50_ms"]},
        {
            "load_over_raw_rows_p50_lower_is_better": c.rnd(s["load"]["p50_ms"] / s["raw_rows"]["p50_ms"], 2),
            "hit_checked_over_select_1_p50_lower_is_better": c.rnd(
                s["hit_checked"]["p50_ms"] / s["select_1"]["p50_ms"], 2
            ),
        },
        {"none_set": "report the load/raw ratio and the cached-hit cost"},
        mode=c.mode(args),
        database=env.dialect,
        reference={
            "policies": entries,
            "casbin_rule_rows": rule_rows,
            "roles": len(policy.roles),
            "objects": objects,
            "loads": loads,
            "hits": hits,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
