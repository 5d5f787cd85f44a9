"""The access layer as a built-in plugin: its tenant tables (the Alembic
branch ``access``), the standard roles of every new tenant, the policy
mirror's definition kind and the daily job that returns overdue claimed
records to their pools."""

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

    @hookimpl
    def register_definition_kinds(self):
        from metacrm.access.changes import POLICY_KIND

        return [POLICY_KIND]

    @hookimpl
    def register_jobs(self):
        from metacrm.access.pools import JOBS

        return JOBS

    @hookimpl
    def register_automation_actions(self):
        from metacrm.access.automation_actions import AUTOMATION_ACTIONS

        return AUTOMATION_ACTIONS


access_plugin = AccessPlugin()
