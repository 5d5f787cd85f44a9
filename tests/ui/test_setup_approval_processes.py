"""Setup › object › Approval processes (issue 13, item 4): an admin lists
crm_core's quote process, creates a two-step process with every kind of
approver, sees a bad condition or an empty step refused beside its control
with nothing written, switches a process off and deletes it; a rep gets 403."""

from __future__ import annotations

import pytest

from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.model import model_for
from metacrm.plugins.testing import BACKENDS
from tests.ui.list_demo import make_demo

LIST = "/setup/objects/opportunity/approval-processes"


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


def _post(client, url, data, **headers):
    return client.post(url, data={"csrf_token": client.csrf, **data}, headers=headers)


def _process(demo, object_name: str, name: str):
    definitions = model_for(demo.instance, demo.binding).definitions
    definition = definitions.get("approval_process", scoped_key(object_name, name))
    return None if definition is None else definition.document


def _block(html: str, field: str) -> str:
    return html[html.index(f'data-field="{field}"') :][:1500]


def test_the_quote_process_is_listed_and_a_rep_gets_403(demo):
    html = demo.client("admin").get("/setup/objects/quote/approval-processes").get_data(as_text=True)
    assert 'data-process="large_discount"' in html and "discount &gt; 20" in html
    form = demo.client("admin").get("/setup/objects/quote/approval-processes/large_discount").get_data(as_text=True)
    assert 'name="steps.0.owner_manager" value="1" checked' in form
    assert demo.client("sales_rep").get(LIST).status_code == 403


def test_a_bad_condition_or_a_step_without_approvers_is_refused_beside_it(demo):
    admin = demo.client("admin")
    base = {"api_name": "bad_process", "active": "1", "steps.0.name": "first", "steps.0.owner_manager": "1"}
    bad = _post(admin, f"{LIST}/new", {**base, "entry_condition": "amount >"})
    assert bad.status_code == 422
    assert 'role="alert"' in _block(bad.get_data(as_text=True), "entry_condition")
    empty = _post(admin, f"{LIST}/new", {"api_name": "bad_process", "steps.0.label": "Nobody", "steps.0.name": "x"})
    assert empty.status_code == 422
    assert 'role="alert"' in _block(empty.get_data(as_text=True), "steps.0.approvers")
    none = _post(admin, f"{LIST}/new", {"api_name": "bad_process"})
    assert none.status_code == 422 and 'role="alert"' in none.get_data(as_text=True)
    assert _process(demo, "opportunity", "bad_process") is None


def test_an_admin_creates_edits_switches_off_and_deletes_a_two_step_process(demo):
    admin = demo.client("admin")
    saved = _post(
        admin,
        f"{LIST}/new",
        {
            "label": "Big deal",
            "label_zh_CN": "大单审批",
            "api_name": "big_deal",
            "entry_condition": "amount > 100000",
            "steps.0.name": "manager",
            "steps.0.mode": "one",
            "steps.0.owner_manager": "1",
            "steps.0.roles": "sales_manager",
            "steps.1.name": "finance",
            "steps.1.label": "Finance",
            "steps.1.mode": "all",
            "steps.1.users": "admin@demo.example.com, sales.manager@demo.example.com",
            "active": "1",
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:3000]
    process = _process(demo, "opportunity", "big_deal")
    assert process["entry_condition"] == "amount > 100000"
    assert process["steps"] == [
        {
            "name": "manager",
            "mode": "one",
            "approvers": [{"type": "owner_manager"}, {"type": "role", "name": "sales_manager"}],
        },
        {
            "name": "finance",
            "label": "Finance",
            "mode": "all",
            "approvers": [
                {"type": "user", "user": "admin@demo.example.com"},
                {"type": "user", "user": "sales.manager@demo.example.com"},
            ],
        },
    ]
    assert process["translations"] == {"zh_CN": {"label": "大单审批"}}
    # The form shows it back; saving it unchanged keeps it as it is.
    form = admin.get(f"{LIST}/big_deal").get_data(as_text=True)
    assert 'value="admin@demo.example.com, sales.manager@demo.example.com"' in form
    row = _post(admin, f"{LIST}/big_deal", {"action": "active", "active": "0"}, **{"HX-Request": "true"})
    assert row.status_code == 200 and "Inactive" in row.get_data(as_text=True)
    assert _process(demo, "opportunity", "big_deal")["active"] is False
    deleted = _post(admin, f"{LIST}/big_deal", {"action": "delete"})
    assert deleted.status_code == 302 and _process(demo, "opportunity", "big_deal") is None
