"""The audit log with filters and CSV export (manage_access) and the
organisation's settings: name, default language, currency, time zone and
fiscal year start, through the settings service (audited). The plugins
screen is :mod:`metacrm.ui.views.setup.plugins`."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import available_timezones

import flask_babel
from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.platform import audit
from metacrm.platform import settings as tenant_settings
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.tenancy import rename_tenant
from metacrm.platform.web import current_actor, current_identity, current_tenant
from metacrm.plugins import context
from metacrm.ui.setup import ACCESS, field_errors, setup_route

AUDIT_PAGE = 50
CSV_PAGE = 500
API_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
AUDIT_FILTERS = ("who", "action", "object", "record", "from", "to")


# -- the audit log ----------------------------------------------------------------------------------


def _day(name: str, text: str, errors: dict) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = [_("A date like 2026-01-31")]
        return None


def audit_filters(args) -> tuple[dict, dict, dict[str, list[str]]]:
    """The filters in the query (as typed, for the form) and as
    :func:`audit.entries` takes them; problems by filter name."""
    typed = {name: (args.get(name) or "").strip() for name in AUDIT_FILTERS}
    errors: dict[str, list[str]] = {}
    query: dict = {}
    if typed["who"]:
        query["actor_email"] = typed["who"]
    if typed["action"]:
        query["action"] = typed["action"]
    if typed["object"]:
        if API_NAME.match(typed["object"]):
            query["object"] = typed["object"]
        else:
            errors["object"] = [_("An object's api name, like account")]
    if typed["record"]:
        query["record_id"] = typed["record"]
    start, end = _day("from", typed["from"], errors), _day("to", typed["to"], errors)
    # Whole days of the user's time zone, compared in UTC.
    if start:
        query["since"] = flask_babel.to_utc(datetime.combine(start, time.min))
    if end:
        query["until"] = flask_babel.to_utc(datetime.combine(end + timedelta(days=1), time.min))
    if start and end and end < start:
        errors["to"] = [_("The end comes before the start")]
    return typed, query, errors


@setup_route("/setup/audit", ACCESS)
def setup_audit():
    """The audit log, newest first: filters by who, action, object, record
    and day span; pages of 50; the filtered log as CSV."""
    typed, query, errors = audit_filters(request.args)
    rows, more = [], None
    if not errors:
        before = request.args.get("before", type=int)
        with current_tenant().connect() as conn:
            rows = audit.entries(conn, limit=AUDIT_PAGE, before_id=before if before and before > 0 else None, **query)
        more = rows[-1]["id"] if len(rows) == AUDIT_PAGE else None
    filters = {name: value for name, value in typed.items() if value}
    page = render_template(
        "setup/governance/audit.html", rows=rows, more=more, typed=typed, filters=filters, errors=errors
    )
    return page, 422 if errors else 200


def _details(value) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@setup_route("/setup/audit/export", ACCESS)
def setup_audit_export():
    """The filtered audit log as CSV, streamed page by page (never all in memory)."""
    _typed, query, errors = audit_filters(request.args)
    if errors:
        raise ValidationFailed(_("The filters are not valid"), details={"fields": errors})
    tenant = current_tenant()
    columns = ("id", "at", "actor_email", "action", "object", "record_id", "ip", "request_id", "details")

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        out.write("\ufeff")  # Excel reads UTF-8 (Chinese labels) only with the BOM
        writer.writerow(columns)
        before = None
        while True:
            with tenant.connect() as conn:
                rows = audit.entries(conn, limit=CSV_PAGE, before_id=before, **query)
            for row in rows:
                writer.writerow([_details(row[c]) if c == "details" else _cell(row[c]) for c in columns])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(rows) < CSV_PAGE:
                return
            before = rows[-1]["id"]

    response = Response(stream_with_context(lines()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{tenant.slug}.csv"'
    return response


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# -- the organisation's settings ----------------------------------------------------------------------

SETTING_NAMES = ("default_locale", "currency", "default_time_zone", "fiscal_year_start")
LANGUAGES = (("en", "English"), ("zh_CN", "中文（简体）"))
CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP", "SGD", "TWD", "KRW", "AUD", "CAD", "CHF")
MONTHS = (
    lazy_gettext("January"),
    lazy_gettext("February"),
    lazy_gettext("March"),
    lazy_gettext("April"),
    lazy_gettext("May"),
    lazy_gettext("June"),
    lazy_gettext("July"),
    lazy_gettext("August"),
    lazy_gettext("September"),
    lazy_gettext("October"),
    lazy_gettext("November"),
    lazy_gettext("December"),
)


def _settings_page(values: dict, errors: dict, status: int = 200):
    return render_template(
        "setup/governance/settings.html",
        values=values,
        errors=errors,
        languages=LANGUAGES,
        currencies=[(c, c) for c in sorted(set(CURRENCIES) | {values.get("currency") or "CNY"})],
        months=[(i + 1, month) for i, month in enumerate(MONTHS)],
        time_zones=sorted(available_timezones()),
    ), status


@setup_route("/setup/settings", ACCESS, methods=["GET", "POST"])  # as PATCH /api/v1/auth/settings
def setup_settings():
    """Name, default language, currency, time zone and fiscal year start."""
    instance, identity = context.instance(), current_identity()
    current = tenant_settings.tenant_settings_of(instance, identity.tenant_id)
    if request.method == "GET":
        return _settings_page({"name": current_tenant().name, **{k: current[k] for k in SETTING_NAMES}}, {})
    form = {name: (request.form.get(name) or "").strip() for name in ("name", *SETTING_NAMES)}
    changes: dict = {k: form[k] for k in ("default_locale", "currency", "default_time_zone")}
    changes["currency"] = changes["currency"].upper()
    month = form["fiscal_year_start"]
    changes["fiscal_year_start"] = int(month) if month.isdigit() else month
    changes = {k: v for k, v in changes.items() if v != current.get(k)}
    errors: dict[str, list[str]] = {}
    name = form["name"]
    if not name or len(name) > 200:
        errors["name"] = [_("A name of 1 to 200 characters")]
    try:
        # Checked whole before anything is written (the service refuses all or nothing).
        problems = {k: [p] for k, v in changes.items() if (p := tenant_settings.SETTINGS[k].problem(v))}
        if problems or errors:
            raise ValidationFailed("invalid settings", details={"fields": {**problems, **errors}})
        if changes:
            tenant_settings.update_tenant_settings(instance, identity.tenant_slug, changes, actor=current_actor())
        rename_tenant(instance, identity.tenant_slug, name, actor=current_actor())
    except ValidationFailed as exc:
        return _settings_page(form, field_errors(exc), 422)
    flash(_("The organisation's settings are saved."), "success")
    return redirect(url_for("ui.setup_settings"))
