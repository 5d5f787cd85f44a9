"""Builds ``icons-<version>.svg``, the SVG sprite of the icons the screens
use, from the ``bootstrap-icons`` npm package (``npm pack
bootstrap-icons@1.13.1``, unpacked). The package's whole sprite is 1.1 MB;
this one holds only the icons named below. Add a name and rerun:

    python metacrm/ui/static/vendor/build_icons.py /path/to/package
"""

import re
import sys
from pathlib import Path

VERSION = "1.13.1"
ICONS = sorted(
    {
        "bar-chart",
        "boxes",
        "building-gear",
        "card-checklist",
        "diagram-2",
        "diagram-3",
        "grid-3x3-gap",
        "house-gear",
        "lightning-charge",
        "person-workspace",
        "plug",
        "send",
        "tools",
        "arrow-left",
        "arrow-repeat",
        "bell",
        "box-arrow-right",
        "briefcase",
        "building",
        "calendar-event",
        "check-lg",
        "check2-circle",
        "chevron-down",
        "chevron-right",
        "clock-history",
        "envelope",
        "eye",
        "filter",
        "funnel",
        "gear",
        "grid",
        "house",
        "inbox",
        "journal-text",
        "kanban",
        "list",
        "list-ul",
        "pencil",
        "people",
        "person",
        "person-circle",
        "plus-lg",
        "search",
        "share",
        "shield-lock",
        "sort-down",
        "sort-up",
        "star",
        "telephone",
        "three-dots",
        "trash",
        "x-lg",
        "arrow-counterclockwise",
        "copy",
        "door-open",
        "box-arrow-in-down",
        "box-arrow-up",
        "chat-left-text",
        "check-square",
        "translate",
        "key",
        "globe",
        "question-circle",
        "exclamation-triangle",
        "info-circle",
    }
)


def build(package: Path) -> str:
    symbols = []
    for name in ICONS:
        svg = (package / "icons" / f"{name}.svg").read_text()
        view_box = re.search(r'viewBox="([^"]+)"', svg).group(1)
        body = re.search(r"<svg[^>]*>(.*)</svg>", svg, re.S).group(1).strip()
        symbols.append(f'<symbol id="{name}" viewBox="{view_box}">{body}</symbol>')
    return '<svg xmlns="http://www.w3.org/2000/svg">' + "".join(symbols) + "</svg>\n"


if __name__ == "__main__":
    out = Path(__file__).with_name(f"icons-{VERSION}.svg")
    out.write_text(build(Path(sys.argv[1])))
    print(f"wrote {out} ({len(ICONS)} icons)")
