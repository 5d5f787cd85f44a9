"""The pytest plugin of metacrm: the fixtures a plugin's tests (and
metacrm's own suite) build on, so a third-party plugin's tests need
nothing from metacrm's ``tests/``.

Installing metacrm registers it (the ``pytest11`` entry point ``metacrm``);
every fixture here can be overridden by a conftest or test module, e.g. a
module that wants jobs to run at once::

    @pytest.fixture
    def config(config):
        return {**config, "JOBS_IMMEDIATE": True}

Every test that takes ``instance`` (or anything built on it) runs once on
embedded SQLite and, when ``METACRM_TEST_DATABASE_URL`` names a PostgreSQL
database, once more on PostgreSQL, in namespaces of its own that are
dropped afterwards.

Fixtures: ``backend``, ``config``, ``instance``, ``app``, ``client``,
``world`` (two tenants, each with an admin and a plain user) and
``package_tenant`` (a tenant with a metadata package installed, e.g. the
plugin's own, and users holding a role); ``module_instance``,
``module_client`` and ``module_package_tenant`` are the same, built once
per test module (and backend).

This module builds the whole app, so it imports :mod:`metacrm.app`: the
one import from the plugins layer upwards, allowed for it alone in
pyproject.toml. Product code never imports it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from metacrm.access import provision_member, sharing
from metacrm.access.tables import pool_records
from metacrm.app import build_instance, create_app
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import model_for, record_store
from metacrm.metadata.store import RecordStore
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.plugins.packages import apply_package, load_package
from metacrm.rules.automation.scheduled import run_time_rules
from metacrm.rules.automation.tables import automation_runs, notifications

PG_URL = os.environ.get("METACRM_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """argon2id with minimal cost: the tests create hundreds of users, and the
    production parameters (64 MiB, 3 passes) are deliberately slow. The
    algorithm and code path stay the same."""
    original = identities._hasher
    identities._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    identities._hasher = original


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


def make_config(tmp_path, backend: str, **extra) -> dict:
    """An instance configuration for a test: its data under ``tmp_path``
    and, on PostgreSQL, namespaces of its own."""
    suffix = uuid.uuid4().hex[:8]
    config = {
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "test-secret-" + suffix,
        "SESSION_COOKIE_SECURE": False,
        "LOG_LEVEL": "WARNING",
    }
    if backend == "postgresql":
        config.update(
            DATABASE_URL=PG_URL,
            PLATFORM_SCHEMA=f"mt_{suffix}",
            TENANT_SCHEMA_PREFIX=f"t{suffix}_",
        )
    config.update(extra)
    return config


def drop_namespaces(instance) -> None:
    """Drop the PostgreSQL schemas of ``instance`` (nothing on SQLite)."""
    db = instance.db
    if db.dialect != "postgresql":
        return
    with db.engine.begin() as conn:
        schemas = (
            conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname = :p OR nspname LIKE :t"),
                {"p": db.platform_schema, "t": db.tenant_prefix.replace("_", r"\_") + "%"},
            )
            .scalars()
            .all()
        )
        for schema in schemas:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def config(tmp_path, backend) -> dict:
    return make_config(tmp_path, backend)


@pytest.fixture
def instance(config):
    instance = build_instance(config, load_entry_points=False)
    instance.upgrade_platform()
    yield instance
    drop_namespaces(instance)
    instance.dispose()


@pytest.fixture
def app(instance):
    app = create_app(instance=instance)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


class World:
    """Two tenants, each with an admin and a plain user, and helpers to act
    as them."""

    def __init__(self, instance, app):
        self.instance = instance
        self.app = app
        self.password = PASSWORD
        for slug in ("acme", "globex"):
            tenancy.create_tenant(instance, slug, slug.title())
            identities.create_user(
                instance, tenant=slug, email=f"admin@{slug}.test", password=PASSWORD, is_admin=True, role="admin"
            )
            identities.create_user(instance, tenant=slug, email=f"user@{slug}.test", password=PASSWORD)

    def identity(self, email: str, tenant: str):
        users = {row["email"]: row for row in identities.list_users(self.instance, tenant)}
        return identities.identity_for(self.instance, users[email]["id"], tenant)

    def token(self, email: str, tenant: str) -> str:
        return identities.create_token(self.instance, self.identity(email, tenant), "test")[1]

    def bearer(self, email: str, tenant: str) -> dict:
        return {"Authorization": f"Bearer {self.token(email, tenant)}"}


@pytest.fixture
def world(instance, app) -> World:
    return World(instance, app)


class PackageTenant:
    """A tenant with a metadata package installed and users holding
    ``role`` (``<name>@<slug>.test``); saves act as the first of them,
    through the system guard (no record scopes), with the package's rules."""

    def __init__(self, instance, package_dir: Path, *, slug: str, users: tuple[str, ...], role: str | None):
        self.instance = instance
        tenancy.create_tenant(instance, slug, slug.title())
        self.binding = instance.db.bind(slug)
        apply_package(instance, self.binding, load_package(package_dir), audit.SYSTEM)
        self.users: list[int] = []
        for name in users:
            user_id = identities.create_user(
                instance, tenant=slug, email=f"{name}@{slug}.test", password=PASSWORD, role=role
            )
            provision_member(instance, self.binding, user_id, actor=audit.SYSTEM)
            self.users.append(user_id)
        self.actor = audit.Actor(user_id=self.users[0], email=f"{users[0]}@{slug}.test") if users else audit.SYSTEM

    def store(self) -> RecordStore:
        return record_store(self.instance, self.binding, SystemGuard(), self.actor)

    def install(self, package_dir: Path) -> dict:
        """Apply one more metadata package (e.g. an industry module next to crm_core)."""
        return apply_package(self.instance, self.binding, load_package(package_dir), audit.SYSTEM)

    def add_user(self, name: str, role: str | None) -> int:
        """A member ``<name>@<slug>.test`` holding ``role``; returns their user id."""
        user_id = identities.create_user(
            self.instance,
            tenant=self.binding.slug,
            email=f"{name}@{self.binding.slug}.test",
            password=PASSWORD,
            role=role,
        )
        provision_member(self.instance, self.binding, user_id, actor=audit.SYSTEM)
        return user_id

    def bearer(self, user_id: int) -> dict:
        """An ``Authorization`` header acting as ``user_id`` through the API (their roles' access)."""
        identity = identities.identity_for(self.instance, user_id, self.binding.slug)
        return {"Authorization": f"Bearer {identities.create_token(self.instance, identity, 'test')[1]}"}

    def team(self, api_name: str, label: str, members: list[int]) -> dict:
        document = {"api_name": api_name, "label": label, "members": members}
        return sharing.create_team(self.instance, self.binding, document, audit.SYSTEM)

    def set_columns(self, object_name: str, record_id: int, **values) -> None:
        """Write stored columns directly (no save pipeline), e.g. to age a record."""
        table = model_for(self.instance, self.binding).object(object_name).table
        with self.binding.begin() as conn:
            conn.execute(table.update().where(table.c.id == record_id).values(**values))

    def run_time_rules(self, now=None) -> list:
        """Run the scheduled and cron rules due at ``now`` (default: now)."""
        return run_time_rules(self.instance, self.binding, now=now)

    def runs(self, rule: str) -> list[dict]:
        """The automation run log of ``rule``, oldest first."""
        query = sa.select(automation_runs).where(automation_runs.c.rule == rule).order_by(automation_runs.c.id)
        return self._rows(query)

    def notifications(self) -> list[dict]:
        """The in-app notifications automations sent, oldest first."""
        return self._rows(sa.select(notifications).order_by(notifications.c.id))

    def pooled(self) -> list[dict]:
        """The records in public pools."""
        return self._rows(sa.select(pool_records).order_by(pool_records.c.object, pool_records.c.record_id))

    def _rows(self, query) -> list[dict]:
        with self.binding.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]


