"""The admin guides show only screenshots that exist, and every screenshot of
setup that ``python -m tests.browser.screenshots`` takes is shown: the
English shots in the English guide, the Chinese ones in the Chinese guide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.screenshots import SETUP_SHOTS, file_name

DOCS = Path(__file__).parents[2] / "docs"
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")
GUIDES = {"en": "admin-guide.md", "zh_CN": "admin-guide.zh_CN.md"}


def _images(guide: str) -> list[tuple[str, str]]:
    return IMAGE.findall((DOCS / guide).read_text(encoding="utf-8"))


@pytest.mark.parametrize("language", GUIDES)
def test_every_image_of_the_admin_guide_exists_and_has_alt_text(language):
    guide = GUIDES[language]
    images = _images(guide)
    assert images, f"{guide} shows no screenshot"
    for alt, target in images:
        assert alt.strip(), f"{guide}: {target} has no alt text"
        assert (DOCS / target).is_file(), f"{guide}: {target} does not exist"
        shown_language = "zh_CN" if "-zh_CN-" in target else "en"
        assert shown_language == language, f"{guide} shows {target}, a screenshot in another language"


@pytest.mark.parametrize("language", GUIDES)
def test_every_setup_screenshot_is_in_the_admin_guide_of_its_language(language):
    shown = {target.removeprefix("img/") for _alt, target in _images(GUIDES[language])}
    for shot in SETUP_SHOTS:
        if language not in shot.languages:
            continue
        files = {file_name(shot, language, viewport) for viewport in shot.viewports}
        assert files & shown, f"{GUIDES[language]} shows none of {sorted(files)}"


def test_the_admin_guides_have_one_section_per_heading():
    for guide in GUIDES.values():
        headings = re.findall(r"^#{1,2} (.+)$", (DOCS / guide).read_text(encoding="utf-8"), flags=re.M)
        assert len(headings) == len(set(headings)), f"{guide} repeats a heading: {headings}"
        assert sum(1 for line in headings if line) and headings[0] in ("Admin guide", "管理员指南")
