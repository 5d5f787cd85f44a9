"""Merge fields (metacrm.rules.merge_fields): a template reads a record as
its reader may see it — hidden fields and records outside the reader's scope
are blank, never a value or an error that tells them apart — and cannot
leave Jinja's sandbox; HTML templates escape values."""

from __future__ import annotations

import pytest

from metacrm.platform.errors import ValidationFailed
from metacrm.rules.merge_fields import check_template, record_context, render
from tests.conftest import BACKENDS
from tests.data.crm_support import crm_tenant


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("merge"), request.param) as crm:
        system = crm.system()
        mine = system.create("account", {"name": "Initech <b>", "industry": "technology"}, owner_id=crm.users["rep"])
        theirs = system.create("account", {"name": "Umbrella"}, owner_id=crm.users["other"])
        crm.contacts = {
            key: system.create(
                "contact",
                {"first_name": "Ada", "last_name": "Li", "full_name": "Ada Li", "email": "ada@x.test"}
                | {"account": account["id"]},
                owner_id=crm.users["rep"],
            )["id"]
            for key, account in (("mine", mine), ("theirs", theirs))
        }
        yield crm


def _render(crm, user: str, key: str, text: str, *, html: bool = False) -> str:
    store = crm.store(user)
    record = store.get("contact", crm.contacts[key])
    return render(text, record_context(store, "contact", record), html=html)


def test_fields_lookups_and_the_object_name(crm):
    text = "{{first_name}} / {{contact.last_name}} at {{account}} ({{account.industry}})"
    assert _render(crm, "rep", "mine", text) == "Ada / Li at Initech <b> (technology)"


def test_html_templates_escape_values(crm):
    assert _render(crm, "rep", "mine", "<p>{{account.name}}</p>", html=True) == "<p>Initech &lt;b&gt;</p>"


def test_a_linked_record_outside_the_readers_scope_is_blank(crm):
    # The rep reads their contact, but not the account another rep owns.
    assert _render(crm, "rep", "theirs", "[{{account.name}}][{{account.industry}}]") == "[][]"
    # Its manager reads both.
    assert _render(crm, "boss", "theirs", "[{{account.name}}]") == "[Umbrella]"


def test_blank_and_unknown_fields_print_nothing(crm):
    assert _render(crm, "rep", "mine", "[{{phone}}][{{no_such_field}}][{{account.no_such.deeper}}]") == "[][][]"


def test_the_sandbox_holds(crm):
    with pytest.raises(ValidationFailed):
        _render(crm, "rep", "mine", "{{ account.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}")
    assert _render(crm, "rep", "mine", "{{ account._reads }}") == ""


def test_a_template_that_does_not_parse_names_the_path_and_line():
    with pytest.raises(ValidationFailed) as caught:
        check_template("Hello\n{{ account.name ", path="email_template:welcome.body")
    assert "email_template:welcome.body: line 2" in str(caught.value)
    check_template("Hello {{ account.name }}", path="ok")


def test_a_field_hidden_from_the_reader_is_blank(crm):
    crm.hide("sales_rep", "contact", "email")
    assert _render(crm, "rep", "mine", "[{{email}}]") == "[]"
    assert _render(crm, "boss", "mine", "[{{email}}]") == "[ada@x.test]"
