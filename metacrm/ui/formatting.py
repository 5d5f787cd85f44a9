"""Values shown in the user's language and time zone (flask-babel): numbers,
currency amounts (in the field's currency, else the tenant's ``currency``
setting), percentages, dates and date-times; and the date-time text of a
``datetime-local`` control, which is in the user's time zone both ways.

The widget templates use these as Jinja filters (``value|l10n_number(2)``).
A value that does not parse (a draft the user is still typing) is shown as
it is, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from typing import Any

import flask_babel
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Flask
from markupsafe import Markup, escape

from metacrm.plugins import context
from metacrm.ui.i18n import label_of, locale_name, tenant_preferences

LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> shows and posts


def init_formatting(app: Flask) -> None:
    app.jinja_env.filters.update(
        l10n_number=number,
        l10n_currency=currency,
        l10n_percent=percent,
        l10n_date=day,
        l10n_datetime=moment,
        l10n_ago=ago,
        datetime_input=datetime_input,
        field_label=field_label,
        sentence=sentence,
        role_label=role_label,
    )
    app.jinja_env.globals.update(
        role_labels=role_labels, my_manager=my_manager, **{f"show_{name}": show for name, show in DISPLAYS.items()}
    )


def role_label(name: str) -> str:
    """A role as people call it, in their language: its label in the access
    policy ("Sales representative", "销售代表"), else its API name made readable
    ("key_accounts" → "Key accounts"); never ``sales_rep``."""
    role = context.guard().policy.roles.get(name)
    if role is not None and role.translations.get(locale_name()):
        return role.translations[locale_name()]
    label = role.label if role is not None and role.label else name.replace("_", " ").strip().capitalize()
    return flask_babel.gettext(label)


def my_manager() -> str | None:
    """Who the signed-in user reports to, as "Name <e-mail>" (the account page)."""
    from metacrm.access.members import managers_of, tenant_members
    from metacrm.platform.web import current_tenant

    binding = current_tenant()
    user_id = context.guard().user_id
    with binding.connect() as conn:
        manager_id = managers_of(conn).get(user_id)
    if manager_id is None:
        return None
    member = tenant_members(context.instance(), binding).get(manager_id)
    if member is None:
        return None
    return f"{member['display_name']} <{member['email']}>" if member["display_name"] else member["email"]


def role_labels() -> list[str]:
    """The signed-in user's roles by label (the account page, the start page)."""
    return sorted((role_label(name) for name in context.guard().roles), key=str.casefold)


def sentence(message: Any) -> str:
    """A message of the store, a field type or the screens as the user reads
    it: in their language when the catalog has it, its first letter a
    capital ("is required" → "Is required", "为必填项"). The one helper for
    every field message the screens show (forms, cells, bulk edit, board);
    the API's JSON keeps the messages as they are."""
    text = str(message or "")
    if not text:
        return text
    text = flask_babel.gettext(text)
    return text[:1].upper() + text[1:]


def field_label(field) -> str:
    """A bound field's label in the user's language (its API name if it has none)."""
    return label_of(field.definition, "label", field.api_name)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _pattern(scale: int | None) -> str:
    return "#,##0" + ("." + "0" * scale if scale else "")


# Each formatter takes the language as ``locale`` when its caller has it
# already (a list page binds it once per column: bound_display); else it asks
# flask-babel, which costs more than the formatting of a cached value.


def number(value: Any, scale: int | None = None, *, locale: str | None = None) -> str:
    """``1234.5`` → "1,234.50" (scale 2) in English."""
    amount = _decimal(value)
    if amount is None:
        return str(value)
    return _formatted("decimal", str(amount), _pattern(scale) if scale is not None else None, locale or _locale())


def currency(value: Any, code: str | None = None, *, locale: str | None = None) -> str:
    """An amount with its currency sign ("¥1,234.50" in Chinese)."""
    amount = _decimal(value)
    if amount is None:
        return str(value)
    code = code or tenant_preferences().get("currency") or "CNY"
    return _formatted("currency", str(amount), code, locale or _locale())


def percent(value: Any, *, locale: str | None = None) -> str:
    """``12.5`` (meaning 12.5 %) → "12.5%"."""
    amount = _decimal(value)
    if amount is None:
        return str(value)
    return _formatted("percent", str(amount / 100), "#,##0.##%", locale or _locale())


def _locale() -> str:
    locale = flask_babel.get_locale()
    return "en" if locale is None else _locale_text(locale)


@lru_cache(maxsize=64)
def _locale_text(locale) -> str:
    # str(Locale) rebuilds the identifier on every call; a list page asks ~50 times.
    return str(locale)


