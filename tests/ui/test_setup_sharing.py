"""The sharing-rules screen (``/setup/sharing-rules``, issue 11 item 5) through
the Flask test client, on both databases: create an owner rule and a criteria
rule, see them take effect on the API, edit and delete them, refusals beside
their control, the rule editor's live check, 403 for a sales rep, and the
explain screen naming the rule."""

from __future__ import annotations

import re

import pytest

from metacrm.access.policy import policy_for
from metacrm.cli import DEMO_TENANT
from metacrm.platform import identity as identities
from metacrm.plugins.testing import BACKENDS
from tests.ui.list_demo import make_demo


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


@pytest.fixture(scope="module")
def admin(demo):
    return demo.client("admin")


def _post(client, url, data, **kwargs):
    return client.post(url, data={"csrf_token": client.csrf, **data}, **kwargs)


def _field(html: str, name: str) -> str:
    start = html.index(f'data-field="{name}"')
    following = html.find("data-field=", start + 10)
    return html[start : following if following != -1 else len(html)]


def _api(demo, role: str):
    """A test client speaking the JSON API with a bearer token of the role's demo user."""
    identity = identities.identity_for(demo.instance, demo.users[role], DEMO_TENANT)
    client = demo.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {identities.create_token(demo.instance, identity, 't')[1]}"
    return client


def _rules(demo):
    return policy_for(demo.instance, demo.binding).sharing_rules


def test_the_screen_is_in_the_navigation_and_refused_to_a_rep(demo, admin):
    html = admin.get("/setup/sharing-rules").get_data(as_text=True)
    assert "<h1" in html and "Sharing rules" in html and 'href="/setup/sharing-rules"' in html
    assert "No sharing rule yet." in html
    rep = demo.client("sales_rep")
    for url in ("/setup/sharing-rules", "/setup/sharing-rules/new?object=account"):
        assert rep.get(url).status_code == 403
    assert rep.post("/setup/sharing-rules/new", data={"object": "account"}).status_code in (400, 403)
    assert admin.get("/setup/sharing-rules/new?object=nothing").status_code == 404
    assert admin.get("/setup/sharing-rules/ghost").status_code == 404


def test_an_owner_rule_made_on_the_screen_opens_records_and_is_edited_and_deleted(demo, admin):
    account = demo.account(owner="sales_manager", name="Manager Owned Ltd")
    rep = _api(demo, "sales_rep")
    assert rep.get(f"/api/v1/data/account/{account['id']}").status_code == 404
    form = admin.get("/setup/sharing-rules/new?object=account").get_data(as_text=True)
    assert 'name="owned_by"' in form and 'name="condition"' in form and "role_and_subordinates:sales_manager" in form
    before = policy_for(demo.instance, demo.binding).revision
    created = _post(
        admin,
        "/setup/sharing-rules/new",
        {
            "object": "account",
            "label": "Managers' accounts to reps",
            "kind": "owner",
            "owned_by": "role:sales_manager",
            "share_with": "role:sales_rep",
            "access": "read",
        },
    )
    assert created.status_code == 303, created.get_data(as_text=True)
    rule = _rules(demo)["managers_accounts_to_reps"]
    assert (rule.owner_kind, rule.owner_name, rule.share_name, rule.access) == (
        "role",
        "sales_manager",
        "sales_rep",
        "read",
    )
    assert policy_for(demo.instance, demo.binding).revision == before + 1
    listed = admin.get("/setup/sharing-rules").get_data(as_text=True)
    assert 'data-sharing-rule="managers_accounts_to_reps"' in listed
    assert rep.get(f"/api/v1/data/account/{account['id']}").status_code == 200
    # Read only: the rep cannot update it; edit the rule to read/write and they can.
    assert rep.patch(f"/api/v1/data/account/{account['id']}", json={"phone": "+1 555 0100"}).status_code == 404
    page = admin.get("/setup/sharing-rules/managers_accounts_to_reps").get_data(as_text=True)
    assert "Managers&#39; accounts to reps" in page or "Managers' accounts to reps" in page
    saved = _post(
        admin,
        "/setup/sharing-rules/managers_accounts_to_reps",
        {
            "label": "Managers' accounts to reps",
            "kind": "owner",
            "owned_by": "role:sales_manager",
            "share_with": "role:sales_rep",
            "access": "edit",
        },
    )
    assert saved.status_code == 303
    patched = rep.patch(f"/api/v1/data/account/{account['id']}", json={"phone": "+1 555 0100"})
    assert patched.status_code == 200, patched.get_data(as_text=True)
    # The explain screen names the rule.
    html = admin.get(
        f"/setup/explain?user={demo.users['sales_rep']}&object=account&action=read&id={account['id']}"
    ).get_data(as_text=True)
    assert 'data-reason="sharing_rule"' in html and 'data-sharing-rule="managers_accounts_to_reps"' in html
    # Delete: the record is closed again.
    assert _post(admin, "/setup/sharing-rules/managers_accounts_to_reps/delete", {}).status_code == 303
    assert "managers_accounts_to_reps" not in _rules(demo)
    assert rep.get(f"/api/v1/data/account/{account['id']}").status_code == 404


