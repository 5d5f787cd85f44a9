"""``GET /api/v1/forecast?period=2026-Q4&by=owner|team``: the sales forecast
(pipeline, best case, commit and closed won against quotas) within the
caller's record scope. See docs/data.md#forecast."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.data.forecast.service import viewer_forecast
from metacrm.platform.settings import settings_for
from metacrm.platform.web import current_identity
from metacrm.plugins import context

blueprint = Blueprint("api_forecast", __name__, url_prefix="/api/v1/forecast")


@blueprint.get("")
def get_forecast():
    """The forecast of one month (``2026-11``) or fiscal quarter (``2026-Q4``,
    the current quarter when left out), by owner or team."""
    identity = current_identity()
    settings = settings_for(context.instance(), identity.tenant_id, identity.tenant_settings_version)
    result = viewer_forecast(
        context.store(),
        context.instance(),
        request.args.get("period"),
        request.args.get("by"),
        fiscal_year_start=int(settings.get("fiscal_year_start") or 1),
    )
    return jsonify(result.as_json())
