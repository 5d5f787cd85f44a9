"""The gate of setup (UI.md §3, issue 11): every ``/setup`` route is declared
through ``setup_route`` (so it checks manage_metadata or manage_access), a
sales rep gets 403 on every one of them and sees no setup link, and an
admin reaches the start page with the sections that exist."""

from __future__ import annotations

import re

import pytest

from metacrm.plugins.testing import BACKENDS
from tests.ui.list_demo import make_demo

# Values for the URL variables of setup routes (any value will do: the gate answers first).
SAMPLE_VALUES = {"object": "account", "field": "name", "item": "x", "name": "x", "number": "1", "id": "1"}


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


def _setup_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/setup")]


def _url(rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: SAMPLE_VALUES.get(m.group(1), "1"), rule.rule)


def test_every_setup_route_is_guarded_by_a_setup_right(demo):
    rules = _setup_rules(demo.app)
    assert rules, "no /setup routes"
    unguarded = [r.rule for r in rules if not hasattr(demo.app.view_functions[r.endpoint], "setup_right")]
    assert unguarded == [], f"declare these with metacrm.ui.setup.setup_route: {unguarded}"


def test_a_sales_rep_gets_403_on_every_setup_url_and_sees_no_setup_link(demo):
    rep = demo.client("sales_rep")
    for rule in _setup_rules(demo.app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = rep.open(_url(rule), method=method, headers={"X-CSRFToken": rep.csrf})
            assert response.status_code == 403, f"{method} {_url(rule)} answered {response.status_code}"
    assert "/setup" not in rep.get("/").get_data(as_text=True)


def test_an_admin_opens_setup_from_the_user_menu(demo):
    admin = demo.client("admin")
    assert 'href="/setup"' in admin.get("/").get_data(as_text=True)
    page = admin.get("/setup")
    assert page.status_code == 200
    assert "<h1" in page.get_data(as_text=True)


def test_the_rule_editor_check_answers_line_and_column(demo):
    admin = demo.client("admin")
    headers = {"X-CSRFToken": admin.csrf, "HX-Request": "true"}
    bad = admin.post(
        "/setup/objects/opportunity/rule-check",
        data={"use": "validation", "source": "condition", "condition": "amount < "},
        headers=headers,
    ).get_data(as_text=True)
    assert 'role="alert"' in bad and "Line 1, column" in bad
    good = admin.post(
        "/setup/objects/opportunity/rule-check",
        data={"use": "validation", "source": "condition", "condition": "amount < 0"},
        headers=headers,
    ).get_data(as_text=True)
    assert "The rule is valid." in good