def test_a_criteria_rule_with_a_mistake_shows_it_beside_the_condition(demo, admin):
    bad = _post(
        admin,
        "/setup/sharing-rules/new",
        {
            "object": "account",
            "label": "Tech accounts",
            "kind": "criteria",
            "condition": "ISPICKVAL(industry, ",
            "share_with": "role:sales_rep",
            "access": "read",
        },
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'role="alert"' in _field(html, "condition") and "column" in _field(html, "condition")
    assert "ISPICKVAL(industry, " in html  # the text is kept
    missing = _post(
        admin,
        "/setup/sharing-rules/new",
        {"object": "account", "label": "No one", "kind": "owner", "owned_by": "", "share_with": "", "access": "read"},
    )
    assert missing.status_code == 422
    html = missing.get_data(as_text=True)
    assert 'role="alert"' in _field(html, "owned_by") and 'role="alert"' in _field(html, "share_with")
    assert not _rules(demo)
    # The live check as the admin types.
    check = _post(
        admin,
        "/setup/objects/account/rule-check",
        {"use": "record_scope", "source": "condition", "condition": "ISPICKVAL(industry, "},
    )
    assert check.status_code == 200 and "column" in check.get_data(as_text=True)
    check = _post(
        admin,
        "/setup/objects/account/rule-check",
        {"use": "record_scope", "source": "condition", "condition": 'ISPICKVAL(industry, "technology")'},
    )
    assert "The rule is valid." in check.get_data(as_text=True)
    good = _post(
        admin,
        "/setup/sharing-rules/new",
        {
            "object": "account",
            "label": "Tech accounts",
            "kind": "criteria",
            "condition": 'ISPICKVAL(industry, "technology")',
            "share_with": "role:sales_rep",
            "access": "read",
        },
    )
    assert good.status_code == 303
    tech = demo.account(owner="sales_manager", name="Tech Ltd", industry="technology")
    retail = demo.account(owner="sales_manager", name="Retail Ltd", industry="retail")
    rep = _api(demo, "sales_rep")
    assert rep.get(f"/api/v1/data/account/{tech['id']}").status_code == 200
    assert rep.get(f"/api/v1/data/account/{retail['id']}").status_code == 404
    assert _post(admin, "/setup/sharing-rules/tech_accounts/delete", {}).status_code == 303


def test_a_manager_is_picked_from_the_members_and_a_cycle_is_refused_beside_it(demo, admin):
    rep, manager = demo.users["sales_rep"], demo.users["sales_manager"]
    page = admin.get(f"/setup/users/{rep}").get_data(as_text=True)
    assert 'list="manager-options"' in page and "sales.manager@demo.example.com" in page
    saved = _post(admin, f"/setup/users/{rep}/manager", {"manager": "sales.manager@demo.example.com"})
    assert saved.status_code == 303
    page = admin.get(f"/setup/users/{rep}").get_data(as_text=True)
    assert "&lt;sales.manager@demo.example.com&gt;" in _field(page, "manager")
    assert "sales.rep@demo.example.com" in _field(
        admin.get(f"/setup/users/{manager}").get_data(as_text=True), "reports"
    )
    cycle = _post(admin, f"/setup/users/{manager}/manager", {"manager": "sales.rep@demo.example.com"})
    assert cycle.status_code == 422
    assert 'role="alert"' in _field(cycle.get_data(as_text=True), "manager") and "cycle" in cycle.get_data(as_text=True)
    nobody = _post(admin, f"/setup/users/{rep}/manager", {"manager": "Nobody at all"})
    assert nobody.status_code == 422 and "No member matches" in _field(nobody.get_data(as_text=True), "manager")
    # The rep sees their manager on their profile.
    profile = demo.client("sales_rep").get("/account").get_data(as_text=True)
    assert "sales.manager@demo.example.com" in _field(profile, "manager")
    assert _post(admin, f"/setup/users/{rep}/manager", {"manager": ""}).status_code == 303
    assert 'data-field="manager"' not in demo.client("sales_rep").get("/account").get_data(as_text=True)


def test_a_role_label_in_chinese_is_edited_and_shown(demo, admin):
    saved = _post(
        admin,
        "/setup/roles/marketing",
        {"label": "Marketing", "description": "", "parent_role": "", "translations.zh_CN": "市场部同事"},
    )
    assert saved.status_code == 303, saved.get_data(as_text=True)
    assert policy_for(demo.instance, demo.binding).roles["marketing"].translations == {"zh_CN": "市场部同事"}
    page = admin.get("/setup/roles/marketing").get_data(as_text=True)
    assert 'value="市场部同事"' in page
    chinese = admin.get("/setup/roles", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    english = admin.get("/setup/roles", headers={"Accept-Language": "en"}).get_data(as_text=True)
    if "市场部同事" not in chinese:  # the admin's own language setting wins over the header
        marketing = demo.client("marketing")
        assert marketing.post(
            "/account/preferences", data={"csrf_token": marketing.csrf, "locale": "zh_CN", "time_zone": ""}
        ).status_code in (302, 303)
        assert "市场部同事" in marketing.get("/account").get_data(as_text=True)
    else:
        assert "市场部同事" not in english


def test_a_condition_scope_is_edited_in_the_permission_matrix(demo, admin):
    from tests.ui.test_setup_access import _matrix_form

    html = admin.get("/setup/permissions?role=service_agent").get_data(as_text=True)
    row = html[html.index('<tr data-object="account"') :]
    row = row[: row.index("</tr>")]
    assert '<option value="condition"' in row and 'name="account.read.condition"' in row
    assert 'data-condition-for="m-account-read" hidden' in row  # shown by setup_conditions.js when chosen
    data = _matrix_form(html)
    data.update(
        {"account.read": "condition", "account.read.condition": "ISPICKVAL(industry, ", "account.update": "none"}
    )
    refused = _post(admin, "/setup/permissions", data)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    cell = page[page.index('<tr data-object="account"') :]
    cell = _field(cell[: cell.index("</tr>")], "read")
    assert 'role="alert"' in cell and "column" in cell and "ISPICKVAL(industry, " in cell
    data["account.read.condition"] = 'ISPICKVAL(industry, "retail") or owner_id = $User.Id'
    saved = _post(admin, "/setup/permissions", data)
    assert saved.status_code == 303, saved.get_data(as_text=True)
    agent = _api(demo, "service_agent")
    assert agent.get("/api/v1/access/me").json["objects"]["account"]["read"] == [
        {"condition": 'ISPICKVAL(industry, "retail") or owner_id = $User.Id'}
    ]
    again = admin.get("/setup/permissions?role=service_agent").get_data(as_text=True)
    row = again[again.index('<tr data-object="account"') :]
    row = row[: row.index("</tr>")]
    assert 'value="condition" selected' in row and "owner_id = $User.Id" in row
    assert 'data-condition-for="m-account-read" hidden' not in row
    assert _post(admin, "/setup/permissions/reset", {"role": "service_agent", "object": "account"}).status_code == 303


def test_picklist_values_move_up_and_down_with_buttons(demo, admin):
    """The keyboard's way to reorder picklist values (issue 11 item 1): each
    row has "Move up" / "Move down" buttons with aria-labels; without
    JavaScript they post the form, which comes back with the rows swapped."""
    html = admin.get("/setup/objects/account/fields/industry").get_data(as_text=True)
    assert 'value="up_value:0"' in html and 'aria-label="Move Technology up"' in html
    assert 'aria-label="Move Finance &amp; Insurance down"' in html
    data = {
        "label": "Industry",
        "pv.value": ["technology", "finance", "retail"],
        "pv.label": ["Technology", "Finance", "Retail"],
        "pv.label_zh": ["", "", ""],
        "pv.color": ["", "", ""],
        "pv.active": ["1", "1", "1"],
    }

    def order(response):
        html = response.get_data(as_text=True)
        return re.findall(r'name="pv\.value" value="([^"]*)"', html[: html.index("data-pv-template")])

    moved = _post(admin, "/setup/objects/account/fields/industry", {**data, "_action": "down_value:0"})
    assert moved.status_code == 200
    assert order(moved) == ["finance", "technology", "retail"]
    moved = _post(admin, "/setup/objects/account/fields/industry", {**data, "_action": "up_value:2"})
    assert order(moved) == ["technology", "retail", "finance"]
    # The ends stay put.
    same = _post(admin, "/setup/objects/account/fields/industry", {**data, "_action": "up_value:0"})
    assert order(same) == ["technology", "finance", "retail"]


def test_a_user_invited_by_e_mail_sets_their_password_once_through_the_link(demo, admin):
    import sqlalchemy as sa

    from metacrm.rules.automation.tables import automation_outbox
    from tests.conftest import PASSWORD
    from tests.ui.list_demo import csrf_of

    sent = _post(
        admin,
        "/setup/users",
        {"email": "Invited.Person@example.com", "display_name": "Invited Person", "roles": "sales_rep", "invite": "1"},
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)
    assert "Invitation sent to invited.person@example.com" in admin.get("/setup/users").get_data(as_text=True)
    with demo.binding.connect() as conn:
        row = conn.execute(sa.select(automation_outbox).where(automation_outbox.c.rule == "access.invitation")).first()
    assert row.kind == "email" and row.payload["to"] == "invited.person@example.com"
    link = re.search(r"(/invite/[^\s]+)", row.payload["body"]).group(1)
    assert PASSWORD not in row.payload["body"]
    # The same login again is refused beside the e-mail.
    again = _post(admin, "/setup/users", {"email": "invited.person@example.com", "roles": "sales_rep", "invite": "1"})
    assert again.status_code == 409 and 'role="alert"' in _field(again.get_data(as_text=True), "email")

    guest = demo.app.test_client()
    page = guest.get(link)
    assert page.status_code == 200 and "invited.person@example.com" in page.get_data(as_text=True)
    token = csrf_of(page.get_data(as_text=True))
    differ = guest.post(link, data={"csrf_token": token, "password": PASSWORD, "confirm": PASSWORD + "x"})
    assert differ.status_code == 422 and 'role="alert"' in _field(differ.get_data(as_text=True), "confirm")
    weak = guest.post(link, data={"csrf_token": token, "password": "x", "confirm": "x"})
    assert weak.status_code == 422 and 'role="alert"' in _field(weak.get_data(as_text=True), "password")
    done = guest.post(link, data={"csrf_token": token, "password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 303 and "/login" in done.headers["Location"]
    assert guest.get(link).status_code == 404  # once only
    assert guest.get(link[:-4] + "abcd").status_code == 404
    signed = demo.app.test_client()
    login_token = csrf_of(signed.get("/login").get_data(as_text=True))
    response = signed.post(
        "/login",
        data={
            "email": "invited.person@example.com",
            "password": PASSWORD,
            "tenant": "demo",
            "csrf_token": login_token,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
