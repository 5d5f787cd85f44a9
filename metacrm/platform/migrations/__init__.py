"""Alembic migrations of the platform namespace (``platform/``) and of the
platform-owned part of every tenant namespace (``tenant/``).

:func:`upgrade` runs them on a connection the caller owns, so a tenant's
namespace is created inside the caller's transaction. Upper layers add their
own tenant migration folders through the ``tenant_migration_locations`` hook;
each folder is an independent Alembic branch, and ``heads`` upgrades all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

HERE = Path(__file__).parent
PLATFORM_LOCATION = HERE / "platform"
TENANT_LOCATION = HERE / "tenant"


def _config(connection: Connection, schema: str | None, locations: list[Path]) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_locations", " ".join(str(p) for p in locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = schema
    return cfg


def upgrade_platform(connection: Connection, schema: str | None) -> None:
    command.upgrade(_config(connection, schema, [PLATFORM_LOCATION]), "heads")


def upgrade_tenant(connection: Connection, schema: str | None, extra_locations: Iterable[Path] = ()) -> None:
    locations = [TENANT_LOCATION, *extra_locations]
    command.upgrade(_config(connection, schema, locations), "heads")


def target_schema() -> str | None:
    """The real schema being migrated (None on SQLite); for migration scripts."""
    from alembic import op

    return op.get_context().config.attributes["schema"]
