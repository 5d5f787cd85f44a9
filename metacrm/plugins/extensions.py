"""What a plugin adds to the screens (the hooks ``register_record_panels``,
``register_record_actions``, ``register_list_actions`` and
``register_dashboard_widgets``; docs/plugins.md).

Each is a plain description; the screens (``metacrm.ui.plugin_screens``)
render them, only in tenants where the plugin is installed, and run their
functions with the signed-in user's record store, so a plugin reads and
writes through the guard like every screen. A label is a text or a mapping
of locale to text (``{"en": ..., "zh_CN": ...}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Label = str | Mapping[str, str]


@dataclass(frozen=True)
class RecordPanel:
    """A card on the record page of the ``objects`` named, after the layout's
    sections: ``template`` (``"<plugin>/<file>.html"``, from the plugin's
    ``templates/`` folder) rendered with ``context(store, record)`` as
    ``panel`` (a dict; autoescaped like every template)."""

    name: str
    objects: Sequence[str]
    title: Label
    template: str
    context: Callable[[Any, dict], dict]
    order: int = 100


@dataclass(frozen=True)
class RecordAction:
    """An entry of the record page's Actions menu on the ``objects`` named,
    shown to users who hold ``permission`` on the object. ``run(store,
    record)`` does the work on a POST (the platform's route, guarded and
    CSRF-checked) and returns the message shown after it; raise
    ``ValidationFailed`` to refuse with a reason."""

    name: str
    objects: Sequence[str]
    label: Label
    run: Callable[[Any, dict], str]
    permission: str = "update"
    order: int = 100


@dataclass(frozen=True)
class ListAction:
    """A button of the list's bulk bar on the ``objects`` named: ``run(store,
    object_name, ids)`` acts on the selected records (ids the user can see)
    and returns the message shown after it."""

    name: str
    objects: Sequence[str]
    label: Label
    run: Callable[[Any, str, list[int]], str]
    permission: str = "update"
    order: int = 100


@dataclass(frozen=True)
class DashboardWidget:
    """A widget type a dashboard definition names (``type: plugin``,
    ``widget: <type>``, ``settings: {...}``): ``template``
    (``"<plugin>/<file>.html"``) rendered with ``widget`` = ``context(store,
    definition)`` (the widget's definition, its ``settings`` included). The
    API's widget data answers the same dict as ``data`` (keep it JSON)."""

    type: str
    label: Label
    template: str
    context: Callable[[Any, dict], dict]


def localized(label: Label, locale: str) -> str:
    """The text of ``label`` in ``locale`` (then English, then any)."""
    if isinstance(label, str):
        return label
    return label.get(locale) or label.get("en") or next(iter(label.values()), "")
