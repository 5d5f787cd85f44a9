"""Record forms (/o/<object>/new, /o/<object>/<id>/edit): built from the
layout, a widget per field type, pre-filled from the URL or a clone, saved
through the record store with every error beside its field, the layouts'
conditions and default values evaluated by the server (also live), the
optimistic lock's conflict, the lookup typeahead, and the guard throughout."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from metacrm.access.guard import SystemGuard
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.conftest import PASSWORD

ACTOR = audit.Actor(user_id=1, email="admin@acme.test")


def _values(*values: str) -> dict:
    return {"values": [{"value": v, "label": v.title()} for v in values]}


DEAL_FIELDS = [
    {"api_name": "amount", "label": "Amount", "type": "currency", "options": {"currency": "CNY"}},
    {"api_name": "stage", "label": "Stage", "type": "picklist", "options": _values("open", "won", "lost")},
    {"api_name": "loss_reason", "label": "Loss reason", "type": "text"},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "close_date", "label": "Close date", "type": "date", "default_expression": "TODAY() + 30"},
    {"api_name": "meet_at", "label": "Meeting", "type": "datetime"},
    {"api_name": "approved", "label": "Approved", "type": "boolean"},
    {"api_name": "size", "label": "Size", "type": "picklist", "options": _values("small", "big")},
    {"api_name": "regions", "label": "Regions", "type": "multi_picklist", "options": _values("north", "south")},
    {"api_name": "labels", "label": "Labels", "type": "tags"},
    {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}},
    {"api_name": "contact_email", "label": "E-mail", "type": "email"},
    {"api_name": "notes", "label": "Notes", "type": "rich_text"},
    {"api_name": "number", "label": "Number", "type": "auto_number", "options": {"format": "D-{0000}"}},
    {"api_name": "secret", "label": "Secret", "type": "text"},
]
LAYOUT = {
    "api_name": "default",
    "label": "Deal",
    "sections": [
        {"label": "Deal", "columns": 2, "fields": ["name", "number", "account", "amount", "stage", "loss_reason"]},
        {
            "label": "More",
            "columns": 2,
            "fields": [
                "discount",
                "close_date",
                "meet_at",
                "approved",
                "size",
                "regions",
                "labels",
                "contact_email",
                "notes",
            ],
        },
    ],
    "field_rules": {
        "loss_reason": {"visible": "stage = 'lost'", "required": "stage = 'lost'"},
        "discount": {"read_only": "amount < 100"},
    },
}


class FormWorld:
    def __init__(self, world):
        self.world = world
        self.instance = world.instance
        self.binding = self.instance.db.bind("acme")
        with metadata_service(self.instance, self.binding, ACTOR).change("objects") as tx:
            tx.create_object({"api_name": "account", "label": "Account"}, [])
            tx.create_object(
                {"api_name": "deal", "label": "Deal", "translations": {"zh_CN": {"label": "交易"}}}, DEAL_FIELDS
            )
            tx.update_field("deal", "size", {"default_expression": "IF(amount > 1000, 'big', 'small')"})
            tx.put_layout("deal", LAYOUT)

    def store(self):
        return record_store(self.instance, self.binding, SystemGuard(), ACTOR)

    def model(self):
        return model_for(self.instance, self.binding)


@pytest.fixture
def forms(world):
    return FormWorld(world)


def _csrf(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def sign_in(client, email="admin@acme.test"):
    token = _csrf(client)
    client.post("/login", data={"email": email, "password": PASSWORD, "tenant": "acme", "csrf_token": token})
    return _csrf(client, "/")


def _field(html: str, name: str) -> str:
    """The markup of one field's element (data-field) in a page."""
    match = re.search(rf'<div class="field[^"]*" data-field="{name}">.*?</div>', html, re.S)
    assert match, f"no field {name}"
    return match.group(0)


