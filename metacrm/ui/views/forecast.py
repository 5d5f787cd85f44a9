"""The sales forecast screen (``/forecast?period=2026-Q4&by=owner|team``): a
row per owner or team with pipeline, best case, commit and closed won in
the period, the quota and the attainment, and the totals — within the
viewer's record scope (:mod:`metacrm.data.forecast.service`)."""

from __future__ import annotations

import datetime as dt

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
        choices=_choices(period, fiscal_year_start),
        previous=period.shifted(-1, fiscal_year_start).name,
        next=period.shifted(1, fiscal_year_start).name,
    )
