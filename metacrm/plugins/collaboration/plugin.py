"""Collaboration as a built-in plugin: its tenant tables and the follower
notification save step."""

from pathlib import Path

from metacrm.platform.hooks import hookimpl


class CollaborationPlugin:
    @hookimpl
    def tenant_migration_locations(self):
        return [Path(__file__).parent / "migrations"]

    @hookimpl
    def register_save_steps(self):
        from metacrm.plugins.collaboration.follows import SAVE_STEPS

        return list(SAVE_STEPS)


collaboration_plugin = CollaborationPlugin()
