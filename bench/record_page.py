"""Record page: an account with a 200-entry timeline, HTML vs the JSON reads it makes.

    .venv/bin/python bench/record_page.py [--quick] [--database-url URL|sqlite] [--profile]

The crm_core package is installed; one account has 3 contacts, 2
opportunities and a case, and its timeline (activities on the account and
its related records, field changes in the audit log, e-mails in the outbox)
holds 200 entries among many other accounts' rows. As the admin (bearer
token, Flask test client):

* ``html``: ``GET /o/account/<id>``: the whole record page (layout sections,
  stage path, five related lists with their counts, the first 25 timeline
  entries rolled up from the related records, actions), rendered;
* ``json_reads`` (the baseline): the JSON API calls that read the same data:
  the record (``GET /api/v1/data/account/<id>``), each related list
  (``…/related/<object>.<field>?limit=5&count=true``), the related records
  the timeline rolls up (``GET /api/v1/data/<object>?account=<id>&fields=<name>&limit=200``
  per related object) and the newest activities (``GET
  /api/v1/data/activity?account=<id>&sort=-created_at&limit=25``), one after
  the other.

Goal: html p50 < 2x json_reads p50. Sizes: full 2,000 other accounts and 60
rounds; --quick 300 and 30 rounds; --smoke (tests only) 20 and 3 rounds.
"""

from __future__ import annotations

import sys

import _common as c
import sqlalchemy as sa

from metacrm.platform.clock import utcnow
from metacrm.plugins.packages import apply_package, load_package
from metacrm.plugins.timeline import timeline
from metacrm.rules.automation.tables import automation_outbox

BENCH = "record_page"
ENTRIES = 200
RELATED = ("contact.account", "opportunity.account", "case.account", "activity.account", "account.parent_account")
# The related objects whose records roll up, and the name field the timeline reads of them.
ROLLED_UP = {"contact": "full_name", "opportunity": "name", "case": "case_number"}


def crm_core_dir():
    from metacrm_crm_core.plugin import PACKAGE_DIR  # the bundled plugin, installed with the project

    return PACKAGE_DIR


def seed(env: c.BenchEnv, others: int) -> int:
    """The measured account and its 200 timeline entries, among ``others`` accounts with an activity each."""
    apply_package(env.instance, env.binding, load_package(crm_core_dir()), env.actor)
    store = env.store()
    store.bulk_create("account", [{"name": f"Other {i}"} for i in range(others)], read_back=False)
    other_ids = [r["id"] for r in store.query("account", fields=[], limit=200).data]
    store.bulk_create(
        "activity",
        [{"subject": f"Other call {i}", "account": other_ids[i % len(other_ids)]} for i in range(others)],
        read_back=False,
    )
    account = store.create("account", {"name": "Great Wall Trading", "phone": "021-5550100"})
    contacts = [
        store.create("contact", {"full_name": f"Contact {i}", "last_name": f"C{i}", "account": account["id"]})
        for i in range(3)
    ]
    opportunities = [
        store.create(
            "opportunity",
            {"name": f"Deal {i}", "account": account["id"], "stage": "prospecting", "close_date": "2031-01-01"},
        )
        for i in range(2)
    ]
    case = store.create("case", {"subject": "Broken tea pot", "account": account["id"]})
    made = 3 + 2 + 1 + 1  # the creations are changes in the timeline too
    updates = 40
    for i in range(updates):
        store.update("account", account["id"], {"phone": f"021-555{i:04}"})
    emails = 20
    with env.binding.begin() as conn:
        conn.execute(
            sa.insert(automation_outbox),
            [
                {
                    "kind": "email",
                    "rule": "bench",
                    "object": "contact",
                    "record_id": contacts[i % 3]["id"],
                    "payload": {"to": "buyer@example.com", "subject": f"Mail {i}", "body": "…"},
                    "status": "undelivered",
                    "created_at": utcnow(),
                }
                for i in range(emails)
            ],
        )
    links = [("account", account["id"])] + [("contact", x["id"]) for x in contacts]
    links += [("opportunity", x["id"]) for x in opportunities] + [("related_case", case["id"])]
    activities = ENTRIES - made - updates - emails
    store.bulk_create(
        "activity",
        [
            {"subject": f"Call {i}", "activity_type": "call", links[i % len(links)][0]: links[i % len(links)][1]}
            for i in range(activities)
        ],
        read_back=False,
    )
    return account["id"]


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    others, rounds = (20, 3) if args.smoke else (300, 30) if args.quick else (2000, 60)
    with c.BenchEnv(args.database_url) as env:
        account_id = seed(env, others)
        store = env.store()
        # Every one of the 200 entries is in the stream (first page 25, the rest behind "Older").
        total, before = 0, None
        while True:
            page = timeline(store, "account", account_id, before=before, limit=100)
            total += len(page.entries)
            before = page.next_before
            if not before:
                break
        assert total == ENTRIES, f"the timeline holds {total} entries, not {ENTRIES}"

        def html():
            response = env.client.get(f"/o/account/{account_id}", headers=env.headers)
            assert response.status_code == 200, response.data[:300]
            assert response.data.count(b'class="timeline-entry') == 25
            return response

        def json_reads():
            calls = [f"/api/v1/data/account/{account_id}"]
            calls += [f"/api/v1/data/account/{account_id}/related/{r}?limit=5&count=true" for r in RELATED]
            calls += [
                f"/api/v1/data/{name}?account={account_id}&fields={field}&sort=-updated_at&limit=200"
                for name, field in ROLLED_UP.items()
            ]
            calls += [f"/api/v1/data/activity?account={account_id}&sort=-created_at&limit=25"]
            for url in calls:
                response = env.client.get(url, headers=env.headers)
                assert response.status_code == 200, (url, response.data[:300])

        html()
        json_reads()
        c.log(f"timing {rounds} interleaved rounds ...")
        samples = c.interleaved({"html": html, "json_reads": json_reads}, rounds, warmup=3)
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        for name, stats in s.items():
            c.log(f"{name:12s} p50 {stats['p50_ms']:8.3f} ms  p95 {stats['p95_ms']:8.3f} ms")
        if args.profile:
            c.profile_calls("GET record page (html)", html, 30)
    metrics = {"html": {k: s["html"][k] for k in ("p50_ms", "p95_ms")}}
    baseline = {"json_reads": {k: s["json_reads"][k] for k in ("p50_ms", "p95_ms")}}
    ratio = {"html_over_json_reads_p50_lower_is_better": c.rnd(s["html"]["p50_ms"] / s["json_reads"]["p50_ms"], 2)}
    c.emit(
        BENCH,
        metrics,
        baseline,
        ratio,
        {"html_over_json_reads_p50_max": 2.0},
        mode=c.mode(args),
        database="sqlite" if env.sqlite else "postgresql",
        reference={"timeline_entries": ENTRIES, "other_accounts": others, "rounds": rounds},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
