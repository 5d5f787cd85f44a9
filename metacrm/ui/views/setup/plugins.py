"""The plugins screen (``/setup/plugins``): the plugins the installation
offers with the version installed in this organisation, the buttons that
install, upgrade and uninstall them (each confirmed first), the broken
plugins, and what every plugin contributes. Every action goes through
:mod:`metacrm.plugins.lifecycle`, the path of ``metacrm plugin`` and the
API; a refusal (a requirement missing, a dependant installed) or a plugin's
failure comes back as a message on the page."""

from __future__ import annotations

import flask_babel
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.platform.errors import MetacrmError, ValidationFailed
from metacrm.platform.web import current_actor, current_tenant
from metacrm.plugins import context, lifecycle
from metacrm.ui.setup import METADATA, setup_route


def _contributions(manager) -> list[dict]:
    """Every plugin the instance runs and the hooks it implements."""
    plugins = []
    for name, plugin in manager.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted({caller.name for caller in manager.get_hookcallers(plugin) or ()})
        distribution, version = manager.tenant_plugins().get(name, (None, None))
        # pluggy names a plugin object by its id(): show where it comes from instead
        shown = name if not name.isdigit() else getattr(plugin, "__name__", type(plugin).__module__)
        row = {"name": shown, "distribution": distribution, "version": version, "hooks": hooks}
        plugins.append({**row, "builtin": distribution is None})
    return sorted(plugins, key=lambda p: (p["builtin"], p["distribution"] or p["name"]))


@setup_route("/setup/plugins", METADATA)
def setup_plugins():
    """The plugins offered and installed here, with their lifecycle buttons."""
    instance = context.instance()
    rows = lifecycle.plugin_states(instance, current_tenant())
    locale = str(flask_babel.get_locale())
    for row in rows:
        row["label"] = (row["translations"].get(locale) or {}).get("label") or row["label"]
    return render_template(
        "setup/plugins.html",
        rows=rows,
        broken=sorted(instance.pm.broken.items()),
        contributions=_contributions(instance.pm),
    )


def _run(work, done: str):
    try:
        result = work()
    except MetacrmError as exc:
        flash(exc.message, "danger")
    else:
        flash(done, "success")
        for conflict in result.get("conflicts") or ():
            kept = _("Kept this organisation's %(kind)s %(key)s: the new version was not applied to it.")
            flash(kept % {"kind": conflict["kind"], "key": conflict["key"]}, "danger")
    return redirect(url_for("ui.setup_plugins"))


@setup_route("/setup/plugins/<name>/install", METADATA, methods=["POST"])
def setup_install_plugin(name):
    return _run(
        lambda: lifecycle.install(context.instance(), current_tenant(), name, current_actor()),
        _("%(name)s is installed.", name=name),
    )


@setup_route("/setup/plugins/<name>/upgrade", METADATA, methods=["POST"])
def setup_upgrade_plugin(name):
    return _run(
        lambda: lifecycle.upgrade(context.instance(), current_tenant(), name, current_actor()),
        _("%(name)s is upgraded.", name=name),
    )


@setup_route("/setup/plugins/<name>/uninstall", METADATA, methods=["POST"])
def setup_uninstall_plugin(name):
    purge = request.form.get("purge") == "1"

    def work():
        if request.form.get("confirm") != "1":
            message = _("Tick the box to confirm the uninstall.")
            raise ValidationFailed(message, details={"fields": {"confirm": [message]}})
        return lifecycle.uninstall(context.instance(), current_tenant(), name, current_actor(), purge=purge)

    done = (
        _("%(name)s is uninstalled; its data is deleted.")
        if purge
        else _("%(name)s is uninstalled; its objects and their data are in the recycle bin.")
    )
    return _run(work, done % {"name": name})
