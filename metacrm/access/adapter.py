"""pycasbin's SQLAlchemy adapter on a tenant connection.

``sqlalchemy_adapter.Adapter`` opens its own sessions on an engine, which
would reach neither the tenant's schema (PostgreSQL: the binding's
``schema_translate_map``) nor the transaction of a metadata change. This
subclass runs every adapter operation on ONE connection handed over by the
caller, so policy rows are read in the same snapshot as the metadata head
and written in the same transaction as the metadata revision they belong to.

It also maps the domain: rows store :data:`~metacrm.access.tables.STORED_DOMAIN`
(the namespace is the tenant) and the enforcer sees the tenant's slug.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources

import casbin
from casbin import persist
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy_adapter import Adapter
from sqlalchemy_adapter.adapter import CasbinRule

from metacrm.access.tables import STORED_DOMAIN

# Position of the domain in a rule, per policy type (p: sub, dom, …; g: a, b, dom).
DOMAIN_INDEX = {"p": 1, "g": 2}


@cache
def model_text() -> str:
    return resources.files("metacrm.access").joinpath("model.conf").read_text(encoding="utf-8")


def new_model() -> casbin.Model:
    model = casbin.Model()
    model.load_model_from_text(model_text())
    return model


class TenantPolicyAdapter(Adapter):
    """The adapter bound to one tenant connection and domain."""

    def __init__(self, connection: Connection, domain: str):
        super().__init__(connection.engine, db_class=CasbinRule, create_table=False)
        self._connection = connection
        self._domain = domain

    @contextmanager
    def _session_scope(self) -> Iterator[Session]:
        # Joins the caller's transaction; the caller commits or rolls back.
        with Session(bind=self._connection, autoflush=False) as session:
            yield session
            session.flush()

    def _stored(self, ptype: str, rule: list[str] | tuple[str, ...], offset: int = 0) -> list[str]:
        index = DOMAIN_INDEX.get(ptype[:1], -1) - offset
        return [STORED_DOMAIN if i == index and v == self._domain else v for i, v in enumerate(rule)]

    def load_policy(self, model) -> None:
        with self._session_scope() as session:
            for line in session.query(self._db_class).order_by(self._db_class.id):
                values = [line.v0, line.v1, line.v2, line.v3, line.v4, line.v5]
                values = [v for v in values if v is not None]
                index = DOMAIN_INDEX.get(line.ptype[:1])
                if index is not None and index < len(values) and values[index] == STORED_DOMAIN:
                    values[index] = self._domain
                persist.load_policy_line(", ".join([line.ptype, *values]), model)

    def load_filtered_policy(self, model, filter) -> None:  # noqa: A002 (the adapter's name)
        raise NotImplementedError("the table holds one tenant only: use load_policy")

    def _save_policy_line(self, ptype, rule, session=None):
        return super()._save_policy_line(ptype, self._stored(ptype, rule), session)

    def add_policies(self, sec, ptype, rules):
        # The base adapter flushes a session per rule: one INSERT each. One
        # session writes them in one go (a new tenant's roles seed ~40).
        with self._session_scope() as session:
            for rule in rules:
                self._save_policy_line(ptype, rule, session)

    def remove_policy(self, sec, ptype, rule):
        return super().remove_policy(sec, ptype, self._stored(ptype, rule))

    def remove_filtered_policy(self, sec, ptype, field_index, *field_values):
        values = self._stored(ptype, list(field_values), offset=field_index)
        return super().remove_filtered_policy(sec, ptype, field_index, *values)


def load_enforcer(connection: Connection, domain: str) -> casbin.Enforcer:
    """An enforcer holding the tenant's rules, read on ``connection``.

    The adapter is detached afterwards: the enforcer is a read-only snapshot
    of one metadata revision, and rules are changed only through
    :mod:`metacrm.access.changes`, in the transaction of a new revision."""
    enforcer = casbin.Enforcer(new_model(), TenantPolicyAdapter(connection, domain))
    enforcer.set_adapter(None)
    enforcer.enable_auto_save(False)
    return enforcer
