"""An instance of metacrm: its configuration, database and plugin manager.

The app factory and every CLI command build exactly one; nothing else holds
process-wide state.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metacrm.platform import migrations
from metacrm.platform.caches import InstanceCaches
from metacrm.platform.config import load_config
from metacrm.platform.database import Database
from metacrm.platform.hooks import PluginManager, create_plugin_manager


class Instance:
    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        builtin_plugins=(),
        load_entry_points: bool = True,
    ):
        self.config = load_config(config)
        self.db = Database(self.config)
        self.pm: PluginManager = create_plugin_manager(builtin_plugins, load_entry_points)
        # The values the upper layers derive once per instance (field-type
        # registry, compiled models, ...), each in its typed slot.
        self.caches = InstanceCaches(tenant_cache_size=self.config["TENANT_CACHE_SIZE"])

    @property
    def hook(self):
        return self.pm.hook

    def tenant_migration_locations(self) -> list[Path]:
        return [Path(p) for group in self.hook.tenant_migration_locations() for p in group]

    def upgrade_platform(self) -> None:
        """Create or upgrade the platform namespace (idempotent)."""
        import sqlalchemy as sa

        with self.db.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                if self.db.platform_schema:
                    conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.db.platform_schema}"'))
                migrations.upgrade_platform(conn, self.db.platform_schema)

    def dispose(self) -> None:
        self.db.dispose()
