"""List page for a user whose read scope is team + subordinates, against hand-written SQL.

    .venv/bin/python bench/access_list.py [--quick] [--database-url URL|sqlite] [--profile]

A sales organisation (bench/_access.py): 120 members; ``boss`` holds
sales_manager (read scope ``subordinates``: the records of the 10 sales reps)
and service_agent (``team``: the records of team north, boss + 4 agents);
20 deals are shared with the boss and 20 with team north. The ``deal`` rows
are spread evenly over all members, so about 12.5 % are in the boss's scope.
One call is the first page of 50 sorted by ``amount`` (indexed) plus the total:

* ``store``: ``RecordStore.query("deal", sort="amount", limit=50,
  count=True)`` with the boss's real PolicyGuard (built once with
  ``PolicyGuard.for_identity``, as a request does): the scope is the OR of
  the ``team`` and ``subordinates`` clauses and the share EXISTS,
* ``api`` (for reference): ``GET /api/v1/data/deal?sort=amount&limit=50&count=true``
  as the boss (test client, bearer token; builds the guard per request),
* ``raw_sql`` (the baseline): the same rule written by hand as one SQL text
  (``owner_id IN (me UNION my team mates UNION holders of sales_rep) OR
  EXISTS (a share to me or my team)``, ``ORDER BY amount, id LIMIT 51``, and the
  same ``count(*)``) on one connection.

The three are checked to return the same ids and total. Goal: store ≤ 1.3x
raw_sql (p50).

Sizes: full 1M rows, 20 rounds; --quick 200k rows, 10 rounds; --smoke (tests only) 5k rows, 2 rounds.
"""

from __future__ import annotations

import sys

import _access
import _common as c
import sqlalchemy as sa

from metacrm.access.guard import PolicyGuard
from metacrm.metadata.physical import table_name
from metacrm.metadata.store import RecordStore
from metacrm.platform import identity as identities

BENCH = "access_list"
OBJECT = "deal"
SELECTED = (
    "id, owner_id, created_at, created_by, updated_at, updated_by, version, deleted_at, "
    "name, industry, amount, stage, probability, quantity, close_date, contact_email, is_key, notes"
)


def handwritten_sql(env: c.BenchEnv, below: list[str]) -> tuple[sa.TextClause, sa.TextClause]:
    """The boss's scope as an engineer writes it, page and count."""

    def t(name: str) -> str:
        return f'"{env.schema}"."{name}"' if env.schema else f'"{name}"'

    roles = ", ".join(f"'{r}'" for r in below)  # role api names: validated identifiers
    scope = f"""d.deleted_at IS NULL AND (
        d.owner_id IN (
            SELECT :me
            UNION SELECT mate.user_id FROM {t("team_members")} mate
                JOIN {t("team_members")} mine ON mine.team = mate.team AND mine.user_id = :me
            UNION SELECT ur.user_id FROM {t("user_roles")} ur WHERE ur.role IN ({roles}))
        OR EXISTS (
            SELECT 1 FROM {t("record_shares")} s
            WHERE s.object = 'deal' AND s.record_id = d.id AND s.access IN ('read', 'edit')
              AND s.at >= d.created_at
              AND (s.user_id = :me OR s.team IN (SELECT team FROM {t("team_members")} WHERE user_id = :me))))"""
    table = t(table_name(OBJECT))
    page = sa.text(f"SELECT {SELECTED} FROM {table} d WHERE {scope} ORDER BY d.amount, d.id LIMIT 51")
    count = sa.text(f"SELECT count(*) FROM {table} d WHERE {scope}")
    return page, count


def plans(env: c.BenchEnv, statements: list[tuple[str, object]]) -> str:
    prefix = "EXPLAIN QUERY PLAN" if env.sqlite else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)"
    out = []
    with env.engine.connect() as conn:
        if env.schema:
            conn.exec_driver_sql(f'SET search_path TO "{env.schema}"')
        for statement, parameters in statements:
            rows = conn.exec_driver_sql(f"{prefix} {statement}", parameters).all()
            out.append(" ".join(statement.split())[:300] + " …\n" + "\n".join(" ".join(map(str, r)) for r in rows))
    return "\n\n".join(out)