@pytest.fixture(scope="module", params=BACKENDS)
def module_instance(request, tmp_path_factory):
    """An instance shared by every test of a module, once per backend: for
    plugin tests that build one tenant and its data per module (the suite's
    time budget). Register the plugin under test with
    ``module_instance.pm.register(plugin_module)`` before the first save."""
    instance = build_instance(make_config(tmp_path_factory.mktemp("instance"), request.param), load_entry_points=False)
    instance.upgrade_platform()
    yield instance
    drop_namespaces(instance)
    instance.dispose()


@pytest.fixture(scope="module")
def module_client(module_instance):
    """A test client of an app on :func:`module_instance`."""
    app = create_app(instance=module_instance)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def module_package_tenant(module_instance):
    """``package_tenant`` on :func:`module_instance`: build a tenant once per module."""

    def make(
        package_dir: Path, *, slug: str = "plugin", users: tuple[str, ...] = ("ann", "bob"), role: str | None = None
    ) -> PackageTenant:
        return PackageTenant(module_instance, package_dir, slug=slug, users=users, role=role)

    return make


@pytest.fixture
def package_tenant(instance):
    """``package_tenant(package_dir, slug="plugin", users=("ann", "bob"),
    role=None)``: a :class:`PackageTenant` on this test's instance."""

    def make(
        package_dir: Path, *, slug: str = "plugin", users: tuple[str, ...] = ("ann", "bob"), role: str | None = None
    ) -> PackageTenant:
        return PackageTenant(instance, package_dir, slug=slug, users=users, role=role)

    return make
