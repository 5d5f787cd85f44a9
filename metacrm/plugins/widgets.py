"""Dashboard widgets of plugins (``type: plugin`` in a dashboard definition):
the widget type the tenant's installed plugins register under that name
(``register_dashboard_widgets``), and the data it computes with the
viewer's record store. The screens render it, the API answers its data."""

from __future__ import annotations

from metacrm.metadata.model import tenant_hooks
from metacrm.platform.errors import NotFound
from metacrm.plugins import context
from metacrm.plugins.extensions import DashboardWidget


def widget_type(definition: dict) -> DashboardWidget:
    """The tenant's widget type a ``type: plugin`` dashboard widget names."""
    hooks = tenant_hooks(context.instance(), context.model().definitions)
    for result in hooks.register_dashboard_widgets():
        for found in result or ():
            if found.type == definition.get("widget"):
                return found
    raise NotFound(f"no widget type {definition.get('widget')!r} in this tenant's plugins")


def widget_data(definition: dict) -> dict:
    """What a plugin widget shows, computed with the viewer's store."""
    return widget_type(definition).context(context.store(), definition)
