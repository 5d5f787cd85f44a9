"""Setup of users and access (issue 11 item 5): users, roles, teams, the
permission matrix with field access, sharing, pools and explain — each
change through the access services the API uses, each refusal beside the
control that caused it, and a sales rep refused (403) on every screen."""

from __future__ import annotations

import re

import pytest

from metacrm.access.policy import policy_for
from metacrm.cli import DEMO_TENANT
from metacrm.platform import identity as identities
from metacrm.plugins.testing import BACKENDS
from tests.ui.list_demo import csrf_of, make_demo

PAGES = (
    "/setup/users",
    "/setup/roles",
    "/setup/teams",
    "/setup/permissions",
    "/setup/sharing",
    "/setup/pools",
    "/setup/explain",
)


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


@pytest.fixture(scope="module")
def admin(demo):
    return demo.client("admin")


def _post(client, url, data, **kwargs):
    return client.post(url, data={"csrf_token": client.csrf, **data}, **kwargs)


def _policy(demo):
    return policy_for(demo.instance, demo.binding)


def _field(html: str, name: str) -> str:
    """The element carrying data-field="name" (its opening tag to the next data-field)."""
    start = html.index(f'data-field="{name}"')
    following = html.find("data-field=", start + 10)
    return html[start : following if following != -1 else len(html)]


def _sign_in(demo, email: str, password: str):
    client = demo.app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": email, "password": password, "tenant": DEMO_TENANT, "csrf_token": token}
    )
    client.csrf = csrf_of(client.get("/").get_data(as_text=True)) if response.status_code == 302 else None
    return client, response


def _temporary_password(html: str) -> str:
    return re.search(r"data-secret>([^<]+)</code>", html).group(1)


# -- every screen --------------------------------------------------------------------------------


def test_every_access_screen_opens_for_an_admin_with_a_heading_and_the_setup_navigation(admin):
    for url in PAGES:
        response = admin.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "<h1" in html and 'class="setup-nav' in html, url
        assert 'aria-current="page"' in html, url


def test_a_sales_rep_is_refused_every_access_screen_even_on_post(demo):
    rep = demo.client("sales_rep")
    for url in PAGES:
        assert rep.get(url).status_code == 403, url
    before = _policy(demo).revision
    for url, data in (
        ("/setup/roles", {"label": "Rogue", "api_name": "rogue"}),
        ("/setup/permissions", {"role": "sales_rep", "account.read": "all"}),
        ("/setup/users", {"email": "rogue@example.com"}),
        (f"/setup/users/{demo.users['sales_rep']}/roles", {"roles": "admin"}),
    ):
        assert _post(rep, url, data).status_code == 403, url
    assert _policy(demo).revision == before
    assert "rogue" not in _policy(demo).roles


# -- users ----------------------------------------------------------------------------------------


