"""What plugins add to the screens: record-page panels, record actions, list
(bulk) actions, and the plugins' own templates and static files.

The descriptions come from the tenant-scoped hooks (``register_record_panels``,
``register_record_actions``, ``register_list_actions``) through the one
accessor, :func:`metacrm.metadata.model.tenant_hooks`: a plugin shows only in
tenants where it is installed. Its functions get the signed-in user's record
store, so what they read and write passes the guard. A plugin's
``templates/`` folder is reachable as ``"<plugin>/<file>"`` (a Jinja
PrefixLoader entry per plugin) and its ``static/`` folder at
``/plugins/<plugin>/static/<file>`` (signed in, and only where installed);
no inline script or style, the strict CSP stays as it is.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, abort, current_app, flash, redirect, render_template, send_from_directory, url_for
from flask_babel import gettext as _
from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader
from markupsafe import Markup

from metacrm.metadata.model import installed_plugins, tenant_hooks
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.plugins import context
from metacrm.plugins.extensions import ListAction, RecordAction, RecordPanel, localized
from metacrm.plugins.widgets import widget_data, widget_type
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import locale_name
from metacrm.ui.screens import object_for

log = logging.getLogger(__name__)
LIST_ACTION_PREFIX = "plugin:"  # a bulk-bar choice that is a plugin's list action


def plugin_folders(app: Flask) -> dict[str, Path]:
    """Name -> package folder of every tenant-scoped (entry-point) plugin."""
    pm = app.extensions["metacrm"].pm
    folders = {}
    for name, plugin in pm.list_name_plugin():
        if name in pm.distributions:
            source = plugin if inspect.ismodule(plugin) else type(plugin)
            folders[name] = Path(inspect.getfile(source)).parent
    return folders


def init_plugin_screens(app: Flask) -> None:
    """Find each plugin's ``templates/`` folder: ``{% include "<plugin>/x.html" %}``."""
    loaders = {
        name: FileSystemLoader(folder / "templates")
        for name, folder in plugin_folders(app).items()
        if (folder / "templates").is_dir()
    }
    app.jinja_loader = ChoiceLoader([app.jinja_loader, PrefixLoader(loaders)])


@blueprint.get("/plugins/<plugin>/static/<path:filename>")
def plugin_static(plugin: str, filename: str):
    """A file of an installed plugin's ``static/`` folder."""
    folder = plugin_folders(current_app).get(plugin)
    if folder is None or plugin not in installed_plugins(context.model().definitions):
        abort(404)
    return send_from_directory(folder / "static", filename)


def _described(hook_name: str, obj: CompiledObject) -> Iterator:
    hooks = tenant_hooks(context.instance(), context.model().definitions)
    items = [item for result in getattr(hooks, hook_name)() for item in result or ()]
    for item in sorted(items, key=lambda item: (item.order, item.name)):
        if obj.api_name in item.objects:
            yield item


def _label(item) -> str:
    return localized(item.label if hasattr(item, "label") else item.title, locale_name())


def record_panels(obj: CompiledObject, record: dict) -> list[dict]:
    """The plugins' panels of this record, rendered (a panel whose context
    fails shows that it cannot be shown; the page still renders)."""
    store = context.store()
    panels = []
    for panel in _described("register_record_panels", obj):
        panel: RecordPanel
        try:
            # rendered by the autoescaping environment, so it is markup already
            html = Markup(render_template(panel.template, panel=panel.context(store, record), record=record, obj=obj))
        except MetacrmError as exc:
            log.info("panel %s refused: %s", panel.name, exc)
            html = None
        except Exception:  # noqa: BLE001 - a plugin's broken panel must not take the record page down
            log.exception("panel %s failed", panel.name)
            html = None
        panels.append({"name": panel.name, "title": _label(panel), "html": html})
    return panels


def record_actions(obj: CompiledObject) -> list[dict]:
    """The plugins' record actions this user may run here."""
    guard = context.guard()
    return [
        {"name": action.name, "label": _label(action)}
        for action in _described("register_record_actions", obj)
        if guard.permits(action.permission, obj)
    ]


def list_actions(obj: CompiledObject) -> list[dict]:
    """The plugins' bulk actions of this list the user may run."""
    guard = context.guard()
    return [
        {"value": LIST_ACTION_PREFIX + action.name, "label": _label(action)}
        for action in _described("register_list_actions", obj)
        if guard.permits(action.permission, obj)
    ]


def _action(hook_name: str, obj: CompiledObject, name: str):
    guard = context.guard()
    for action in _described(hook_name, obj):
        if action.name == name and guard.permits(action.permission, obj):
            return action
    raise NotFound(f"no action {name!r} here")


def run_list_action(obj: CompiledObject, name: str, ids: list[int]) -> str:
    """Run a plugin's list action on the selected records the user can see."""
    action: ListAction = _action("register_list_actions", obj, name.removeprefix(LIST_ACTION_PREFIX))
    store = context.store()
    visible = [record_id for record_id in ids if _visible(store, obj, record_id)]
    return action.run(store, obj.api_name, visible)


def _visible(store, obj: CompiledObject, record_id: int) -> bool:
    try:
        store.get(obj.api_name, record_id, fields=[])
    except NotFound:
        return False
    return True


def widget_html(definition: dict) -> Markup:
    """A plugin widget rendered with its type's template."""
    # the widget's definition names the template; the plugin computes what it shows
    return Markup(render_template(widget_type(definition).template, widget=widget_data(definition)))


@blueprint.post("/o/<object>/<int:record_id>/plugin-actions/<name>")
def run_record_action(object: str, record_id: int, name: str):
    """Run a plugin's record action; back to the record page with its message."""
    obj = object_for(object)
    action: RecordAction = _action("register_record_actions", obj, name)
    store = context.store()
    try:
        message = action.run(store, store.get(obj.api_name, record_id))
        flash(message or _("Done."), "success")
    except MetacrmError as exc:
        if isinstance(exc, NotFound):
            raise
        flash(str(exc), "danger")
    return redirect(url_for("ui.record_page", object=obj.api_name, record_id=record_id), 303)
