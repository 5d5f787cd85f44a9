"""Languages, time zones and formatting of the screens (flask-babel).

The language is the user's setting, else the browser's ``Accept-Language``,
else the tenant's default; the time zone the user's, else the tenant's.
Metadata labels come from the definition's ``translations`` for the
language (fallback: the label). UI strings are marked with ``_()`` in
Python and templates and live in ``metacrm/ui/translations``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel import Locale, support
from flask import Flask, g, request
from flask_babel import Babel, Domain, get_locale
from flask_babel import _get_current_context as babel_context

from metacrm.platform.identity import LOCALES
from metacrm.platform.settings import settings_for
from metacrm.plugins import context

babel = Babel()


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "ui/translations")
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_time_zone)
    babel.domain_instance = CatalogDomain()  # replaces flask-babel's cached default domain
    app.jinja_env.globals.update(label_of=label_of, locale_name=locale_name, LOCALES=LOCALES)


class CatalogDomain(Domain):
    """flask-babel looks catalogs up by ``str(Locale)``, which Babel spells
    "zh_Hans_CN" for zh_CN: no catalog is found under ``zh_CN``. This domain
    looks them up by language and territory, as they are stored."""

    def get_translations(self):
        # A page asks for ~200 strings: keep the request's catalog beside its locale
        # (flask-babel's request namespace) rather than looking both up each time.
        request_babel = babel_context()
        if request_babel is None:
            return support.NullTranslations()
        locale = getattr(request_babel, "babel_locale", None) or get_locale()
        cached = getattr(request_babel, "metacrm_catalog", None)
        if cached is not None and cached[0] is locale:
            return cached[1]
        name = catalog_name(locale)
        if name not in self.cache:
            self.cache[name] = support.Translations.load(self.translation_directories[0], [name], self.domain[0])
        request_babel.metacrm_catalog = (locale, self.cache[name])
        return self.cache[name]


def catalog_name(locale: Locale) -> str:
    """ "zh_CN" for zh_Hans_CN: the name of catalogs and metadata translations."""
    return f"{locale.language}_{locale.territory}" if locale.territory else locale.language


def tenant_preferences() -> Mapping[str, Any]:
    """The signed-in user's tenant settings (at the version read with the identity)."""
    if "tenant_preferences" not in g:
        identity = g.get("identity")
        g.tenant_preferences = (
            settings_for(context.instance(), identity.tenant_id, identity.tenant_settings_version) if identity else {}
        )
    return g.tenant_preferences


def select_locale() -> str:
    identity = g.get("identity")
    if identity is not None and identity.locale in LOCALES:
        return identity.locale
    browser = request.accept_languages.best_match(LOCALES + ("zh", "zh-CN"))
    if browser:
        return "zh_CN" if browser.startswith("zh") else browser
    return tenant_preferences().get("default_locale", "en")


def select_time_zone() -> str:
    identity = g.get("identity")
    if identity is not None and identity.time_zone:
        return identity.time_zone
    return tenant_preferences().get("default_time_zone", "UTC")


def locale_name() -> str:
    """The current language as the metadata translations key it ("zh_CN")."""
    locale = get_locale()
    return catalog_name(locale) if locale is not None else "en"


def label_of(definition: Mapping[str, Any] | None, key: str = "label", default: str = "") -> str:
    """A definition's ``key`` (label, plural_label, help...) in the current
    language: its translation, else the text itself, else ``default``.
    Translations are either {"zh_CN": {"label": …}} or, for section and
    related-list labels, {"zh_CN": "…"}."""
    if not definition:
        return default
    translated = (definition.get("translations") or {}).get(locale_name())
    if isinstance(translated, str) and key == "label":
        return translated or definition.get(key) or default
    if isinstance(translated, Mapping) and translated.get(key):
        return translated[key]
    return definition.get(key) or default
