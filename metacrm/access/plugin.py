"""The access layer as a built-in plugin: its tenant tables (the Alembic
branch ``access``) and the standard roles of every new tenant."""

from pathlib import Path

from metacrm.access.seed import seed_standard_roles
from metacrm.platform.hooks import hookimpl


class AccessPlugin:
    @hookimpl
    def tenant_migration_locations(self):
        return [Path(__file__).parent / "migrations"]

    @hookimpl
    def tenant_created(self, tenant, connection):
        """The standard roles, inside the transaction that creates the tenant."""
        seed_standard_roles(connection)


access_plugin = AccessPlugin()
