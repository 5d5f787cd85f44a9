"""The shell around every screen: what the base template needs (the app
navigation, the user's other tenants, the unread count) and the Jinja
helpers every template shares (``icon``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, url_for
from markupsafe import Markup, escape

from metacrm.ui.screens import nav_objects

ICON_SPRITE = "vendor/icons-1.13.1.svg"


def init_shell(app: Flask) -> None:
    app.context_processor(_shell_context)
    app.jinja_env.globals.update(icon=icon)


def icon(name: str, label: str | None = None) -> Markup:
    """An icon of the sprite; decorative unless ``label`` names it."""
    href = f"{url_for('static', filename=ICON_SPRITE)}#{escape(name)}"
    accessible = f'role="img" aria-label="{escape(label)}"' if label else 'aria-hidden="true"'
    return Markup(f'<svg class="bi" {accessible} focusable="false"><use href="{href}"></use></svg>')


def _shell_context() -> dict[str, Any]:
    if g.get("identity") is None or g.identity.two_factor_pending:
        return {"nav": []}
    return {"nav": nav_objects()}