def test_an_admin_adds_a_user_with_a_role_who_signs_in_with_the_temporary_password(demo, admin):
    response = _post(
        admin, "/setup/users", {"email": "Kim.Lee@Example.com", "display_name": "Kim Lee", "roles": ["sales_rep"]}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 201 and "data-temporary-password" in html
    assert response.headers["Cache-Control"] == "no-store"
    password = _temporary_password(html)
    user = next(u for u in identities.list_users(demo.instance, DEMO_TENANT) if u["email"] == "kim.lee@example.com")
    listed = admin.get("/setup/users").get_data(as_text=True)
    assert "Kim Lee" in listed and password not in listed  # shown once only
    client, signed_in = _sign_in(demo, "kim.lee@example.com", password)
    assert signed_in.status_code == 302
    assert client.get("/api/v1/access/me").json["roles"] == ["sales_rep"]
    page = admin.get(f"/setup/users/{user['id']}").get_data(as_text=True)
    assert 'value="sales_rep" id="role-sales_rep" checked' in page


def test_a_bad_e_mail_shows_beside_the_field_and_adds_nobody(demo, admin):
    before = len(identities.list_users(demo.instance, DEMO_TENANT))
    response = _post(
        admin, "/setup/users", {"email": "not-an-address", "display_name": "Nobody", "roles": ["sales_rep"]}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'role="alert"' in _field(html, "email") and 'value="not-an-address"' in html
    assert 'value="Nobody"' in html
    assert len(identities.list_users(demo.instance, DEMO_TENANT)) == before


def test_an_existing_member_is_refused_beside_the_e_mail(admin):
    response = _post(admin, "/setup/users", {"email": "sales.rep@demo.example.com", "roles": []})
    assert response.status_code == 409
    assert "already a member" in _field(response.get_data(as_text=True), "email")


def test_roles_of_a_user_change_and_the_admin_cannot_change_their_own(demo, admin):
    rep = demo.users["read_only"]
    assert _post(admin, f"/setup/users/{rep}/roles", {"roles": ["read_only", "marketing"]}).status_code == 303
    client = demo.client("read_only")
    assert client.get("/api/v1/access/me").json["roles"] == ["marketing", "read_only"]
    assert _post(admin, f"/setup/users/{rep}/roles", {"roles": ["read_only"]}).status_code == 303
    mine = _post(admin, f"/setup/users/{demo.users['admin']}/roles", {"roles": ["sales_rep"]})
    assert mine.status_code == 403
    assert "another administrator" in _field(mine.get_data(as_text=True), "roles")
    assert demo.client("admin").get("/api/v1/access/me").json["roles"] == ["admin"]


def test_deactivating_a_user_stops_their_sign_in_and_reactivating_lets_them_back(demo, admin):
    response = _post(admin, "/setup/users", {"email": "temp.worker@example.com", "roles": ["read_only"]})
    password = _temporary_password(response.get_data(as_text=True))
    user_id = next(
        u["id"] for u in identities.list_users(demo.instance, DEMO_TENANT) if u["email"] == "temp.worker@example.com"
    )
    client, _ok = _sign_in(demo, "temp.worker@example.com", password)
    assert client.get("/api/v1/access/me").status_code == 200
    assert _post(admin, f"/setup/users/{user_id}/active", {"active": "0"}).status_code == 303
    assert client.get("/api/v1/access/me").status_code == 401  # the session ended
    assert _sign_in(demo, "temp.worker@example.com", password)[1].status_code != 302
    assert "Deactivated" in admin.get("/setup/users").get_data(as_text=True)
    assert _post(admin, f"/setup/users/{user_id}/active", {"active": "1"}).status_code == 303
    reset = _post(admin, f"/setup/users/{user_id}/password", {})
    assert reset.status_code == 200 and reset.headers["Cache-Control"] == "no-store"
    fresh = _temporary_password(reset.get_data(as_text=True))
    assert _sign_in(demo, "temp.worker@example.com", password)[1].status_code != 302
    assert _sign_in(demo, "temp.worker@example.com", fresh)[1].status_code == 302


def test_an_admin_cannot_deactivate_themselves(demo, admin):
    response = _post(admin, f"/setup/users/{demo.users['admin']}/active", {"active": "0"})
    assert response.status_code == 409
    assert 'role="alert"' in _field(response.get_data(as_text=True), "active")


# -- roles ------------------------------------------------------------------------------------------


def test_an_admin_creates_a_role_under_another_and_sees_it_in_the_tree(demo, admin):
    before = _policy(demo).revision
    response = _post(admin, "/setup/roles", {"label": "Field Agent", "parent_role": "sales_manager"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/setup/roles/field_agent")
    policy = _policy(demo)
    assert policy.revision > before and policy.roles["field_agent"].parent_role == "sales_manager"
    tree = admin.get("/setup/roles").get_data(as_text=True)
    manager = tree.index('data-role="sales_manager"')
    agent = tree.index('data-role="field_agent"')
    assert manager < agent and "role-depth-1" in tree[tree.rindex("<li", 0, agent) : agent]
    assert (
        _post(admin, "/setup/roles/field_agent", {"label": "Field Agent (East)", "parent_role": ""}).status_code == 303
    )
    assert _policy(demo).roles["field_agent"].label == "Field Agent (East)"
    assert _policy(demo).roles["field_agent"].parent_role is None


def test_a_bad_role_name_and_a_cycle_show_beside_their_fields_and_write_nothing(demo, admin):
    before = _policy(demo).revision
    bad = _post(admin, "/setup/roles", {"label": "Bad", "api_name": "9 bad"})
    assert bad.status_code == 422 and 'role="alert"' in _field(bad.get_data(as_text=True), "api_name")
    assert 'value="9 bad"' in bad.get_data(as_text=True)
    empty = _post(admin, "/setup/roles", {"label": ""})
    assert empty.status_code == 422 and 'role="alert"' in _field(empty.get_data(as_text=True), "label")
    cycle = _post(admin, "/setup/roles/sales_manager", {"label": "Sales Manager", "parent_role": "sales_rep"})
    assert cycle.status_code == 422 and "cycle" in _field(cycle.get_data(as_text=True), "parent_role")
    assert _policy(demo).revision == before


def test_a_role_in_use_cannot_be_deleted_and_an_unused_one_can(demo, admin):
    used = _post(admin, "/setup/roles/sales_rep/delete", {})
    assert used.status_code == 409 and "still in use" in _field(used.get_data(as_text=True), "delete")
    assert _post(admin, "/setup/roles", {"label": "Short Lived"}).status_code == 303
    assert _post(admin, "/setup/roles/short_lived/delete", {}).status_code == 303
    assert "short_lived" not in _policy(demo).roles


# -- the permission matrix and field access --------------------------------------------------------


def _matrix_form(html: str) -> dict:
    """The matrix as a browser would post it: every select's chosen value and every checked box."""
    form = html[html.index('id="matrix-form"') : html.index("</form>", html.index('id="matrix-form"'))]
    data: dict = {"role": re.search(r'name="role" value="([^"]+)"', form).group(1)}
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]+)" selected', body)
        data[name] = chosen.group(1) if chosen else "none"
    for name in re.findall(r'type="checkbox"[^>]*name="([^"]+)" value="1" checked', form):
        data[name] = "1"
    return data


def test_a_matrix_change_takes_effect_on_the_api_for_that_role(demo, admin):
    agent = demo.client("service_agent")
    assert agent.get("/api/v1/access/me").json["objects"]["account"]["read"] == ["team"]
    html = admin.get("/setup/permissions?role=service_agent").get_data(as_text=True)
    assert '<tr data-object="account"' in html and '<tr data-object="*"' in html
    data = _matrix_form(html)
    before = _policy(demo).revision
    data.update({"account.read": "all", "account.export": "1"})
    response = _post(admin, "/setup/permissions", data)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert _policy(demo).revision == before + 1  # every row of one save: one revision
    me = agent.get("/api/v1/access/me").json["objects"]
    assert me["account"]["read"] == ["all"] and me["account"]["export"] is True
    assert me["contact"]["read"] == ["team"]  # the other objects still follow the default
    assert _policy(demo).entry("service_agent", "contact")[1] == "default"
    again = admin.get("/setup/permissions?role=service_agent").get_data(as_text=True)
    row = again[again.index('<tr data-object="account"') :]
    assert "Use default" in row[: row.index("</tr>")]
    assert _post(admin, "/setup/permissions/reset", {"role": "service_agent", "object": "account"}).status_code == 303
    assert agent.get("/api/v1/access/me").json["objects"]["account"]["read"] == ["team"]


def test_an_invalid_matrix_row_shows_beside_its_cell_and_nothing_is_written(demo, admin):
    data = _matrix_form(admin.get("/setup/permissions?role=marketing").get_data(as_text=True))
    before = _policy(demo).revision
    data.update({"contact.read": "own", "contact.update": "all", "account.read": "team"})
    response = _post(admin, "/setup/permissions", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    row = html[html.index('<tr data-object="contact"') :]
    row = row[: row.index("</tr>")]
    assert 'role="alert"' in _field(row, "update") and "widen read first" in row
    assert 'value="all" selected' in _field(row, "update")  # what the admin chose stays
    assert _policy(demo).revision == before


def test_the_admin_role_is_fixed_in_the_matrix(admin):
    html = admin.get("/setup/permissions?role=admin").get_data(as_text=True)
    assert "always has every permission" in html and "<fieldset disabled>" in html


def test_hiding_a_field_for_a_role_hides_it_from_that_users_list_record_and_api(demo, admin):
    account = demo.account(owner="service_agent", name="Hidden Industry Ltd", industry="technology")
    agent = demo.client("service_agent")
    assert 'data-field="industry"' in agent.get(f"/o/account/{account['id']}").get_data(as_text=True)
    page = admin.get("/setup/permissions?role=service_agent&object=account").get_data(as_text=True)
    assert 'id="fa-industry"' in page
    response = _post(
        admin,
        "/setup/permissions/fields",
        {"role": "service_agent", "object": "account", "fields.industry": "hidden", "fields.phone": "read"},
    )
    assert response.status_code == 303
    assert "technology" not in agent.get(f"/o/account/{account['id']}").get_data(as_text=True)
    assert 'data-field="industry"' not in agent.get(f"/o/account/{account['id']}").get_data(as_text=True)
    assert 'data-field="industry"' not in agent.get("/o/account").get_data(as_text=True)
    record = agent.get(f"/api/v1/data/account/{account['id']}").json
    assert "industry" not in record and record["name"] == "Hidden Industry Ltd"
    assert "industry" in agent.get("/api/v1/access/me").json["objects"]["account"]["fields"]["hidden"]
    shown = admin.get("/setup/permissions?role=service_agent&object=account").get_data(as_text=True)
    assert 'value="hidden" selected' in _field(shown, "industry")
    assert 'value="read" selected' in _field(shown, "phone")
    # The matrix keeps the field access when the row's actions change.
    data = _matrix_form(admin.get("/setup/permissions?role=service_agent").get_data(as_text=True))
    assert _post(admin, "/setup/permissions", {**data, "account.export": "1"}).status_code == 303
    assert "industry" in agent.get("/api/v1/access/me").json["objects"]["account"]["fields"]["hidden"]


def test_hiding_a_required_field_from_a_role_that_creates_is_refused_beside_the_field(demo, admin):
    before = _policy(demo).revision
    response = _post(
        admin, "/setup/permissions/fields", {"role": "service_agent", "object": "account", "fields.name": "hidden"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is required" in _field(html, "name") and 'value="hidden" selected' in _field(html, "name")
    assert _policy(demo).revision == before


# -- teams, sharing, pools, explain --------------------------------------------------------------


def test_teams_are_created_with_members_changed_and_deleted(demo, admin):
    response = _post(admin, "/setup/teams", {"label": "East Coast", "members": [str(demo.users["marketing"])]})
    assert response.status_code == 303
    html = admin.get("/setup/teams").get_data(as_text=True)
    assert 'data-team="east_coast"' in html
    bad = _post(admin, "/setup/teams", {"label": "East Coast"})
    assert bad.status_code == 409 and 'role="alert"' in _field(bad.get_data(as_text=True), "api_name")
    assert _post(admin, "/setup/teams/east_coast", {"label": "East", "members": []}).status_code == 303
    assert _post(admin, f"/setup/users/{demo.users['marketing']}/teams", {"teams": ["east_coast"]}).status_code == 303
    with demo.binding.connect() as conn:
        from metacrm.access.sharing import get_team

        assert get_team(conn, "east_coast") == {
            "api_name": "east_coast",
            "label": "East",
            "members": [demo.users["marketing"]],
        }
    assert _post(admin, "/setup/teams/east_coast/delete", {}).status_code == 303


def test_org_wide_defaults_and_record_shares(demo, admin):
    before = _policy(demo).revision
    assert _post(admin, "/setup/sharing/defaults", {"owd.lead": "public_read"}).status_code == 303
    assert _policy(demo).org_wide_default("lead") == "public_read" and _policy(demo).revision == before + 1
    assert _post(admin, "/setup/sharing/defaults", {"owd.lead": "private"}).status_code == 303
    account = demo.account(owner="sales_manager", name="Shared Ltd")
    rep = demo.client("sales_rep")
    assert rep.get(f"/api/v1/data/account/{account['id']}").status_code == 404
    shared = _post(
        admin,
        "/setup/sharing/shares",
        {
            "object": "account",
            "record_id": str(account["id"]),
            "recipient": f"user:{demo.users['sales_rep']}",
            "access": "read",
        },
    )
    assert shared.status_code == 303
    assert rep.get(f"/api/v1/data/account/{account['id']}").status_code == 200
    missing = _post(
        admin,
        "/setup/sharing/shares",
        {"object": "account", "record_id": "999999", "recipient": "team:sales", "access": "read"},
    )
    assert missing.status_code == 422 and 'role="alert"' in _field(missing.get_data(as_text=True), "record_id")
    nobody = _post(
        admin, "/setup/sharing/shares", {"object": "account", "record_id": str(account["id"]), "access": "read"}
    )
    assert nobody.status_code == 422 and 'role="alert"' in _field(nobody.get_data(as_text=True), "recipient")
    share_id = re.search(r'data-share-id="(\d+)"', admin.get("/setup/sharing").get_data(as_text=True)).group(1)
    assert _post(admin, f"/setup/sharing/shares/{share_id}/delete", {}).status_code == 303
    assert rep.get(f"/api/v1/data/account/{account['id']}").status_code == 404


def test_pools_are_created_and_refused_beside_their_fields(demo, admin):
    response = _post(
        admin,
        "/setup/pools",
        {
            "label": "Contact pool",
            "object": "contact",
            "members.roles": ["sales_rep"],
            "admins": ["sales_manager"],
            "claim_quota": "10",
            "cooldown_days": "2",
            "reclaim_days": "",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    pool = _policy(demo).pools["contact_pool"]
    assert pool.claim_quota == 10 and pool.member_roles == ("sales_rep",) and pool.reclaim_days is None
    bad = _post(admin, "/setup/pools/contact_pool", {"label": "Contact pool", "claim_quota": "0"})
    assert bad.status_code == 422 and 'role="alert"' in _field(
        bad.get_data(as_text=True)[bad.get_data(as_text=True).index('data-pool="contact_pool"') :], "claim_quota"
    )
    assert _policy(demo).pools["contact_pool"].claim_quota == 10
    assert _post(admin, "/setup/pools/contact_pool/delete", {}).status_code == 303
    assert "contact_pool" not in _policy(demo).pools


def test_explain_tells_why_a_user_sees_a_record(demo, admin):
    account = demo.account(owner="sales_rep", name="Explained Ltd")
    rep = demo.users["sales_rep"]
    html = admin.get(f"/setup/explain?user={rep}&object=account&action=read&id={account['id']}").get_data(as_text=True)
    assert 'data-explain-allowed="yes"' in html and 'data-reason="scope"' in html
    other = demo.account(owner="sales_manager", name="Not Yours Ltd")
    html = admin.get(f"/setup/explain?user={rep}&object=account&action=read&id={other['id']}").get_data(as_text=True)
    assert 'data-explain-allowed="no"' in html and "outside every scope" in html
    missing = admin.get(f"/setup/explain?user={rep}&object=account&action=read&id=999999")
    assert missing.status_code == 422 and 'role="alert"' in _field(missing.get_data(as_text=True), "id")


def test_labels_with_markup_stay_text(demo, admin):
    assert (
        _post(admin, "/setup/roles", {"label": "<script>alert(1)</script>", "api_name": "xss_role"}).status_code == 303
    )
    html = admin.get("/setup/roles").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert _post(admin, "/setup/roles/xss_role/delete", {}).status_code == 303