def test_new_form_follows_the_layout_with_a_widget_per_type(client, forms):
    sign_in(client)
    html = client.get("/o/deal/new").get_data(as_text=True)
    assert "<h1" in html and ">Deal</h1>" in html
    positions = [html.index(f'data-field="{n}"') for n in ("name", "account", "amount", "stage", "discount")]
    assert positions == sorted(positions)
    assert 'data-field="number"' not in html  # auto-numbered: nothing to enter on a new record
    assert 'type="email"' in _field(html, "contact_email") and 'type="date"' in _field(html, "close_date")
    assert 'type="datetime-local"' in _field(html, "meet_at")
    assert 'data-lookup="account"' in _field(html, "account")
    assert "<select multiple" in _field(html, "regions") and "<textarea" in _field(html, "labels")
    assert 'data-field="secret"' not in html  # not in the layout, not required: not on the form
    # a condition hides the loss reason until the stage is "lost"
    assert re.search(r'id="slot-loss_reason"[^>]* hidden', html) and 'name="loss_reason"' not in html
    # the default value is filled in, and the form asks the server as the user types
    assert f'value="{(date.today() + timedelta(days=30)).isoformat()}"' in _field(html, "close_date")
    assert 'hx-post="/o/deal/form-state"' in html and 'name="csrf_token"' in html


def test_a_valid_post_creates_the_record_and_redirects_to_its_page(client, forms):
    csrf = sign_in(client)
    account = forms.store().create("account", {"name": "Acme"})["id"]
    response = client.post(
        "/o/deal/new",
        data={
            "csrf_token": csrf,
            "name": "Big deal",
            "account": str(account),
            "amount": "2500.50",
            "stage": "open",
            "discount": "12.5",
            "close_date": "2026-12-31",
            "meet_at": "2026-12-03T09:30",
            "approved": ["false", "true"],
            "regions": ["", "north", "south"],
            "labels": "vip\nrenewal\n",
            "contact_email": "a@b.example",
            "notes": "<p>hi</p><script>x()</script>",
        },
    )
    assert response.status_code == 302
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert response.headers["Location"].endswith(f"/o/deal/{record_id}")
    deal = forms.store().get("deal", record_id)
    assert deal["name"] == "Big deal" and deal["account"]["id"] == account and str(deal["amount"]) == "2500.50"
    assert str(deal["discount"]) == "12.5000" and deal["close_date"] == "2026-12-31" and deal["approved"] is True
    assert deal["meet_at"].startswith("2026-12-03T09:30")  # the user's zone is UTC here
    assert deal["regions"] == ["north", "south"] and deal["labels"] == ["vip", "renewal"]
    assert "<script" not in deal["notes"]
    assert deal["size"] == "big"  # left blank: the default expression applied on save
    assert deal["number"] == "D-0001"


