"""A tenant to test the rule-language save steps against: objects
``account`` (name, industry, rating) and ``deal`` (name, amount, stage,
discount, close_date, approved, size, account → account), changed through
the metadata service with the instance's definition checks and written
through a record store carrying the instance's save pipeline."""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from metacrm.access.guard import SystemGuard
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit, tenancy

ACTOR = audit.Actor(user_id=7, email="bot@acme.test")


def _values(*values: str) -> dict:
    return {"values": [{"value": v} for v in values]}


ACCOUNT_FIELDS = [
    {"api_name": "industry", "label": "Industry", "type": "picklist", "options": _values("tech", "retail")},
    {"api_name": "rating", "label": "Rating", "type": "integer"},
]
DEAL_FIELDS = [
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "picklist", "options": _values("open", "won", "lost")},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "approved", "label": "Approved", "type": "boolean"},
    {"api_name": "size", "label": "Size", "type": "picklist", "options": _values("small", "big")},
    {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}},
]


class SaveWorld:
    def __init__(self, instance):
        self.instance = instance
        self.binding = tenancy.create_tenant(instance, "acme", "Acme")
        with self.change("objects") as tx:
            tx.create_object({"api_name": "account", "label": "Account"}, ACCOUNT_FIELDS)
            tx.create_object({"api_name": "deal", "label": "Deal"}, DEAL_FIELDS)

    @contextmanager
    def change(self, summary: str = "test"):
        with metadata_service(self.instance, self.binding, ACTOR).change(summary) as tx:
            yield tx

    def model(self):
        return model_for(self.instance, self.binding)

    def store(self, guard=None, actor=ACTOR):
        return record_store(self.instance, self.binding, guard or SystemGuard(), actor)

    def rule(self, condition: str, message: str = "not allowed", api_name: str = "rule", **extra) -> None:
        with self.change(f"rule {api_name}") as tx:
            tx.put_validation_rule("deal", {"api_name": api_name, "condition": condition, "message": message, **extra})

    def count(self, object_name: str = "deal") -> int:
        table = self.model().object(object_name).table
        with self.binding.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
