"""The one blueprint every screen module adds its routes to (so every
endpoint is ``ui.<name>``), and flask-htmx's request helper."""

from flask import Blueprint
from flask_htmx import HTMX

blueprint = Blueprint("ui", __name__)
htmx = HTMX()
