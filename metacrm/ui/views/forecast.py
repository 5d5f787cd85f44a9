"""The sales forecast screen (``/forecast?period=2026-Q4&by=owner|team``): a
row per owner or team with pipeline, best case, commit and closed won in
the period, the quota and the attainment, and the totals — within the
viewer's record scope (:mod:`metacrm.data.forecast.service`)."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

from flask import render_template, request
from flask_babel import format_currency, format_decimal
from flask_babel import gettext as _

from metacrm.data.forecast.service import CATEGORIES, parse_period, viewer_forecast
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.settings import settings_for
from metacrm.platform.web import current_identity
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint

# Quarters offered before and after the current one in the period picker.
QUARTERS_AROUND = 4


def _settings():
    identity = current_identity()
    return settings_for(context.instance(), identity.tenant_id, identity.tenant_settings_version)


def _category_labels() -> dict[str, str]:
    return {
        "pipeline": _("Pipeline"),
        "best_case": _("Best case"),
        "commit": _("Commit"),
        "closed": _("Closed won"),
    }


def _choices(current, fiscal_year_start: int) -> list[tuple[str, str]]:
    """The picker's periods: quarters around today's, and the months of the shown quarter."""
    today = parse_period(None, fiscal_year_start, today=dt.date.today())
    quarters = [today.shifted(step, fiscal_year_start) for step in range(-QUARTERS_AROUND, QUARTERS_AROUND + 1)]
    shown = current if current.kind == "quarter" else None
    if shown is None:
        shown = parse_period(None, fiscal_year_start, today=current.start)
    if shown.name not in {q.name for q in quarters}:
        quarters.append(shown)
    choices = []
    for quarter in sorted(quarters, key=lambda p: p.start):
        choices.append((quarter.name, quarter.name))
        if quarter.name == shown.name:
            start = quarter.start
            for step in range(3):
                month = start.month + step
                year = start.year + (month - 1) // 12
                name = f"{year:04d}-{(month - 1) % 12 + 1:02d}"
                choices.append((name, "\u2003" + name))
    return choices


# Series colours of the chart, as crm_core's forecast category picklist has them.
COLORS = {"pipeline": "#0284c7", "best_case": "#2563eb", "commit": "#d97706", "closed": "#16a34a"}


def records_url(period, owner_id=None) -> str:
    """The opportunity list of the deals behind a row: closing in the period (and the owner's)."""
    args = {"filter.close_date[gte]": period.start.isoformat(), "filter.close_date[lte]": period.last_day.isoformat()}
    if owner_id is not None:
        args["filter.owner_id"] = str(owner_id)
    return "/o/opportunity?" + urlencode(args)


def chart_options(result, labels: dict[str, str]) -> str:
    """ECharts options (JSON, for charts.js) of a stacked bar per row, the quota as a marker line."""
    rows = result.rows
    links = [records_url(result.period, row.key if result.by == "owner" else None) for row in rows]
    series = [
        {
            "name": labels[name],
            "type": "bar",
            "stack": "forecast",
            "barMaxWidth": 64,
            "itemStyle": {"color": COLORS[name]},
            "data": [{"value": float(row.amounts[name]), "url": link} for row, link in zip(rows, links, strict=True)],
        }
        for name in reversed(CATEGORIES)
    ]
    if result.quotas_visible:
        series.append(
            {
                "name": _("Quota"),
                "type": "scatter",
                "symbol": "rect",
                "symbolSize": [28, 3],
                "itemStyle": {"color": "#dc2626"},
                "data": [None if row.quota is None else float(row.quota) for row in rows],
            }
        )
    options = {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 40, "containLabel": True},
        "xAxis": {"type": "category", "data": [row.label for row in rows]},
        "yAxis": {"type": "value"},
        "series": series,
    }
    return json.dumps(options, ensure_ascii=False)


@blueprint.get("/forecast")
def forecast_page():
    """The forecast of a period for the signed-in user's scope."""
    settings = _settings()
    fiscal_year_start = int(settings.get("fiscal_year_start") or 1)
    by = request.args.get("by") or "owner"
    if by not in ("owner", "team"):
        by = "owner"
    error = None

    def run(period_text):
        return viewer_forecast(
            context.store(),
            context.instance(),
            period_text,
            by,
            fiscal_year_start=fiscal_year_start,
            no_team_label=_("No team"),
        )

    try:
        result = run(request.args.get("period"))
    except ValidationFailed as exc:
        if "period" not in (exc.details or {}).get("fields", {}):
            raise
        error = _("Choose a quarter like 2026-Q4 or a month like 2026-11.")
        result = run(None)
    currency = settings.get("currency") or "CNY"
    period = result.period

    def money(value):
        return "—" if value is None else format_currency(value, currency)

    def percent(value):
        return "—" if value is None else format_decimal(value, format="#,##0.0") + "%"

    return render_template(
        "forecast/forecast.html",
        forecast=result,
        categories=CATEGORIES,
        category_labels=_category_labels(),
        money=money,
        percent=percent,
        by=by,
        error=error,
        chart=chart_options(result, _category_labels()) if result.rows else None,
        records_url=records_url,
        choices=_choices(period, fiscal_year_start),
        previous=period.shifted(-1, fiscal_year_start).name,
        next=period.shifted(1, fiscal_year_start).name,
    )