def test_errors_sit_beside_their_fields_and_the_form_keeps_what_was_typed(client, forms):
    csrf = sign_in(client)
    response = client.post(
        "/o/deal/new",
        data={"csrf_token": csrf, "name": "", "amount": "lots", "stage": "lost", "contact_email": "nope"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'role="alert"' in _field(html, "amount") and 'value="lots"' in _field(html, "amount")
    response = client.post(
        "/o/deal/new", data={"csrf_token": csrf, "name": "", "amount": "10", "stage": "lost", "contact_email": "nope"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'role="alert"><p class="mb-0">[^<]*required', _field(html, "name"))
    assert re.search(
        r'role="alert"><p class="mb-0">[^<]*required', _field(html, "loss_reason")
    )  # required by the layout now
    assert 'role="alert"' in _field(html, "contact_email") and 'value="nope"' in _field(html, "contact_email")
    assert 'value="10"' in _field(html, "amount") and 'value="lost" selected' in _field(html, "stage")
    assert forms.store().query("deal").data == []  # nothing half-written


def test_prefill_from_query_arguments_and_clone(client, forms):
    sign_in(client)
    account = forms.store().create("account", {"name": "Globex <b>"})["id"]
    html = client.get(f"/o/deal/new?account={account}&stage=won&amount=7").get_data(as_text=True)
    assert f'<option value="{account}" selected>Globex &lt;b&gt;</option>' in _field(html, "account")
    assert 'value="won" selected' in _field(html, "stage") and 'value="7"' in _field(html, "amount")
    source = forms.store().create("deal", {"name": "Original", "amount": 50, "labels": ["a"], "account": account})
    html = client.get(f"/o/deal/new?clone={source['id']}").get_data(as_text=True)
    assert 'value="Original"' in _field(html, "name") and "a</textarea>" in _field(html, "labels")
    assert f'value="{account}" selected' in _field(html, "account")


def test_the_live_round_trip_swaps_what_the_conditions_and_defaults_change(client, forms):
    csrf = sign_in(client)
    headers = {"HX-Request": "true", "X-CSRFToken": csrf}
    state = {"loss_reason": "000", "discount": "100"}
    response = client.post(
        "/o/deal/form-state",
        data={"name": "x", "stage": "lost", "amount": "5000", "_state": json.dumps(state), "_defaults": "{}"},
        headers=headers,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    slot = re.search(r'<div id="slot-loss_reason".*?</div>\s*</div>', html, re.S).group(0)
    assert 'hx-swap-oob="true"' in slot and 'name="loss_reason"' in slot and " required" in slot
    assert 'id="slot-discount"' not in html  # unchanged: not swapped
    assert 'id="slot-size"' in html and 'value="big" selected' in html  # the default follows the amount
    assert '"loss_reason": "110"' in html.replace("&#34;", '"')
    # a value the user chose is theirs: the default no longer replaces it
    response = client.post(
        "/o/deal/form-state",
        data={"stage": "open", "amount": "5", "size": "big", "_defaults": json.dumps({"size": "small"})},
        headers=headers,
    )
    assert 'id="slot-size"' not in response.get_data(as_text=True)


def test_edit_saves_with_the_version_and_shows_a_conflict(client, forms):
    csrf = sign_in(client)
    deal = forms.store().create("deal", {"name": "Deal", "amount": 500, "stage": "open"})
    html = client.get(f"/o/deal/{deal['id']}/edit").get_data(as_text=True)
    assert ">Deal</h1>" in html and 'name="version" value="1"' in html
    original = html.split('name="_original" value="')[1].split('"')[0].replace("&#34;", '"')
    form = {"csrf_token": csrf, "name": "Deal", "amount": "600", "stage": "open", "version": "1"}
    forms.store().update("deal", deal["id"], {"amount": 900, "stage": "won"})  # someone else saves first
    response = client.post(f"/o/deal/{deal['id']}/edit", data={**form, "_original": original})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Someone else changed this record" in html and "admin@acme.test" in html
    assert 'data-field="amount"' in html.split("</table>")[0] and 'data-field="stage"' in html.split("</table>")[0]
    assert 'name="version" value="2"' in html and "Overwrite their changes" in html
    assert 'value="600"' in _field(html, "amount")  # the user's draft is kept
    response = client.post(f"/o/deal/{deal['id']}/edit", data={**form, "version": "2"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/o/deal/{deal['id']}")
    stored = forms.store().get("deal", deal["id"])
    assert str(stored["amount"]) == "600.00" and stored["stage"] == "open" and stored["version"] == 3


def test_read_only_fields_render_read_only_and_are_refused_if_posted(client, forms):
    csrf = sign_in(client)
    deal = forms.store().create("deal", {"name": "Deal", "amount": 500, "discount": 5})
    deal = forms.store().update("deal", deal["id"], {"amount": 50})
    html = client.get(f"/o/deal/{deal['id']}/edit").get_data(as_text=True)
    assert " readonly" in _field(html, "discount")  # read-only while the amount is under 100
    assert " readonly" in _field(html, "number") and 'value="D-0001"' in _field(html, "number")
    data = {"csrf_token": csrf, "name": "Deal", "amount": "50", "discount": "99", "number": "X", "version": "2"}
    response = client.post(f"/o/deal/{deal['id']}/edit", data=data)
    assert response.status_code == 302
    stored = forms.store().get("deal", deal["id"])
    assert str(stored["discount"]) == "5.0000" and stored["number"] == "D-0001"  # neither was written


def test_the_lookup_typeahead_searches_through_the_guard(client, forms):
    sign_in(client)
    for name in ("Acme", "Acme Labs", "Globex"):
        forms.store().create("account", {"name": name})
    found = client.get("/o/account/lookup?q=acm").get_json()
    assert [item["text"] for item in found] == ["Acme", "Acme Labs"]
    assert all(isinstance(item["value"], int) for item in found)
    assert client.get("/o/nothing/lookup?q=a").status_code == 404


def test_a_user_without_rights_gets_no_form(client, forms):
    sign_in(client, "user@acme.test")
    assert client.get("/o/deal/new").status_code == 403
    assert client.get("/o/account/lookup?q=a").status_code == 403


def test_chinese_labels_and_formatting(client, forms):
    sign_in(client)
    html = client.get("/o/deal/new", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert ">交易</h1>" in html and "保存" in html


def test_date_times_are_entered_and_shown_in_the_users_time_zone(client, forms):
    csrf = sign_in(client)
    user_id = forms.world.identity("admin@acme.test", "acme").user_id
    identities.set_preferences(forms.instance, user_id, locale=None, time_zone="Asia/Shanghai")
    data = {"csrf_token": csrf, "name": "Meeting", "meet_at": "2026-12-03T09:30"}
    record_id = int(client.post("/o/deal/new", data=data).headers["Location"].rsplit("/", 1)[1])
    assert forms.store().get("deal", record_id)["meet_at"].startswith("2026-12-03T01:30")  # stored in UTC
    html = client.get(f"/o/deal/{record_id}/edit").get_data(as_text=True)
    assert 'value="2026-12-03T09:30"' in _field(html, "meet_at")


def test_field_security_hides_and_locks_fields(app, client, forms):
    admin = forms.world.bearer("admin@acme.test", "acme")
    access = {"create": True, "read": "all", "update": "all", "delete": "none"}
    response = client.put(
        "/api/v1/access/roles/read_only/objects/deal",
        json={**access, "fields": {"loss_reason": "hidden", "amount": "read"}},
        headers=admin,
    )
    assert response.status_code == 200, response.json
    user_id = forms.world.identity("user@acme.test", "acme").user_id
    assert (
        client.put(f"/api/v1/access/users/{user_id}/roles", json={"roles": ["read_only"]}, headers=admin).status_code
        == 200
    )
    deal = forms.store().create("deal", {"name": "Deal", "amount": 700, "stage": "lost", "loss_reason": "Price"})
    user = app.test_client()
    csrf = sign_in(user, "user@acme.test")
    html = user.get(f"/o/deal/{deal['id']}/edit").get_data(as_text=True)
    assert "loss_reason" not in html and "Price" not in html  # hidden: not even its cell
    assert " readonly" in _field(html, "amount")
    data = {"csrf_token": csrf, "name": "Renamed", "amount": "1", "loss_reason": "x", "version": "1"}
    assert user.post(f"/o/deal/{deal['id']}/edit", data=data).status_code == 302
    stored = forms.store().get("deal", deal["id"])
    assert stored["name"] == "Renamed" and str(stored["amount"]) == "700.00" and stored["loss_reason"] == "Price"


def test_a_rich_text_field_has_an_editor_whose_start_is_sanitised(client, forms):
    """The editor (static/js/form.js) needs its toolbar and box from the
    server: labelled buttons, a box named by the field's label, and the
    textarea the form posts. What was typed comes back sanitised in the box
    and escaped in the textarea; the store sanitises what is saved."""
    csrf = sign_in(client)
    html = client.get("/o/deal/new").get_data(as_text=True)
    field = html.split('data-field="notes"')[1].split('data-field="', 1)[0]
    assert 'role="toolbar"' in field and 'id="f-notes-label"' in field
    for name in ("Bold", "Italic", "Bulleted list", "Numbered list", "Link", "Remove link"):
        assert f">{name}</" in field, name
    assert re.search(
        r'contenteditable="true" role="textbox" aria-multiline="true" aria-labelledby="f-notes-label"', field
    )
    assert re.search(r'<textarea id="f-notes" name="notes"[^>]*data-rich-text', field)
    assert 'style="' not in field and "<script" not in field
    typed = '<p><b>ok</b></p><img src="x" onerror="alert(1)"><script>x()</script>'
    refused = client.post("/o/deal/new", data={"csrf_token": csrf, "name": "", "notes": typed})
    assert refused.status_code == 422
    field = refused.get_data(as_text=True).split('data-field="notes"')[1].split('data-field="', 1)[0]
    box = field.split('role="textbox"')[1].split("</div>")[0]
    assert "<b>ok</b>" in box and "onerror" not in box and "<script" not in box and "<img" not in box
    area = field.split("<textarea")[1].split("</textarea>")[0]
    assert "&lt;b&gt;ok&lt;/b&gt;" in area and "<script" not in area  # the textarea holds the text, escaped
    done = client.post("/o/deal/new", data={"csrf_token": csrf, "name": "Rich", "notes": typed})
    deal = forms.store().get("deal", int(done.headers["Location"].rsplit("/", 1)[1]))
    assert deal["notes"] == "<p><b>ok</b></p>"
