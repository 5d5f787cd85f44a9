"""The nightly purge keeps the run log and the outbox to a size, and never
drops mail that has not reached anyone."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from metacrm.platform.clock import utcnow
from metacrm.platform.jobs import job_queue
from metacrm.rules.automation.retention import purge_automation_log
from metacrm.rules.automation.tables import automation_outbox, automation_runs


def _age(crm, table, column, days: int) -> None:
    with crm.binding.begin() as conn:
        conn.execute(table.update().values({column: utcnow() - timedelta(days=days)}))


def test_old_runs_and_finished_mail_go_pending_and_undelivered_mail_stays(crm):
    crm.rule("note", 'WHEN created THEN SET note = "seen"')
    crm.rule("mail", 'WHEN created THEN EMAIL contact_email SUBJECT "Hi" BODY "Hello {{name}}"')
    for name in ("a", "b", "c"):
        crm.store().create("deal", {"name": name, "contact_email": f"{name}@example.com"})
    old_runs = len(crm.runs())  # two rules on three deals, and the mail's delivery attempts
    assert old_runs >= 6
    _age(crm, automation_runs, "at", 40)
    _age(crm, automation_outbox, "created_at", 40)
    with crm.binding.begin() as conn:
        ids = list(conn.execute(sa.select(automation_outbox.c.id).order_by(automation_outbox.c.id)).scalars())
        for row_id, status in zip(ids, ("delivered", "failed", "pending"), strict=True):
            conn.execute(automation_outbox.update().where(automation_outbox.c.id == row_id).values(status=status))
    crm.store().create("deal", {"name": "fresh", "contact_email": "f@example.com"})  # runs and mail of today
    assert purge_automation_log(crm.binding, 30) == {"runs": old_runs, "outbox": 2}
    assert {r["record_id"] for r in crm.runs()} == {4}
    assert [r["status"] for r in crm.outbox()] == ["pending", "undelivered"]
    assert purge_automation_log(crm.binding, 30) == {"runs": 0, "outbox": 0}


def test_the_nightly_job_purges_every_tenant(crm):
    crm.rule("note", 'WHEN created THEN SET note = "seen"')
    crm.store().create("deal", {"name": "old"})
    _age(crm, automation_runs, "at", 31)
    job_queue(crm.instance).run_now("automation.purge_log")
    assert crm.runs() == []
