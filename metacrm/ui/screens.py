"""What every generated screen needs: the object named in the URL (through
the guard), the objects of the app navigation, the fields a user may read,
and the shell's values for the base template.

Views read and write records only through ``context.store()`` and the list
service (:mod:`metacrm.plugins.records`), never the tables (UI.md §1.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, session

from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import NotFound
from metacrm.plugins import context
from metacrm.ui.i18n import label_of


def object_for(name: str, action: str = "read") -> CompiledObject:
    """The object of ``/o/<name>``: 404 when there is none, 403 when the
    user may not ``action`` its records."""
    obj = context.model().object(name)
    if obj is None:
        raise NotFound(f"no object {name!r}")
    context.guard().require(action, obj)
    return obj


def readable_fields(obj: CompiledObject) -> list[FieldType]:
    """The fields the user may read, in definition order."""
    readable = context.guard().readable_fields(obj)
    return [field for name, field in obj.fields.items() if name in readable]


def nav_objects() -> list[CompiledObject]:
    """The objects of the navigation: those the user may read, without the
    ones an admin hid from it (``nav_hidden``). In an app (:func:`nav_apps`),
    the app's objects first, in the app's order, then the others; otherwise
    all in the admin's order (``nav_order``; the rest after them by label)."""
    if "nav_objects" not in g:
        everything = readable_nav_objects()
        app = current_app_of_user()
        if app is None:
            g.nav_objects = everything
        else:
            by_name = {obj.api_name: obj for obj in everything}
            inside = [by_name[name] for name in app.objects if name in by_name]
            g.nav_objects = inside + [obj for obj in everything if obj.api_name not in app.objects]
    return g.nav_objects


def nav_bar_count() -> int:
    """How many of :func:`nav_objects` sit on the bar; the rest go under "More"."""
    room = 5 if len(nav_apps()) > 1 else 6  # the app switcher takes the place of one
    app = current_app_of_user()
    if app is None:
        return room
    names = {obj.api_name for obj in nav_objects()}
    return min(room, len([name for name in app.objects if name in names])) or room


@dataclass(frozen=True)
class NavApp:
    """An app of the switcher: a named group of objects (the ``app`` definition kind)."""

    api_name: str
    definition: dict
    objects: tuple[str, ...]


SESSION_APP = "app"
ALL_OBJECTS = "_all"


def nav_apps() -> list[NavApp]:
    """The apps the user sees: those naming one of their roles or none (every
    app for metadata admins), by ``order`` then label."""
    if "nav_apps" not in g:
        guard = context.guard()
        admin = guard.may("manage_metadata")
        apps = []
        for item in context.model().definitions.live("app"):
            document = item.document
            roles = set(document.get("roles") or ())
            if admin or not roles or roles & set(guard.roles):
                apps.append(NavApp(document["api_name"], document, tuple(document.get("objects") or ())))
        g.nav_apps = sorted(
            apps,
            key=lambda app: (
                app.definition.get("order") is None,
                app.definition.get("order") or 0,
                label_of(app.definition, "label", app.api_name).casefold(),
            ),
        )
    return g.nav_apps


def current_app_of_user() -> NavApp | None:
    """The app the navigation shows: the one the user switched to, else their
    first; None (every object) when they see no app, or when they chose
    "All objects" — where metadata admins start."""
    apps = nav_apps()
    if not apps:
        return None
    chosen = session.get(SESSION_APP)
    if chosen is None and context.guard().may("manage_metadata"):
        chosen = ALL_OBJECTS
    if chosen == ALL_OBJECTS:
        return None
    return next((app for app in apps if app.api_name == chosen), apps[0])


def readable_nav_objects() -> list[CompiledObject]:
    """Every object of the navigation the user may read, in the admin's order."""
    if "nav_readable" not in g:
        guard = context.guard()
        shown = [
            obj
            for obj in context.model().objects.values()
            if not obj.definition.get("nav_hidden") and guard.permits("read", obj)
        ]
        g.nav_readable = sorted(
            shown,
            key=lambda obj: (
                obj.definition.get("nav_order") is None,
                obj.definition.get("nav_order") or 0,
                label_of(obj.definition, "plural_label", obj.label).casefold(),
            ),
        )
    return g.nav_readable
