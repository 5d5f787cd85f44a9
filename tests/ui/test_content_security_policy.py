"""The strict Content-Security-Policy on every response, and templates that
need nothing it forbids (no inline script, no style attribute, no hx-on)."""

import re
from pathlib import Path

import pytest

from metacrm.platform.web import CONTENT_SECURITY_POLICY

TEMPLATES = Path(__file__).parents[2] / "metacrm" / "ui" / "templates"
FORBIDDEN = {
    "a style attribute": re.compile(r"\sstyle\s*="),
    "an inline <script>": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>"),
    "an inline <style>": re.compile(r"<style\b"),
    "an event handler attribute": re.compile(r"\s(on[a-z]+|hx-on[:\-][\w:-]*)\s*="),
}


def test_the_policy_allows_only_the_apps_own_scripts_and_styles():
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == directives["script-src"] == directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/login", "/api/v1/me", "/static/app.css", "/no-such-page"])
def test_every_response_carries_the_policy(client, path):
    assert client.get(path).headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_need_no_inline_code(template):
    text = template.read_text(encoding="utf-8")
    found = [what for what, pattern in FORBIDDEN.items() if pattern.search(text)]
    assert not found, f"{template.name} has {', '.join(found)}"