def captured_selects(env: c.BenchEnv, call) -> list[tuple[str, object]]:
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    sa.event.listen(env.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(env.engine, "before_cursor_execute", capture)
    return captured


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rows, rounds = (5_000, 2) if args.smoke else (200_000, 10) if args.quick else (1_000_000, 20)
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        org = _access.build_org(env, **(c.SMOKE_ORG if args.smoke else {}))
        env.load_series(OBJECT, rows, owner_sql=org.owner_sql())
        shared = [k * 997 for k in range(1, 21)] + [k * 1009 + 5 for k in range(1, 21)]
        org.share(OBJECT, shared[:20], shared[20:])
        env.analyze(OBJECT)
        model = env.model()
        boss = identities.identity_for(env.instance, org.boss, env.tenant_slug)
        guard = PolicyGuard.for_identity(env.instance, env.binding, boss, model)
        obj = model.object(OBJECT)
        assert guard.scopes("read", obj) == {"team", "subordinates"}, guard.scopes("read", obj)
        below = sorted(guard.policy.below(guard.roles))
        store = RecordStore(env.binding, model, guard, boss.as_actor("127.0.0.1", None), env.registry)
        raw_page, raw_count = handwritten_sql(env, below)
        headers = org.token_headers("boss")
        url = f"/api/v1/data/{OBJECT}?sort=amount&limit=50&count=true"

        def via_store():
            return store.query(OBJECT, sort="amount", limit=50, count=True)

        def via_api():
            response = env.client.get(url, headers=headers)
            assert response.status_code == 200, response.data[:300]
            return response.json

        def raw():
            with env.engine.connect() as conn:
                page = conn.execute(raw_page, {"me": org.boss}).mappings().all()
                total = conn.execute(raw_count, {"me": org.boss}).scalar_one()
            return page, total

        store_page, api_page = via_store(), via_api()
        raw_rows, raw_total = raw()
        raw_ids = [r["id"] for r in raw_rows[:50]]
        assert [r["id"] for r in store_page.data] == raw_ids, "store and raw ids differ"
        assert [r["id"] for r in api_page["data"]] == raw_ids, "API and raw ids differ"
        assert store_page.total == raw_total == api_page["total"], (store_page.total, raw_total, api_page["total"])
        visible = org.visible_owners()
        assert all(r["owner_id"] in visible or r["id"] in shared for r in raw_rows[:50])
        c.log(f"same 50 ids on every path; {raw_total:,} of {rows:,} rows in the boss's scope ({raw_total / rows:.1%})")
        c.log("plans of the store's page and count:\n" + plans(env, captured_selects(env, via_store)[-2:]))
        c.log("plans of the hand-written page and count:\n" + plans(env, captured_selects(env, raw)))

        c.log(f"timing {rounds} interleaved rounds ...")
        samples = c.interleaved({"store": via_store, "api": via_api, "raw_sql": raw}, rounds, warmup=2)
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        for name, stats in s.items():
            c.log(f"  {name:8s} p50 {stats['p50_ms']:9.3f} ms  p95 {stats['p95_ms']:9.3f} ms")
        if args.profile:
            c.profile_calls("store.query as boss", via_store, 20)
    ratio = s["store"]["p50_ms"] / s["raw_sql"]["p50_ms"]
    c.emit(
        BENCH,
        {
            "store_p50_ms": s["store"]["p50_ms"],
            "store_p95_ms": s["store"]["p95_ms"],
            "api_p50_ms": s["api"]["p50_ms"],
            "rows": rows,
            "rows_in_scope": raw_total,
        },
        {"raw_sql_p50_ms": s["raw_sql"]["p50_ms"], "raw_sql_p95_ms": s["raw_sql"]["p95_ms"]},
        {
            "store_over_raw_p50_lower_is_better": c.rnd(ratio, 3),
            "api_over_raw_p50_lower_is_better": c.rnd(s["api"]["p50_ms"] / s["raw_sql"]["p50_ms"], 3),
        },
        {"store_over_raw_p50_max": 1.3},
        mode=c.mode(args),
        database=env.dialect,
        reference={
            "rows": rows,
            "rounds": rounds,
            "members": len(org.ids),
            "scope": "team + subordinates + shares",
            "sort": "amount",
            "page": 50,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
