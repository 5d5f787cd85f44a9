"""The start page, the user's day: the panels of list views flagged for the
home page (``home`` in a list view: crm_core flags "my activities due this
week" and "my pipeline"; an admin can flag any view), recently viewed
records, unread notifications, and for administrators the recent audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import render_template

from metacrm.metadata.definitions import Definition
from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledObject
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import BadRequest, NotFound, ValidationFailed
from metacrm.platform.web import current_identity, current_tenant
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, list_page
from metacrm.rules.automation import notifications as inbox
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of
from metacrm.ui.recent import recently_viewed
from metacrm.ui.views.notifications import record_link

ROWS = 8  # rows of a panel unless its view says otherwise
GROUPED_ROWS = 200  # records a grouped panel adds up (the store's largest page)
NOTES = 5


@dataclass
class Panel:
    """One list view on the start page: rows, or counts and sums by a picklist."""

    obj: CompiledObject
    view: str
    title: str
    columns: list[FieldType] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    name_field: str | None = None
    group_by: FieldType | None = None
    sum_field: FieldType | None = None
    groups: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)
    partial: bool = False  # more records than were read
    problem: str | None = None  # why the view cannot be shown

    @property
    def list_url(self) -> str:
        return f"/o/{self.obj.api_name}?view={self.view}"


def home_views() -> list[tuple[Definition, CompiledObject]]:
    """The list views flagged ``home`` of objects the user may read, in their order."""
    model, guard = context.model(), context.guard()
    found = []
    for definition in model.definitions.live("list_view"):
        obj = model.object(definition.key.split(".", 1)[0])
        if definition.document.get("home") and obj is not None and guard.permits("read", obj):
            found.append((definition, obj))
    return sorted(found, key=lambda item: (item[0].document["home"].get("order", 0), item[0].key))


def build_panel(definition: Definition, obj: CompiledObject) -> Panel:
    document, home = definition.document, definition.document["home"]
    readable = context.guard().readable_fields(obj)
    panel = Panel(obj=obj, view=document["api_name"], title=label_of(document, "label", document["api_name"]))
    group_name, sum_name = home.get("group_by"), home.get("sum")
    if group_name in readable and callable(getattr(obj.fields[group_name], "choices", None)):
        return _grouped(panel, obj, home, group_name, sum_name if sum_name in readable else None)
    panel.name_field = obj.name_field if obj.name_field in readable else None
    names = [n for n in dict.fromkeys([panel.name_field, *document["columns"]]) if n in readable]
    panel.columns = [obj.fields[n] for n in names if n != panel.name_field]
    page = list_page(
        context.store(), obj.api_name, _request(home, view=panel.view, fields=names, limit=home.get("limit", ROWS))
    )
    panel.records, panel.partial = page.data, page.next_cursor is not None
    return panel


def _request(home: dict, **arguments) -> ListRequest:
    """The panel's list request: the view's, narrowed to the user's own records when ``mine``."""
    mine = (("owner_id", "eq", current_identity().user_id),) if home.get("mine") else ()
    return ListRequest(filters=mine, **arguments)


def _grouped(panel: Panel, obj: CompiledObject, home: dict, group_name: str, sum_name: str | None) -> Panel:
    """Counts (and sums) per value of the picklist, in the picklist's order."""
    panel.group_by = obj.fields[group_name]
    panel.sum_field = obj.fields[sum_name] if sum_name else None
    fields = [group_name] + ([sum_name] if sum_name else [])
    page = list_page(context.store(), obj.api_name, _request(home, view=panel.view, fields=fields, limit=GROUPED_ROWS))
    by_value: dict[Any, dict[str, Any]] = {}
    for record in page.data:
        group = by_value.setdefault(record[group_name], {"value": record[group_name], "count": 0, "sum": Decimal(0)})
        group["count"] += 1
        if sum_name and record.get(sum_name) is not None:
            group["sum"] += Decimal(str(record[sum_name]))
    order = [choice["value"] for choice in panel.group_by.choices()]
    panel.groups = sorted(
        by_value.values(), key=lambda g: order.index(g["value"]) if g["value"] in order else len(order)
    )
    panel.total = {"count": len(page.data), "sum": sum((g["sum"] for g in panel.groups), Decimal(0))}
    panel.partial = page.next_cursor is not None
    return panel


def _panel_or_problem(definition: Definition, obj: CompiledObject) -> Panel:
    """A list view an admin broke (a filter naming a removed field...) spoils its panel, not the page."""
    try:
        return build_panel(definition, obj)
    except (BadRequest, NotFound, ValidationFailed) as exc:
        document = definition.document
        return Panel(
            obj=obj,
            view=document["api_name"],
            title=label_of(document, "label", document["api_name"]),
            problem=exc.message,
        )


@blueprint.get("/")
def home():
    identity = current_identity()
    is_admin = context.guard().may("manage_access")
    entries = []
    if is_admin:
        with current_tenant().connect() as conn:
            entries = [dict(e, when=datetime.fromisoformat(e["at"])) for e in audit.entries(conn, limit=10)]
    notes = inbox.page(current_tenant(), identity.user_id, limit=NOTES, unread_only=True) if identity.user_id else None
    return render_template(
        "home/page.html",
        panels=[_panel_or_problem(definition, obj) for definition, obj in home_views()],
        recent=recently_viewed(identity.user_id) if identity.user_id else [],
        notes=notes,
        record_link=record_link,
        can_see_audit=is_admin,
        audit_entries=entries,
        now=utcnow(),
    )
