"""Setup › object › Duplicate rules (issue 12, item 3): an admin lists,
creates, edits, switches off and deletes an object's duplicate rules; a
bad condition is refused beside the control it names and writes nothing; a
rule made here blocks a duplicate save; a rep gets 403."""

from __future__ import annotations

import pytest

from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.model import model_for
from metacrm.plugins.testing import BACKENDS
from tests.ui.list_demo import make_demo

LIST = "/setup/objects/contact/duplicate-rules"


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


def _post(client, url, data, **headers):
    return client.post(url, data={"csrf_token": client.csrf, **data}, headers=headers)


def _rule(demo, name: str):
    definition = model_for(demo.instance, demo.binding).definitions.get("duplicate_rule", scoped_key("contact", name))
    return None if definition is None else definition.document


def test_the_list_shows_the_shipped_rules_with_their_conditions_and_a_rep_gets_403(demo):
    html = demo.client("admin").get(LIST).get_data(as_text=True)
    assert 'data-rule="same_email"' in html and "Same e-mail address" in html
    assert 'aria-current="page" href="/setup/objects/contact/duplicate-rules"' in html  # its tab is active
    assert demo.client("sales_rep").get(LIST).status_code == 403


def test_a_bad_rule_is_refused_beside_its_control_and_nothing_is_written(demo):
    admin = demo.client("admin")
    base = {"api_name": "bad_rule", "action": "warn", "active": "1"}
    none = _post(admin, f"{LIST}/new", base)
    assert none.status_code == 422
    assert "Choose at least one field to compare." in none.get_data(as_text=True)
    not_text = _post(admin, f"{LIST}/new", {**base, "conditions.0.field": "birthdate", "conditions.0.method": "exact"})
    assert not_text.status_code == 422
    html = not_text.get_data(as_text=True)
    field_block = html[html.index('data-field="conditions.0.field"') :][:1500]
    assert 'role="alert"' in field_block and "duplicate rules compare text fields" in field_block
    threshold = _post(
        admin,
        f"{LIST}/new",
        {**base, "conditions.0.field": "full_name", "conditions.0.method": "fuzzy", "conditions.0.threshold": "30"},
    )
    assert threshold.status_code == 422
    block = threshold.get_data(as_text=True)
    block = block[block.index('data-field="conditions.0.threshold"') :][:1000]
    assert 'role="alert"' in block and "50" in block
    assert _rule(demo, "bad_rule") is None


def test_an_admin_creates_a_blocking_rule_that_refuses_a_duplicate_then_switches_it_off_and_deletes_it(demo):
    admin = demo.client("admin")
    saved = _post(
        admin,
        f"{LIST}/new",
        {
            "label": "Same name",
            "label_zh_CN": "姓名相似",
            "api_name": "same_name",
            "conditions.0.field": "full_name",
            "conditions.0.method": "fuzzy",
            "conditions.0.threshold": "85",
            "action": "block",
            "active": "1",
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    rule = _rule(demo, "same_name")
    assert rule["conditions"] == [{"field": "full_name", "method": "fuzzy", "threshold": 85}]
    assert rule["action"] == "block" and rule["translations"] == {"zh_CN": {"label": "姓名相似"}}
    assert 'data-rule="same_name"' in admin.get(LIST).get_data(as_text=True)

    values = {"first_name": "Zhang", "last_name": "Wei", "full_name": "Zhang Wei"}
    demo.store().create("contact", values, owner_id=demo.users["admin"])
    twin = admin.post(
        "/api/v1/data/contact",
        json={**values, "full_name": "zhang  wei"},
        headers={"X-CSRFToken": admin.csrf},
    )
    assert twin.status_code == 422 and twin.get_json()["error"]["details"]["duplicate_action"] == "block"

    row = _post(admin, f"{LIST}/same_name", {"action": "active", "active": "0"}, **{"HX-Request": "true"})
    assert row.status_code == 200 and "Inactive" in row.get_data(as_text=True)
    assert _rule(demo, "same_name")["active"] is False
    deleted = _post(admin, f"{LIST}/same_name", {"action": "delete"})
    assert deleted.status_code == 302 and _rule(demo, "same_name") is None
