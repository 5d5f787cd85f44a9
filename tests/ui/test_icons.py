"""Every icon the screens name is in the sprite (static/vendor/icons-*.svg,
built by build_icons.py): a missing one renders as an empty square."""

from __future__ import annotations

import re
from pathlib import Path

from metacrm.ui.setup import SECTIONS
from metacrm.ui.shell import ICON_SPRITE
from metacrm.ui.views.records import ACTIVITY_ICONS, CHANGE_ICONS
from metacrm.ui.views.setup.objects import OBJECT_ICONS

UI = Path(__file__).parents[2] / "metacrm" / "ui"
CRM_CORE = Path(__file__).parents[2] / "plugins" / "crm_core"


def _named_icons() -> set[str]:
    names = {*OBJECT_ICONS, *ACTIVITY_ICONS.values(), *CHANGE_ICONS.values(), *(s.icon for s in SECTIONS)}
    for path in UI.rglob("*"):
        if path.suffix in (".html", ".py"):
            names |= set(re.findall(r'icon\("([a-z0-9-]+)"', path.read_text(encoding="utf-8")))
    for path in CRM_CORE.rglob("*.yaml"):
        names |= set(re.findall(r"^\s*icon:\s*([a-z0-9-]+)", path.read_text(encoding="utf-8"), re.M))
    return names


def test_every_icon_the_screens_name_is_in_the_sprite():
    sprite = (UI / "static" / ICON_SPRITE).read_text(encoding="utf-8")
    have = set(re.findall(r'<symbol[^>]* id="([a-z0-9-]+)"', sprite)) or set(re.findall(r'id="([a-z0-9-]+)"', sprite))
    missing = sorted(_named_icons() - have)
    assert not missing, f"add to metacrm/ui/static/vendor/build_icons.py and rebuild: {missing}"
