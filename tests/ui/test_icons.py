"""Every icon the screens name is in the vendored sprite (an icon missing from
it renders as an empty gap): the names in templates and views, setup's
navigation and the icons an admin may choose for an object or an app."""

from __future__ import annotations

import re
from pathlib import Path

from metacrm.ui.setup import SECTIONS
from metacrm.ui.shell import ICON_SPRITE
from metacrm.ui.views.setup.apps import APP_ICONS
from metacrm.ui.views.setup.objects import OBJECT_ICONS

UI = Path(__file__).parents[2] / "metacrm" / "ui"
NAMED = re.compile(r"""icon\(\s*["']([a-z0-9-]+)["']""")


def _sprite() -> set[str]:
    return set(re.findall(r'<symbol id="([^"]+)"', (UI / "static" / ICON_SPRITE).read_text(encoding="utf-8")))


def test_every_icon_the_screens_name_is_in_the_sprite():
    named = {section.icon for section in SECTIONS} | set(OBJECT_ICONS) | set(APP_ICONS)
    for path in [*UI.rglob("*.html"), *UI.rglob("*.py")]:
        named |= set(NAMED.findall(path.read_text(encoding="utf-8")))
    missing = sorted(named - _sprite())
    assert not missing, f"not in {ICON_SPRITE} (add them to build_icons.py and rebuild): {missing}"
