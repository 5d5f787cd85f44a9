"""A small CRM to run automation rules against, on every backend.

One instance and tenant per backend and test module (creating a tenant
costs seconds on PostgreSQL), reset between tests: rules, records, run
log, outbox, notifications, teams and pool rows are removed. Tenant
``acme`` has objects ``account`` (name, rating), ``deal`` (name,
status picklist, amount, probability, sold_on, close_date, due_at, note,
contact_email, account lookup) and ``task`` (subject, deal lookup). Jobs
run inline (``JOBS_IMMEDIATE``). :class:`Crm` defines rules and saves
records the way the platform does (store with the instance's pipeline).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metacrm.access.guard import SystemGuard
from metacrm.access.tables import pool_records, team_members, teams
from metacrm.app import build_instance
from metacrm.metadata.model import metadata_service, record_store
from metacrm.platform import audit, tenancy
from metacrm.rules.automation.tables import (
    automation_outbox,
    automation_rotation,
    automation_runs,
    automation_schedule,
    automation_secrets,
    notifications,
)
from tests.conftest import BACKENDS, drop_namespaces, make_config

ACTOR = audit.Actor(user_id=7, email="ann@acme.test")

STATUS = [{"value": v, "label": v.title()} for v in ("open", "sold", "won", "lost")]
DEAL_FIELDS = [
    {"api_name": "status", "label": "Status", "type": "picklist", "options": {"values": STATUS}},
    {"api_name": "amount", "label": "Amount", "type": "decimal", "options": {"precision": 12, "scale": 2}},
    {"api_name": "probability", "label": "Probability", "type": "integer"},
    {"api_name": "sold_on", "label": "Sold on", "type": "date"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "due_at", "label": "Due at", "type": "datetime"},
    {"api_name": "note", "label": "Note", "type": "text"},
    {"api_name": "contact_email", "label": "Contact e-mail", "type": "email"},
    {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}},
]


@pytest.fixture
def config(tmp_path, backend) -> dict:
    return make_config(tmp_path, backend, JOBS_IMMEDIATE=True)


class Crm:
    def __init__(self, instance):
        self.instance = instance
        tenancy.create_tenant(instance, "acme", "Acme")
        self.binding = instance.db.bind("acme")
        with self.service().change("objects") as tx:
            tx.create_object(
                {"api_name": "account", "label": "Account"},
                [{"api_name": "rating", "label": "Rating", "type": "integer"}],
            )
            tx.create_object({"api_name": "deal", "label": "Deal"}, DEAL_FIELDS)
            tx.create_object(
                {"api_name": "task", "label": "Task"},
                [
                    {"api_name": "subject", "label": "Subject", "type": "text"},
                    {"api_name": "deal", "label": "Deal", "type": "lookup", "options": {"target": "deal"}},
                ],
            )

    def service(self):
        return metadata_service(self.instance, self.binding, ACTOR)

    def store(self):
        return record_store(self.instance, self.binding, SystemGuard(), ACTOR)

    def rule(self, api_name: str, text: str, object_name: str = "deal", **document):
        with self.service().change(f"automation {api_name}") as tx:
            tx.put_automation(object_name, {"api_name": api_name, "rule": text, **document})

    def runs(self, **where) -> list[dict]:
        query = sa.select(automation_runs).order_by(automation_runs.c.id)
        for key, value in where.items():
            query = query.where(automation_runs.c[key] == value)
        with self.binding.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def outbox(self) -> list[dict]:
        with self.binding.connect() as conn:
            return [
                dict(r) for r in conn.execute(sa.select(automation_outbox).order_by(automation_outbox.c.id)).mappings()
            ]

    def notifications(self) -> list[dict]:
        with self.binding.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(notifications).order_by(notifications.c.id)).mappings()]

    def count(self, object_name: str) -> int:
        return self.store().query(object_name, count=True, limit=1).total

    def reset(self) -> None:
        with self.service().change("reset") as tx:
            for definition in tx.state.live("automation"):
                tx.delete_scoped("automation", *definition.key.split(".", 1))
        model = self.store().model
        with self.binding.begin() as conn:
            for table in (
                automation_runs,
                automation_outbox,
                automation_rotation,
                automation_schedule,
                automation_secrets,
                notifications,
                team_members,
                teams,
                pool_records,
            ):
                conn.execute(table.delete())
            for name in ("task", "deal", "account"):
                conn.execute(model.object(name).table.delete())


@pytest.fixture(scope="module", params=BACKENDS)
def crm_world(request, tmp_path_factory):
    config = make_config(tmp_path_factory.mktemp("automation"), request.param, JOBS_IMMEDIATE=True)
    instance = build_instance(config, load_entry_points=False)
    instance.upgrade_platform()
    try:
        yield Crm(instance)
    finally:
        drop_namespaces(instance)
        instance.dispose()


@pytest.fixture
def crm(crm_world) -> Crm:
    yield crm_world
    crm_world.reset()
