"""Per-save overhead of automation rules.

    .venv/bin/python bench/automation_save.py [--quick] [--database-url URL] [--profile]

Two objects with the same ten fields, each created one record at a time
through the record store with the instance's whole save pipeline:

* ``deal`` has five active automation rules — three SET (applied before the
  write), one CREATE (a ``task`` for the deal, written in the same
  transaction through the pipeline again) and one NOTIFY (an in-app
  notification row) — each of which also writes its run-log row;
* ``plain`` (the baseline) has none;
* ``lite`` has the same rules but the CREATE (for information: the CREATE
  is a second record save — insert, audit, reference check, read-back — in
  a savepoint, so it alone costs about one plain save).

Reported: creates/s and p50/p95 of each, and ``with_rules_over_plain_time``
(mean time per save with rules / without; the goal is at most 2). Runs on
PostgreSQL (default) and on SQLite (``--database-url sqlite``).

Saves: full 2000 per object, --quick 300 per object (interleaved).
"""

from __future__ import annotations

import itertools
import sys

import _common as c

from metacrm.metadata.model import metadata_service, record_store
from metacrm.rules.automation import rules_for

BENCH = "automation_save"
RULES = {
    "probability": "WHEN created THEN SET probability = 10",
    "key_deal": "WHEN created IF amount > 1000 THEN SET is_key = TRUE",
    "notes": 'WHEN created OR updated THEN SET notes = "auto: " & name',
    "follow_up": 'WHEN created THEN CREATE task (name = "Call " & name, deal = id)',
    "tell_owner": 'WHEN created THEN NOTIFY owner_id "New deal {{name}} ({{amount}})"',
}


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rounds = 300 if args.quick else 2000
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object("deal")
        env.create_object("plain", c.DEAL_FIELDS, "Plain")
        env.create_object("lite", c.DEAL_FIELDS, "Lite")
        env.create_object(
            "task", [{"api_name": "deal", "label": "Deal", "type": "lookup", "options": {"target": "deal"}}], "Task"
        )
        with metadata_service(env.instance, env.binding, env.actor).change("bench: automations") as tx:
            for order, (name, rule) in enumerate(RULES.items()):
                tx.put_automation("deal", {"api_name": name, "rule": rule, "order": order})
                if name != "follow_up":
                    tx.put_automation("lite", {"api_name": name, "rule": rule, "order": order})
        store = record_store(env.instance, env.binding, c.SystemGuard(), env.actor)
        assert len(rules_for(store.model).for_object("deal")) == len(RULES)
        counter = itertools.count(1_000_000)

        def with_rules():
            store.create("deal", c.deal_record(next(counter)))

        def plain():
            store.create("plain", c.deal_record(next(counter)))

        def lite():
            store.create("lite", c.deal_record(next(counter)))

        c.log(f"timing {rounds} interleaved creates per object ...")
        samples = c.interleaved({"with_rules": with_rules, "plain": plain, "lite": lite}, rounds, warmup=10)
        assert env.count("task") == rounds + 10, env.count("task")
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        per_s = {name: 1000.0 / stats["mean_ms"] for name, stats in s.items()}
        for name, stats in s.items():
            c.log(
                f"{name:10s} p50 {stats['p50_ms']:7.3f} ms  p95 {stats['p95_ms']:7.3f} ms  {per_s[name]:8.1f} saves/s"
            )
        if args.profile:
            c.profile_calls("create with 5 rules", with_rules, 300)
        dialect = env.dialect
    c.emit(
        BENCH,
        {
            "with_rules_saves_per_s": c.rnd(per_s["with_rules"], 1),
            "with_rules_p50_ms": s["with_rules"]["p50_ms"],
            "with_rules_p95_ms": s["with_rules"]["p95_ms"],
            "without_create_p50_ms": s["lite"]["p50_ms"],
        },
        {
            "plain_saves_per_s": c.rnd(per_s["plain"], 1),
            "plain_p50_ms": s["plain"]["p50_ms"],
            "plain_p95_ms": s["plain"]["p95_ms"],
        },
        {
            "with_rules_over_plain_time": c.rnd(s["with_rules"]["mean_ms"] / s["plain"]["mean_ms"], 3),
            "without_create_over_plain_time": c.rnd(s["lite"]["mean_ms"] / s["plain"]["mean_ms"], 3),
        },
        {"with_rules_over_plain_time_max": 2.0},
        mode=c.mode(args),
        reference={"saves_per_object": rounds, "rules": {"set": 3, "create": 1, "notify": 1}, "database": dialect},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
