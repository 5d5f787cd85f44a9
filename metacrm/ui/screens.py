"""What every generated screen needs: the object named in the URL (through
the guard), the objects of the app navigation, the fields a user may read,
and the shell's values for the base template.

Views read and write records only through ``context.store()`` and the list
service (:mod:`metacrm.plugins.records`), never the tables (UI.md §1.2).
"""

from __future__ import annotations

from flask import g

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
    """The objects of the app navigation: those the user may read, in the
    admin's order (``nav_order``; the rest after them by label), without
    the ones an admin hid from it (``nav_hidden``)."""
    if "nav_objects" not in g:
        guard = context.guard()
        shown = [
            obj
            for obj in context.model().objects.values()
            if not obj.definition.get("nav_hidden") and guard.permits("read", obj)
        ]
        g.nav_objects = sorted(
            shown,
            key=lambda obj: (
                obj.definition.get("nav_order") is None,
                obj.definition.get("nav_order") or 0,
                label_of(obj.definition, "plural_label", obj.label).casefold(),
            ),
        )
    return g.nav_objects
