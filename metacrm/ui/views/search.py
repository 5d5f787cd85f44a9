"""Global search (``/search?q=``): every object the user may read, searched
through the list service as its own list's ``q=`` would (the object's
``search_fields``; an object without any is searched by its name field),
a few hits per object, each group linking to the full list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import render_template, request

from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledObject
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, list_page
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of
from metacrm.ui.screens import nav_objects

SHOWN = 5  # hits shown per object
COUNTED = 20  # hits counted per object ("20+" beyond): the search stays cheap on big tables
MAX_QUERY = 200
SHOWN_FIELDS = 3  # the name and two more of the fields searched


@dataclass
class Group:
    """The hits of one object."""

    obj: CompiledObject
    label: str
    records: list[dict[str, Any]]
    fields: list[FieldType]
    name_field: str | None
    more: bool  # more than COUNTED hits
    list_url: str

    @property
    def count(self) -> int:
        return len(self.records)


def _search_args(obj: CompiledObject, readable: set[str], q: str) -> dict[str, str] | None:
    """The list arguments that search ``obj`` for ``q`` (its list page's
    spelling), or None when the user can read none of its searchable fields."""
    if any(name in readable for name in obj.search_fields):
        return {"q": q}
    if obj.name_field in readable:
        return {f"filter.{obj.name_field}[contains]": q}
    return None


def search_objects(q: str) -> list[Group]:
    guard, store = context.guard(), context.store()
    groups = []
    for obj in sorted_objects():
        readable = guard.readable_fields(obj)
        args = _search_args(obj, readable, q)
        if args is None:
            continue
        shown = [name for name in [obj.name_field, *obj.search_fields] if name in readable]
        shown = list(dict.fromkeys(shown))[:SHOWN_FIELDS]
        page = list_page(
            store,
            obj.api_name,
            ListRequest.from_args({**args, "limit": str(COUNTED), "fields": ",".join(shown)}, filter_prefix=True),
        )
        if not page.data:
            continue
        groups.append(
            Group(
                obj=obj,
                label=label_of(obj.definition, "plural_label", obj.label),
                records=page.data,
                fields=[obj.fields[name] for name in shown],
                name_field=obj.name_field if obj.name_field in readable else None,
                more=page.next_cursor is not None,
                list_url=f"/o/{obj.api_name}?{urlencode(args)}",
            )
        )
    return groups


def sorted_objects() -> list[CompiledObject]:
    """Every object the user may read, in the navigation's order first (the
    ones hidden from the navigation are still searched)."""
    navigation = nav_objects()
    rest = [
        obj
        for obj in context.model().objects.values()
        if obj not in navigation and context.guard().permits("read", obj)
    ]
    return navigation + sorted(rest, key=lambda obj: obj.api_name)


@blueprint.get("/search")
def search():
    q = request.args.get("q", "").strip()[:MAX_QUERY]
    groups = search_objects(q) if q else []
    return render_template("search/page.html", q=q, groups=groups, shown=SHOWN, counted=COUNTED)
