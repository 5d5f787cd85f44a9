"""Dashboards (``/dashboards``, ``/dashboards/<name>``): a grid of widgets,
each loaded on its own through htmx (``/dashboards/<name>/widgets/<widget>``)
so one slow widget does not hold up the page. Charts are ECharts options in
a data attribute (``static/js/charts.js`` draws them); a click on a data
point opens the records behind it. Every widget runs its report with the
viewer's record store (:mod:`metacrm.data.dashboards.service`)."""

from __future__ import annotations

import json

from flask import render_template, request
from flask_babel import format_currency, format_decimal
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from metacrm.data.dashboards import service
from metacrm.data.reports.service import options_for
from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed
from metacrm.platform.settings import settings_for
from metacrm.platform.web import current_identity
from metacrm.plugins import context
from metacrm.plugins.records import list_page
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import locale_name
from metacrm.ui.listing import display_macro, listing
from metacrm.ui.plugin_screens import widget_html


def _settings():
    identity = current_identity()
    return settings_for(context.instance(), identity.tenant_id, identity.tenant_settings_version)


def _locale() -> str | None:
    return locale_name()


def _label(document: dict, key: str) -> str:
    return service.translated(document, key, _locale())


@blueprint.get("/dashboards")
def dashboards():
    """The dashboards the user sees."""
    found = service.dashboards_for(context.model(), context.guard())
    return render_template("dashboards/index.html", dashboards=found, label=_label)


@blueprint.get("/dashboards/<name>")
def dashboard_page(name: str):
    """One dashboard: its grid, each widget a placeholder htmx fills."""
    document = service.find(context.model(), context.guard(), name)
    return render_template(
        "dashboards/dashboard.html",
        dashboard=document,
        widgets=service.widgets(document),
        others=service.dashboards_for(context.model(), context.guard()),
        label=_label,
    )


@blueprint.get("/dashboards/<name>/widgets/<widget>")
def dashboard_widget(name: str, widget: str):
    """One widget's content (an htmx fragment, or a page of its own without JavaScript)."""
    document = service.find(context.model(), context.guard(), name)
    found = service.widget_of(document, widget)
    settings = _settings()
    options = options_for(settings, _locale())
    values = {"widget": found, "dashboard": document, "label": _label, "error": None}
    try:
        if found["type"] == "chart":
            labels = service.Labels(blank=_("(blank)"), rate=_("Conversion rate (%)"), value=_("Value"))
            chart = service.chart_options(context.store(), found, options, labels)
            values["chart"] = json.dumps(chart, ensure_ascii=False, default=float)
        elif found["type"] == "metric":
            values["metric"] = service.metric(context.store(), found, options)
            values["shown"] = _metric_text(values["metric"], found, settings.get("currency") or "CNY")
        elif found["type"] == "plugin":
            values["plugin_html"] = widget_html(found)
        else:
            values.update(_list_values(found))
    except (ValidationFailed, Forbidden, NotFound) as exc:
        values["error"] = exc.message if hasattr(exc, "message") else str(exc)
    fragment = request.headers.get("HX-Request") == "true"
    return render_template("dashboards/_widget.html" if fragment else "dashboards/widget.html", **values)


def _metric_text(metric: service.Metric, widget: dict, currency: str) -> str:
    shown = widget.get("format") or ("currency" if metric.value_type == "currency" else "number")
    if shown == "currency":
        return format_currency(metric.value, currency)
    if shown == "percent":
        return format_decimal(metric.value, format="#,##0.0") + "%"
    return format_decimal(metric.value, format="#,##0.##")


def _list_values(widget: dict) -> dict:
    """A list view's first rows, as the list screen reads them."""
    obj = context.model().object(widget["object"])
    if obj is None:
        raise NotFound(f"no object {widget['object']!r}")
    context.guard().require("read", obj)
    args = MultiDict({"view": widget["view"]} if widget.get("view") else {})
    current = listing(obj, args, page_size=widget.get("rows") or 5)
    page = list_page(context.store(), obj.api_name, current.request)
    columns = [(f, display_macro(f)) for f in current.columns[:4]]
    url = f"/o/{obj.api_name}" + (f"?view={widget['view']}" if widget.get("view") else "")
    return {"obj": obj, "records": page.data, "columns": columns, "list_url": url, "more": bool(page.next_cursor)}


__all__ = ["dashboard_page", "dashboard_widget", "dashboards"]


@blueprint.app_template_global("default_dashboard")
def default_dashboard() -> dict | None:
    """The dashboard the home page links to: the first whose ``default_for`` names one of the user's roles."""
    try:
        return service.default_for(context.model(), context.guard())
    except Exception:  # the home page never fails for a link  # noqa: BLE001
        return None
