"""The definition kind ``dashboard`` (tenant-wide, package file ``dashboards.yaml``)."""

from __future__ import annotations

from metacrm.metadata.definitions import DefinitionErrors, schema_for
from metacrm.metadata.kinds import DefinitionKind, KindScope

# A plugin widget names its widget type; whether a plugin of the tenant
# registers it is known only with the tenant's hooks: an unknown one says so
# in the widget when it runs (metacrm.ui.plugin_screens).
NEEDS = {"chart": "report", "metric": "report", "list": "object", "plugin": "widget"}


def check_dashboard(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """Widget names are unique; each names what it shows (a report that
    exists, an object and list view that exist). Whether a viewer may see
    them is decided when a widget runs, with their guard."""
    seen: set[str] = set()
    for i, widget in enumerate(document["widgets"]):
        path = f"widgets[{i}]"
        if widget["name"] in seen:
            errors.add(f"{path}.name", f"another widget is named {widget['name']!r}")
        seen.add(widget["name"])
        kind = widget["type"]
        steps = widget.get("steps") or []
        if kind == "chart" and steps:
            if widget.get("chart", "funnel") != "funnel":
                errors.add(f"{path}.steps", "steps make a funnel: leave chart out or set it to funnel")
            for j, step in enumerate(steps):
                if scope.state.get("report", step["report"]) is None:
                    errors.add(f"{path}.steps[{j}].report", f"no report {step['report']!r}")
            continue
        needed = NEEDS[kind]
        if not widget.get(needed):
            errors.add(f"{path}.{needed}", f"a {kind} widget needs a {needed}")
            continue
        if needed == "report" and scope.state.get("report", widget["report"]) is None:
            errors.add(f"{path}.report", f"no report {widget['report']!r}")
        if kind == "metric" and widget.get("compare"):
            report = scope.state.get("report", widget.get("report", ""))
            object_name = report.document.get("object") if report is not None else None
            field = scope.state.field(object_name, widget["compare"]["field"]) if object_name else None
            if (
                object_name
                and widget["compare"]["field"] not in ("created_at", "updated_at")
                and (field is None or field.get("type") not in ("date", "datetime"))
            ):
                errors.add(f"{path}.compare.field", f"no date field {widget['compare']['field']!r} on {object_name}")
        if kind == "list":
            if scope.state.object(widget["object"]) is None:
                errors.add(f"{path}.object", f"no object {widget['object']!r}")
            elif widget.get("view"):
                views = {d.document.get("api_name") for d in scope.state.scoped("list_view", widget["object"])}
                if widget["view"] not in views:
                    errors.add(f"{path}.view", f"no list view {widget['view']!r} of {widget['object']}")


DASHBOARD = DefinitionKind(
    "dashboard",
    "dashboard",
    schema=schema_for("dashboard", "metacrm.data.dashboards"),
    check=check_dashboard,
    collection="dashboards",
    document_label="dashboard definition",
)
KINDS = (DASHBOARD,)
