"""``/api/v1/dashboards``: the dashboards the caller sees, and each widget's
data as the screens draw it — computed with the caller's record store, so
within their scope and field access. See docs/data.md#dashboards."""

from __future__ import annotations

from flask import Blueprint, jsonify

from metacrm.data.dashboards import service
from metacrm.data.reports.service import options_for
from metacrm.platform.settings import settings_for
from metacrm.platform.web import current_identity
from metacrm.plugins import context
from metacrm.plugins import widgets as plugin_widgets
from metacrm.plugins.records import ListRequest, list_page, page_body

blueprint = Blueprint("api_dashboards", __name__, url_prefix="/api/v1/dashboards")


@blueprint.get("")
def list_dashboards():
    """The dashboards the caller sees: api name, label, description, widgets' names and types."""
    found = service.dashboards_for(context.model(), context.guard())
    return jsonify({"data": [_summary(d) for d in found]})


@blueprint.get("/<name>")
def get_dashboard(name):
    """One dashboard's definition (its widgets in grid order)."""
    document = service.find(context.model(), context.guard(), name)
    return jsonify({**document, "widgets": service.widgets(document)})


@blueprint.get("/<name>/widgets/<widget>")
def widget_data(name, widget):
    """One widget's data: ECharts ``options`` of a chart, ``value``/``previous``/``change``
    of a metric, the first ``data`` rows of a list."""
    document = service.find(context.model(), context.guard(), name)
    found = service.widget_of(document, widget)
    identity = current_identity()
    settings = settings_for(context.instance(), identity.tenant_id, identity.tenant_settings_version)
    options = options_for(settings, getattr(identity, "locale", None))
    body: dict = {"name": found["name"], "type": found["type"], "title": found["title"]}
    if found["type"] == "chart":
        body["options"] = service.chart_options(context.store(), found, options)
    elif found["type"] == "metric":
        metric = service.metric(context.store(), found, options)
        body.update(
            value=metric.value,
            previous=metric.previous,
            change=metric.change,
            url=metric.url,
            value_type=metric.value_type,
            period=[day.isoformat() for day in metric.period] if metric.period else None,
        )
    elif found["type"] == "plugin":
        body["data"] = plugin_widgets.widget_data(found)
    else:
        request = ListRequest(view=found.get("view"), limit=found.get("rows") or 5)
        body.update(page_body(list_page(context.store(), found["object"], request)))
    return jsonify(body)


def _summary(document: dict) -> dict:
    return {
        "api_name": document["api_name"],
        "label": document["label"],
        "description": document.get("description"),
        "widgets": [{"name": w["name"], "type": w["type"], "title": w["title"]} for w in service.widgets(document)],
    }
