"""A crm_core tenant for the analytics tests (reports, forecast,
dashboards): a sales rep, a second rep and their manager, stores acting as
each, access changes, and hand-written SQL to compare the numbers with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from metacrm_crm_core.plugin import PACKAGE_DIR

from metacrm.access.changes import AccessChanges
from metacrm.access.guard import PolicyGuard
from metacrm.access.members import provision_member
from metacrm.access.policy import policy_for
from metacrm.app import build_instance
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import model_for, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.plugins.packages import apply_package, load_package
from tests.conftest import PASSWORD, drop_namespaces, make_config

OWN = {"create": True, "read": "own", "update": "own", "delete": "own"}


class Crm:
    def __init__(self, instance):
        self.instance = instance
        tenancy.create_tenant(instance, "crm", "Crm")
        self.binding = instance.db.bind("crm")
        apply_package(instance, self.binding, load_package(PACKAGE_DIR), audit.SYSTEM)
        self.users: dict[str, int] = {}
        for name, role in (("rep", "sales_rep"), ("other", "sales_rep"), ("boss", "sales_manager")):
            user_id = identities.create_user(
                instance,
                tenant="crm",
                email=f"{name}@crm.test",
                password=PASSWORD,
                role=role,
                display_name=name.title(),
            )
            provision_member(instance, self.binding, user_id, actor=audit.SYSTEM)
            self.users[name] = user_id

    def system(self):
        return record_store(self.instance, self.binding, SystemGuard(), audit.SYSTEM)

    def store(self, name: str):
        """The record store of user ``name``, through their roles' guard."""
        identity = identities.identity_for(self.instance, self.users[name], "crm")
        model = model_for(self.instance, self.binding)
        guard = PolicyGuard.for_identity(self.instance, self.binding, identity, model)
        return record_store(self.instance, self.binding, guard, audit.Actor(user_id=identity.user_id))

    def access(self, role: str, object_name: str, entry: dict) -> None:
        """Set ``role``'s access to ``object_name`` (a permission-matrix row)."""
        changes = AccessChanges(
            self.instance,
            self.binding,
            audit.SYSTEM,
            held=frozenset({"admin"}),
            policy=policy_for(self.instance, self.binding),
        )
        with changes.change(f"access of {role} on {object_name}") as change:
            change.put_object_access(role, object_name, entry)

    def hide(self, role: str, object_name: str, field: str) -> None:
        self.access(role, object_name, {**OWN, "fields": {field: "hidden"}})

    def hide_object(self, role: str, object_name: str) -> None:
        self.access(role, object_name, {"create": False, "read": "none", "update": "none", "delete": "none"})

    def table(self, object_name: str) -> sa.Table:
        return model_for(self.instance, self.binding).object(object_name).table

    def table_name(self, object_name: str) -> str:
        """The object's table, quoted (and schema-qualified on PostgreSQL), for SQL text."""
        name, schema = self.table(object_name).name, self.binding.schema
        return f'"{schema}"."{name}"' if schema else f'"{name}"'

    def sql(self, query, **params) -> list:
        """Rows of ``query``: a SQLAlchemy statement, or SQL text with ``:named`` parameters."""
        statement = sa.text(query) if isinstance(query, str) else query
        with self.binding.connect() as conn:
            return conn.execute(statement, params).all()


@contextmanager
def crm_tenant(tmp_path, backend: str) -> Iterator[Crm]:
    """A :class:`Crm` on an instance of its own, its namespaces dropped afterwards."""
    instance = build_instance(make_config(tmp_path, backend), load_entry_points=False)
    instance.upgrade_platform()
    try:
        yield Crm(instance)
    finally:
        drop_namespaces(instance)
        instance.dispose()
