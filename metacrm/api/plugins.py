"""Plugins in the caller's tenant over HTTP (docs/plugins.md, "Lifecycle in
a tenant"): ``GET /api/v1/plugins`` lists what the instance offers with
what is installed here, and the broken plugins; ``POST
/api/v1/plugins/{name}/install|upgrade|uninstall`` run the lifecycle
(:mod:`metacrm.plugins.lifecycle`, the same path as ``metacrm plugin``).
Metadata admins only (``manage_metadata``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.api.requests import json_body
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.web import current_actor, current_tenant
from metacrm.plugins import context, lifecycle

blueprint = Blueprint("api_plugins", __name__, url_prefix="/api/v1/plugins")


def _admin() -> None:
    context.guard().require_metadata_admin()


@blueprint.get("")
def list_plugins():
    """List the plugins: version offered, version installed here, and the broken ones.

    ``state`` is ``available`` (not installed here), ``installed`` (this
    version), ``upgradable`` (another version is installed here) or
    ``missing`` (installed here, but the installation no longer runs it:
    it can only be uninstalled)."""
    _admin()
    instance = context.instance()
    broken = [{"name": n, "reason": r} for n, r in sorted(instance.pm.broken.items())]
    return jsonify({"data": lifecycle.plugin_states(instance, current_tenant()), "broken": broken})


@blueprint.post("/<name>/install")
def install_plugin(name: str):
    """Install a plugin in this tenant, or bring it to the offered version.

    Checks what it requires (409 naming each requirement), applies its
    package in one transaction and answers the counts, the metadata
    revision and the conflicts (definitions the tenant changed, kept)."""
    _admin()
    return jsonify(lifecycle.install(context.instance(), current_tenant(), name, current_actor()))


@blueprint.post("/<name>/upgrade")
def upgrade_plugin(name: str):
    """Upgrade an installed plugin to the offered version, keeping the tenant's customisations.

    A definition the tenant changed since the install is kept and listed
    in ``conflicts``; 404 when the plugin is not installed here."""
    _admin()
    return jsonify(lifecycle.upgrade(context.instance(), current_tenant(), name, current_actor()))


@blueprint.post("/<name>/uninstall")
def uninstall_plugin(name: str):
    """Uninstall a plugin: its definitions go to the recycle bin, data kept.

    Body (optional): ``{"purge": true}`` deletes its objects and fields
    with their data for good. 409 while another installed plugin requires it."""
    _admin()
    purge = json_body().get("purge", False) if request.get_data() else False
    if not isinstance(purge, bool):
        raise ValidationFailed("purge must be true or false", details={"fields": {"purge": ["must be a boolean"]}})
    return jsonify(lifecycle.uninstall(context.instance(), current_tenant(), name, current_actor(), purge=purge))
