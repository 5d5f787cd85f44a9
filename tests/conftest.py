"""Fixtures shared by the whole suite.

Every test that takes ``instance`` (or anything built on it) runs once on
embedded SQLite and, when ``METACRM_TEST_DATABASE_URL`` names a PostgreSQL
database, once more on PostgreSQL, in namespaces of its own that are dropped
afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from hypothesis import settings

from metacrm.app import build_instance, create_app
from metacrm.platform import identity as identities
from metacrm.platform import tenancy

PG_URL = os.environ.get("METACRM_TEST_DATABASE_URL", "")

# CI runs property tests on a fixed seed, so a submission's result can be
# reproduced; locally each run explores new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
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
