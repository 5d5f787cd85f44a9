"""Per-request cost of the access layer: GET one record with the real guard and without.

    .venv/bin/python bench/access_overhead.py [--quick] [--database-url URL|sqlite] [--profile]

The sales organisation of bench/_access.py and 100k ``deal`` rows spread over
its members. The user is ``boss`` (read scope team + subordinates, plus
shares); the record read is in scope (owned by a sales rep). Two measurements:

1. ``GET /api/v1/data/deal/<id>`` through the Flask test client (bearer
   token): ``api_policy`` with the real PolicyGuard, against ``api_system``,
   the same request with ``metacrm.plugins.context.guard`` patched to return
   a SystemGuard (no policy lookup, no roles query, no scope clause). The
   difference of the medians is the access layer's cost per request.
2. The guard's own work, as a request does it: ``PolicyGuard.for_identity``
   (the compiled policy, a cache hit at the model's revision, and the roles
   the user holds now: one query) + ``require("read")`` + ``scope("read")`` +
   ``readable_fields``, against ``select_by_id``, the baseline: the record's
   ``SELECT … WHERE id = :id`` in hand-written Core on a pooled connection.

Both record reads are checked to return the same record. No goal was set:
the ratio and the absolute overhead in microseconds are reported.

Rounds: full 2000, --quick 300, --smoke (tests only: 2k rows) 10; interleaved.
"""

from __future__ import annotations

import sys

import _access
import _common as c
import sqlalchemy as sa

from metacrm.access.guard import PolicyGuard, SystemGuard
from metacrm.platform import identity as identities
from metacrm.plugins import context

BENCH = "access_overhead"
OBJECT = "deal"
ROWS = 100_000


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rounds = 10 if args.smoke else 300 if args.quick else 2000
    rows = 2_000 if args.smoke else ROWS
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        org = _access.build_org(env, **(c.SMOKE_ORG if args.smoke else {}))
        env.load_series(OBJECT, rows, owner_sql=org.owner_sql())
        model = env.model()
        obj = model.object(OBJECT)
        boss = identities.identity_for(env.instance, org.boss, env.tenant_slug)
        headers = org.token_headers("boss")
        table = env.core_table(OBJECT)
        with env.engine.connect() as conn:
            record_id = conn.execute(
                sa.select(table.c.id).where(table.c.owner_id == org.ids["rep1"]).order_by(table.c.id).limit(1)
            ).scalar_one()
        url = f"/api/v1/data/{OBJECT}/{record_id}"
        real_guard = context.guard

        def api_policy():
            response = env.client.get(url, headers=headers)
            assert response.status_code == 200, response.data[:300]
            return response.json

        def api_system():
            context.guard = SystemGuard
            try:
                response = env.client.get(url, headers=headers)
            finally:
                context.guard = real_guard
            assert response.status_code == 200, response.data[:300]
            return response.json

        def guard_work():
            guard = PolicyGuard.for_identity(env.instance, env.binding, boss, model)
            guard.require("read", obj)
            guard.readable_fields(obj)
            return guard.scope("read", obj)

        by_id = sa.select(table).where(table.c.id == record_id)

        def select_by_id():
            with env.engine.connect() as conn:
                return conn.execute(by_id).mappings().one()

        assert api_policy() == api_system(), "the two GETs return different records"
        assert api_policy()["id"] == select_by_id()["id"] == record_id
        assert guard_work() is not None  # a real scope clause, not "all"
        # The guard really filters: a record of another team is a 404 for the boss.
        with env.engine.connect() as conn:
            hidden = conn.execute(
                sa.select(table.c.id).where(table.c.owner_id == org.ids["south1"]).limit(1)
            ).scalar_one()
        assert env.client.get(f"/api/v1/data/{OBJECT}/{hidden}", headers=headers).status_code == 404

        c.log(f"timing {rounds} interleaved rounds ...")
        samples = c.interleaved(
            {
                "api_policy": api_policy,
                "api_system": api_system,
                "guard_work": guard_work,
                "select_by_id": select_by_id,
            },
            rounds,
            warmup=20,
        )
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        for name, stats in s.items():
            c.log(f"  {name:13s} p50 {stats['p50_ms']:8.3f} ms  p95 {stats['p95_ms']:8.3f} ms")
        if args.profile:
            c.profile_calls("GET one record, real guard", api_policy, 300)
            c.profile_calls("guard work", guard_work, 500)
    overhead_us = (s["api_policy"]["p50_ms"] - s["api_system"]["p50_ms"]) * 1000
    c.emit(
        BENCH,
        {
            "api_policy_p50_ms": s["api_policy"]["p50_ms"],
            "api_policy_p95_ms": s["api_policy"]["p95_ms"],
            "access_overhead_per_request_us": round(overhead_us),
            "guard_work_p50_ms": s["guard_work"]["p50_ms"],
            "guard_work_p95_ms": s["guard_work"]["p95_ms"],
        },
        {
            "api_system_guard_p50_ms": s["api_system"]["p50_ms"],
            "select_by_id_p50_ms": s["select_by_id"]["p50_ms"],
        },
        {
            "api_policy_over_system_guard_p50_lower_is_better": c.rnd(
                s["api_policy"]["p50_ms"] / s["api_system"]["p50_ms"], 3
            ),
            "guard_work_over_select_by_id_p50_lower_is_better": c.rnd(
                s["guard_work"]["p50_ms"] / s["select_by_id"]["p50_ms"], 3
            ),
        },
        {"none_set": "report the ratio and the per-request overhead"},
        mode=c.mode(args),
        database=env.dialect,
        reference={"rows": rows, "rounds": rounds, "members": len(org.ids), "scope": "team + subordinates + shares"},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
