"""The user guides show only screenshots that exist: every image a guide
references is in docs/img (``python -m tests.browser.screenshots`` writes them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[2] / "docs"
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")


@pytest.mark.parametrize("guide", ["user-guide.md", "user-guide.zh_CN.md"])
def test_every_image_of_the_guide_exists_and_has_alt_text(guide):
    images = IMAGE.findall((DOCS / guide).read_text(encoding="utf-8"))
    assert images, f"{guide} shows no screenshot"
    for alt, target in images:
        assert alt.strip(), f"{guide}: {target} has no alt text"
        assert (DOCS / target).is_file(), f"{guide}: {target} does not exist"
