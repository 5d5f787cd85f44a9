"""Keeping what automations leave behind to a size.

Every run of a rule writes a run-log row (``skipped`` ones too), and every
e-mail or webhook an outbox row. Nightly, for every tenant, rows older than
``AUTOMATION_LOG_DAYS`` (30 by default) are deleted: run-log rows, and
outbox rows that are done with (``delivered`` or ``failed``). Pending and
``undelivered`` mail is kept whatever its age — it has not reached anyone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from metacrm.platform.clock import utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.jobs import JobSpec, crontab
from metacrm.platform.tenancy import list_tenants
from metacrm.rules.automation.tables import automation_outbox, automation_runs

log = logging.getLogger(__name__)
DONE = ("delivered", "failed")


def purge_automation_log(binding: TenantBinding, days: int, *, now: datetime | None = None) -> dict[str, int]:
    """Delete the tenant's run-log and finished outbox rows older than ``days``."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    with binding.begin() as conn:
        runs = conn.execute(automation_runs.delete().where(automation_runs.c.at < cutoff)).rowcount
        outbox = conn.execute(
            automation_outbox.delete().where(
                automation_outbox.c.status.in_(DONE), automation_outbox.c.created_at < cutoff
            )
        ).rowcount
    return {"runs": runs, "outbox": outbox}


def _every_tenant(instance) -> None:
    days = int(instance.config["AUTOMATION_LOG_DAYS"])
    for tenant in list_tenants(instance):
        try:
            purge_automation_log(instance.db.bind(tenant["slug"]), days)
        except Exception:  # noqa: BLE001 - one tenant must not stop the others
            log.exception("purging the automation log of tenant %s failed", tenant["slug"])


JOBS = [JobSpec("automation.purge_log", _every_tenant, schedule=crontab(minute="47", hour="3"))]