# A list page formats ~100 values; Babel parses its pattern anew for each. The
# text depends only on the value, the pattern or currency and the language, so
# it is kept (per process, bounded): the same amounts and dates recur page after page.
@lru_cache(maxsize=8192)
def _formatted(kind: str, value: Any, spec: str | None, locale: str) -> str:
    """``value``: a decimal as text (1.0 and 1.00 are equal keys, not equal texts) or a date."""
    if kind != "date":
        value = Decimal(value)
    if kind == "currency":
        return babel_numbers.format_currency(value, spec, locale=locale)
    if kind == "decimal":
        return babel_numbers.format_decimal(value, format=spec, locale=locale)
    if kind == "percent":
        return babel_numbers.format_percent(value, format=spec, locale=locale)
    return babel_dates.format_date(value, spec, locale=locale)


def day(value: Any, *, locale: str | None = None) -> str:
    """An ISO date in the user's language ("3 Dec 2026", "2026年12月3日")."""
    try:
        parsed = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    if isinstance(parsed, datetime):  # flask-babel moves it to the user's time zone first
        return flask_babel.format_date(parsed, "medium")
    return _formatted("date", parsed, "medium", locale or _locale())


def _aware(value: Any) -> datetime | None:
    """A date-time with its zone: a naive ``datetime`` read from the database
    is UTC (SQLite drops the zone); naive text is the user's local time (a draft)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=flask_babel.get_timezone())


def moment(value: Any) -> str:
    """An ISO date-time (or a ``datetime``), in the user's time zone and
    language, to the minute: the one date-time format of the screens
    ("3 Dec 2026 14:05", "2026年12月3日 14:05")."""
    parsed = _aware(value)
    if parsed is None:
        return str(value)
    local = flask_babel.to_user_timezone(parsed)
    return f"{flask_babel.format_date(local, 'medium')} {flask_babel.format_time(local, 'short')}"


def ago(value: Any, now: datetime | None = None) -> Markup:
    """A ``<time>`` saying how long ago ``value`` was ("3 hours ago", "3小时前"),
    the exact date-time in its ``datetime`` and ``title``: for timelines and
    feeds. Older than a week, the date-time itself."""
    parsed = _aware(value)
    if parsed is None:
        return Markup.escape(str(value))
    exact = moment(parsed)
    delta = parsed - (now or datetime.now(UTC))
    if abs(delta) > timedelta(days=7):
        shown = exact
    elif abs(delta) < timedelta(minutes=1):
        shown = flask_babel.gettext("just now")
    else:
        shown = flask_babel.format_timedelta(delta, add_direction=True, threshold=1)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(parsed.isoformat(), exact, shown)


# The display of the plain field types, in Python: the widget macros call
# these (``show_currency(field, value)``), and a list page calls them directly
# for its ~150 cells rather than through a macro each (listing.display_function).
# (f-strings of escaped parts: Markup.format costs more than the formatting itself)
def _shown(css: str, text: str) -> Markup:
    return Markup(f'<span class="{css}">{escape(text)}</span>')


def _time(value, text: str) -> Markup:
    return Markup(f'<time datetime="{escape(value)}">{escape(text)}</time>')


def _show_number(field, value, locale: str | None = None) -> Markup:
    if value is None:
        return Markup("")
    return _shown("number", number(value, getattr(field, "scale", None) or 0, locale=locale))


def _show_currency(field, value, locale: str | None = None) -> Markup:
    if value is None:
        return Markup("")
    return _shown("number", currency(value, field.options.get("currency"), locale=locale))


def _show_percent(field, value, locale: str | None = None) -> Markup:
    return Markup("") if value is None else _shown("number", percent(value, locale=locale))


def _show_date(field, value, locale: str | None = None) -> Markup:
    return _time(value, day(value, locale=locale)) if value else Markup("")


def _show_datetime(field, value, locale: str | None = None) -> Markup:
    return _time(value, moment(value)) if value else Markup("")


def _show_text(field, value, locale: str | None = None) -> Markup:
    return Markup("") if value is None else Markup.escape(value)


DISPLAYS = {
    "number": _show_number,
    "currency": _show_currency,
    "percent": _show_percent,
    "date": _show_date,
    "datetime": _show_datetime,
    "text": _show_text,
}


def bound_display(kind: str) -> Callable[[Any, Any], Markup]:
    """``DISPLAYS[kind]`` with the user's language read now, once: a list
    page shows ~25 values a column, and asking flask-babel for the language
    per value cost more than formatting it."""
    return partial(DISPLAYS[kind], locale=_locale())


def datetime_input(value: Any) -> str:
    """A stored (UTC) date-time as the user's local ``YYYY-MM-DDTHH:MM``;
    text that is not a date-time stays as typed."""
    if value in (None, ""):
        return ""
    text = str(value)
    if "+" not in text[10:] and not text.endswith("Z") and "-" not in text[10:]:
        return text[:16]  # already local (a draft sent back)
    parsed = _aware(value)
    if parsed is None:
        return text
    return flask_babel.to_user_timezone(parsed).strftime(LOCAL_INPUT)


def local_to_utc(text: str) -> str:
    """A ``datetime-local`` text (the user's zone) as an ISO date-time in UTC;
    text that does not parse is returned for the field type to refuse."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if parsed.tzinfo is not None:
        return parsed.isoformat()
    return flask_babel.to_utc(parsed).isoformat() + "+00:00"
