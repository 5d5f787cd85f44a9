"""Planner statistics kept fresh: after a bulk load of
``ddl.ANALYZE_AFTER_ROWS`` rows or more (the record store queues
``ddl.fresh_statistics`` after the commit), and every night
for every object table of every active tenant (the ``statistics.refresh``
job). Without them SQLite's planner has no row counts at all and
PostgreSQL's lags behind a table that just grew."""

from __future__ import annotations

import logging

from metacrm.metadata.ddl import fresh_statistics
from metacrm.metadata.model import model_for
from metacrm.platform.jobs import JobSpec, crontab
from metacrm.platform.tenancy import list_tenants

log = logging.getLogger("metacrm.statistics")


def refresh_every_tenant(instance) -> None:
    for tenant in list_tenants(instance):
        if tenant["status"] != "active":
            continue
        binding = instance.db.bind(tenant["slug"])
        try:
            fresh_statistics(binding, list(model_for(instance, binding).objects))
        except Exception:  # one tenant's failure must not stop the others'
            log.exception("statistics of tenant %s", tenant["slug"])


JOBS = [JobSpec("statistics.refresh", refresh_every_tenant, schedule=crontab(minute="41", hour="3"))]
