"""The metadata engine as a built-in plugin: its tenant tables (an Alembic
branch of their own), its definition kinds and the built-in field types."""

from pathlib import Path

from metacrm.metadata.fieldtypes.registry import builtin_field_types
from metacrm.platform.hooks import hookimpl


class MetadataPlugin:
    @hookimpl
    def tenant_migration_locations(self):
        return [Path(__file__).parent / "migrations"]

    @hookimpl
    def register_definition_kinds(self):
        from metacrm.metadata.kinds import METADATA_KINDS

        return list(METADATA_KINDS)

    @hookimpl
    def register_jobs(self):
        from metacrm.metadata import backup, recycle, statistics

        return [*recycle.JOBS, *statistics.JOBS, *backup.JOBS]


metadata_plugin = MetadataPlugin()
BUILTIN = (metadata_plugin, builtin_field_types)
