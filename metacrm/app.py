"""The application factory: builds one :class:`~metacrm.platform.instance.Instance`
and wires its parts into a Flask app.

The API and the screens are registered as built-in plugins through the same
``register_blueprints`` hook a third-party plugin uses. The factory does not
migrate the database: ``metacrm db upgrade`` does, once, before workers start
(``metacrm demo`` runs it too).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_htmx import HTMX

from metacrm.access.members import tenant_reads as member_tenant_reads
from metacrm.access.plugin import access_plugin
from metacrm.api import plugin as api_plugin
from metacrm.data import plugin as data_plugin
from metacrm.metadata import plugin as metadata_plugin
from metacrm.platform.config import ensure_secret_key
from metacrm.platform.instance import Instance
from metacrm.platform.sessions import SlidingSessionInterface
from metacrm.platform.web import init_web
from metacrm.plugins.collaboration.plugin import collaboration_plugin
from metacrm.plugins.surveys import surveys_plugin
from metacrm.rules.plugin import rules_plugin
from metacrm.ui import plugin as ui_plugin

BUILTIN_PLUGINS = (
    *metadata_plugin.BUILTIN,
    rules_plugin,
    access_plugin,
    *data_plugin.BUILTIN,
    collaboration_plugin,
    surveys_plugin,
    api_plugin,
    ui_plugin,
)


class JSONProvider(DefaultJSONProvider):
    """Decimals (decimal, currency, percent fields) go out as JSON numbers, as
    API clients expect; JSON numbers carry about 15 significant digits."""

    sort_keys = False  # records keep their field order
    ensure_ascii = False  # 车辆 stays readable

    @staticmethod
    def default(o):
        if isinstance(o, Decimal):
            return float(o)
        return DefaultJSONProvider.default(o)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """A compact answer (every response outside debug mode) is written by
        orjson, several times faster than the standard library on a page of
        records (issue 16), with the same text (save a float's exponent:
        ``1e-7``, not ``1e-07``). Dates and dataclasses still go through
        :meth:`default`, so they come out as before. Anything else (indented,
        the ``tojson`` filter), or a value orjson refuses (an integer beyond
        64 bits, a lone surrogate), takes the standard path."""
        if kwargs == COMPACT:
            try:
                return orjson.dumps(obj, default=self.default, option=ORJSON_OPTIONS).decode()
            except orjson.JSONEncodeError:
                pass
        return super().dumps(obj, **kwargs)


COMPACT = {"separators": (",", ":")}  # what Flask's response() asks for outside debug mode
# Dates, dataclasses and subclasses of str, int, dict and list (a MultiDict writes its
# first values) go to default(), or on to the standard library: written as before.
ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class MetacrmFlask(Flask):
    json_provider_class = JSONProvider
    session_interface = SlidingSessionInterface()


def build_instance(config: Mapping[str, Any] | None = None, *, load_entry_points: bool = True) -> Instance:
    """The instance with the built-in plugins registered (used by the CLI too)."""
    return Instance(config, builtin_plugins=BUILTIN_PLUGINS, load_entry_points=load_entry_points)


def create_app(config: Mapping[str, Any] | None = None, *, instance: Instance | None = None) -> Flask:
    """Create the Flask app. ``config`` overrides every other source
    (defaults → instance config file → ``METACRM_*`` environment)."""
    instance = instance or build_instance(config)
    settings = instance.config
    logging.basicConfig(level=settings["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    app = MetacrmFlask("metacrm", template_folder="ui/templates", static_folder="ui/static")
    app.config.update(
        SECRET_KEY=ensure_secret_key(settings),
        MAX_CONTENT_LENGTH=settings["MAX_CONTENT_LENGTH"],
        SESSION_COOKIE_NAME="metacrm_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["SESSION_COOKIE_SECURE"],
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings["SESSION_LIFETIME_HOURS"]),
        METACRM=settings,
    )
    app.extensions["metacrm"] = instance
    # A bearer request reads its tenant's head revision and its roles in the
    # token check's statement (PostgreSQL; metacrm.platform.identity).
    instance.tenant_reads = member_tenant_reads
    HTMX(app)
    init_web(app)

    for blueprints in instance.hook.register_blueprints():
        for blueprint in blueprints:
            app.register_blueprint(blueprint)
    instance.hook.app_started(app=app)
    return app
