"""The shell, server side: navigation order and access, global search,
notifications (bell, list, mark read), the account page (language, time
zone, password, tokens), the tenant switcher and the start page's panels
and recently viewed records — on the demo organisation with crm_core."""

from __future__ import annotations

import re
from datetime import UTC, date, timedelta

import pytest
import sqlalchemy as sa

from metacrm.app import build_instance
from metacrm.cli import DEMO_TENANT, create_demo_tenant
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.rules.automation.tables import notifications
from metacrm.ui.recent import recent_views
from tests.conftest import PASSWORD, drop_namespaces

ADMIN = "admin@demo.example.com"
REP = "sales.rep@demo.example.com"
MANAGER = "sales.manager@demo.example.com"
CRM_ORDER = ["account", "contact", "lead", "opportunity", "activity", "case", "article", "campaign", "product", "quota"]
# Lead to cash: after the products (their lines are reached from their parents, not the navigation).
CRM_ORDER[-1:-1] = ["price_book", "quote", "sales_order", "contract", "payment_plan", "payment", "invoice"]


class Demo:
    def __init__(self, instance, app):
        create_demo_tenant(instance, admin_email=ADMIN, password=PASSWORD, records=False, package_names=["crm_core"])
        self.instance, self.app = instance, app
        self.binding = instance.db.bind(DEMO_TENANT)
        self.ids = {user["email"]: user["id"] for user in identities.list_users(instance, DEMO_TENANT)}

    def store(self):
        return record_store(self.instance, self.binding, SystemGuard(), audit.SYSTEM)

    def create(self, object_name: str, owner: str, **values) -> dict:
        return self.store().create(object_name, values, owner_id=self.ids[owner])

    def client(self, email: str):
        client = self.app.test_client()
        token = _csrf(client, "/login")
        response = client.post(
            "/login", data={"tenant": DEMO_TENANT, "email": email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        client.csrf = _csrf(client, "/account")
        return client

    def set_access(self, role: str, object_name: str, entry: dict) -> None:
        admin = self.client(ADMIN)
        response = admin.put(
            f"/api/v1/access/roles/{role}/objects/{object_name}", json=entry, headers={"X-CSRFToken": admin.csrf}
        )
        assert response.status_code == 200, response.get_json()

    def notify(self, email: str, message: str, **values) -> int:
        values.setdefault("created_at", utcnow())
        with self.binding.begin() as conn:
            return conn.execute(
                notifications.insert().values(user_id=self.ids[email], message=message, **values)
            ).inserted_primary_key[0]


def _csrf(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _nav(html: str) -> list[str]:
    navbar = html.split('aria-label="Objects"')[1].split("</ul>\n      <form")[0]
    # A desktop's bar also lists its folded links under "More": each object once, in order.
    return list(dict.fromkeys(re.findall(r'data-object="([a-z_]+)"', navbar)))


@pytest.fixture
def instance(config):
    """The instance with crm_core (installed through its entry point), as served."""
    instance = build_instance(config)
    instance.upgrade_platform()
    yield instance
    drop_namespaces(instance)
    instance.dispose()


@pytest.fixture
def demo(instance, app) -> Demo:
    return Demo(instance, app)


# -- navigation --------------------------------------------------------------------------------------


def test_the_top_bar_is_reused_but_follows_its_inputs_and_each_page_has_its_own_csrf_token(demo):
    """The bar is rendered once per distinct input (ui.shell.navbar): the
    active object, the user's name and language change it at once, and its
    forms carry the page's own CSRF token, which signs out."""
    rep = demo.client(REP)
    accounts, leads = rep.get("/o/account").get_data(as_text=True), rep.get("/o/lead").get_data(as_text=True)
    active = r'class="nav-link active" aria-current="page" href="/o/([a-z_]+)"'
    assert re.findall(active, accounts) == ["account"] and re.findall(active, leads) == ["lead"]
    assert re.findall(active, rep.get("/o/account").get_data(as_text=True)) == ["account"]
    assert rep.post("/account/profile", data={"display_name": "Rita Rep", "csrf_token": rep.csrf}).status_code == 302
    assert "Rita Rep" in rep.get("/o/account").get_data(as_text=True).split('id="user-menu"')[1][:400]
    saved = rep.post("/account/preferences", data={"locale": "zh_CN", "time_zone": "UTC", "csrf_token": rep.csrf})
    assert saved.status_code == 302
    page = rep.get("/o/account").get_data(as_text=True)
    assert "退出登录" in page and "\x00" not in page
    bar_token = page.split('action="/logout"')[1].split('name="csrf_token" value="')[1].split('"')[0]
    assert rep.post("/logout", data={"csrf_token": bar_token}).status_code == 302
    assert rep.get("/o/account").status_code in (302, 401)


def test_the_navigation_lists_crm_objects_in_the_admins_order_and_not_what_a_role_cannot_read(demo):
    assert _nav(demo.client(ADMIN).get("/").get_data(as_text=True)) == CRM_ORDER
    demo.set_access("sales_rep", "campaign", {})  # nothing permitted
    # The rep works in the Sales app (crm_core's apps.yaml): its objects first, the rest after them.
    rep_nav = _nav(demo.client(REP).get("/").get_data(as_text=True))
    assert sorted(rep_nav) == sorted(n for n in CRM_ORDER if n != "campaign")
    assert rep_nav[:4] == ["account", "contact", "lead", "opportunity"]


def test_an_admin_reorders_and_hides_objects_of_the_navigation_through_metadata(demo):
    admin = demo.client(ADMIN)
    headers = {"X-CSRFToken": admin.csrf}
    assert admin.patch("/api/v1/meta/objects/product", json={"nav_order": 1}, headers=headers).status_code == 200
    assert admin.patch("/api/v1/meta/objects/lead", json={"nav_hidden": True}, headers=headers).status_code == 200
    nav = _nav(admin.get("/").get_data(as_text=True))
    assert nav[0] == "product" and "lead" not in nav
    bad = admin.patch("/api/v1/meta/objects/lead", json={"nav_order": "first"}, headers=headers)
    assert bad.status_code == 422


# -- search ------------------------------------------------------------------------------------------


def test_search_finds_readable_records_grouped_by_object_and_hides_hidden_fields(demo):
    mine = demo.create("account", REP, name="Acme Widgets", phone="+86 21 5555 0101")
    demo.create("account", ADMIN, name="Acme Tools")  # not the rep's: outside their scope
    demo.create("contact", REP, first_name="Wile", last_name="Acme", full_name="Wile Acme", email="wile@acme.example")
    demo.set_access(
        "sales_rep", "account", {"create": True, "read": "own", "update": "own", "fields": {"phone": "hidden"}}
    )
    rep = demo.client(REP)

    page = rep.get("/search?q=acme").get_data(as_text=True)
    assert 'data-object="account"' in page and 'data-object="contact"' in page
    assert f'data-record-id="{mine["id"]}"' in page and "Acme Widgets" in page
    assert "Acme Tools" not in page
    assert 'data-field="phone"' not in page and "5555" not in page
    # The phone is not searchable for whom it is hidden.
    assert "Acme Widgets" not in rep.get("/search?q=5555").get_data(as_text=True)
    assert "Acme Widgets" in demo.client(ADMIN).get("/search?q=5555").get_data(as_text=True)


def test_search_shows_five_per_object_and_links_to_the_full_list(demo):
    for n in range(7):
        demo.create("account", ADMIN, name=f"Globex {n}")
    page = demo.client(ADMIN).get("/search?q=globex").get_data(as_text=True)
    assert page.count('class="list-group-item app-search-hit"') == 5
    assert 'data-count="7"' in page and 'href="/o/account?q=globex"' in page


def test_search_escapes_what_it_shows_and_answers_an_empty_query(demo):
    demo.create("account", ADMIN, name="<script>alert(1)</script> Initech")
    admin = demo.client(ADMIN)
    page = admin.get("/search?q=initech").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Initech" in page and "<script>alert(1)" not in page
    assert admin.get("/search?q=").status_code == 200
    assert "Nothing matches" in admin.get("/search?q=zzzz-nothing").get_data(as_text=True)


# -- notifications -----------------------------------------------------------------------------------


def test_the_bell_counts_unread_notifications_and_marking_read_updates_it(demo):
    account = demo.create("account", REP, name="Bell Co")
    first = demo.notify(REP, "Deal won: Bell Co", object="account", record_id=account["id"])
    demo.notify(REP, "Call Bell Co back")
    others = demo.notify(MANAGER, "Not the rep's")
    rep = demo.client(REP)
    page = rep.get("/notifications").get_data(as_text=True)
    assert 'data-unread="2"' in page and "Not the rep&#39;s" not in page
    assert f'href="/o/account/{account["id"]}"' in page

    htmx = {"HX-Request": "true", "X-CSRFToken": rep.csrf}
    fragment = rep.post(f"/notifications/{first}/read", headers=htmx).get_data(as_text=True)
    assert f'id="note-{first}"' in fragment and 'hx-swap-oob="true"' in fragment and 'data-unread="1"' in fragment
    assert rep.post(f"/notifications/{others}/read", headers=htmx).status_code == 404  # not theirs
    assert rep.post(f"/notifications/{first}/read").status_code == 400  # no CSRF token

    # Both bells (the phone's top bar's and the menu's) are swapped out of band.
    assert 'id="notification-bell-top"' in fragment and 'id="notification-bell"' in fragment

    response = rep.post("/notifications/read-all", headers=htmx)
    assert "marked read" in response.headers["HX-Trigger"]
    assert 'data-unread="0"' in response.get_data(as_text=True)
    assert rep.get("/api/v1/notifications?unread=1").get_json()["unread"] == 0  # the API reads the same service


def test_the_bell_sits_in_the_top_bar_below_992px_and_mark_read_is_a_primary_button(demo):
    demo.notify(REP, "Look here")
    page = demo.client(REP).get("/notifications").get_data(as_text=True)
    top = page.split('<div class="d-lg-none ms-auto me-2 app-bell-top">', 1)[1].split("</div>", 1)[0]
    assert 'id="notification-bell-top"' in top and 'data-unread="1"' in top
    assert page.index("app-bell-top") < page.index('class="navbar-toggler"')  # beside the toggler, not in the menu
    assert re.search(
        r'<li class="nav-item d-none d-lg-block">\s*<a class="nav-link position-relative app-bell" '
        r'id="notification-bell"',
        page,
    )
    assert "btn btn-sm btn-outline-primary app-touch text-nowrap app-mark-read" in page


# -- account -----------------------------------------------------------------------------------------


def test_language_and_time_zone_are_saved_and_applied(demo):
    rep = demo.client(REP)
    bad = rep.post("/account/preferences", data={"locale": "zh_CN", "time_zone": "Mars/Base", "csrf_token": rep.csrf})
    assert bad.status_code == 422
    field = bad.get_data(as_text=True).split('data-field="time_zone"')[1].split("</div>\n          <button")[0]
    assert 'role="alert"' in field and "Unknown time zone" in field

    saved = rep.post(
        "/account/preferences", data={"locale": "zh_CN", "time_zone": "Asia/Shanghai", "csrf_token": rep.csrf}
    )
    assert saved.status_code == 302
    page = rep.get(saved.headers["Location"]).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "偏好已保存" in page and "客户" in page
    assert "<option selected>Asia/Shanghai</option>" in page


def test_the_display_name_is_changed_beside_its_field(demo):
    rep = demo.client(REP)
    empty = rep.post("/account/profile", data={"display_name": "  ", "csrf_token": rep.csrf})
    assert empty.status_code == 422
    field = empty.get_data(as_text=True).split('data-field="display_name"')[1].split("</div>\n          <button")[0]
    assert 'role="alert"' in field and "1 to 200 characters" in field
    saved = rep.post("/account/profile", data={"display_name": "Rita <Rep>", "csrf_token": rep.csrf})
    assert saved.status_code == 302
    page = rep.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Profile saved." in page and "Rita &lt;Rep&gt;" in page and "Rita <Rep>" not in page


def test_dates_are_shown_in_the_users_time_zone(demo):
    from datetime import datetime

    demo.notify(REP, "Timed", created_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    rep = demo.client(REP)
    page = rep.get("/notifications").get_data(as_text=True)
    # The one date-time format (medium date, short time), in a <time> beside "… ago".
    assert '<time datetime="2026-01-02T03:04:00+00:00" title="Jan 2, 2026 3:04' in page  # the organisation's zone: UTC
    rep.post("/account/preferences", data={"locale": "en", "time_zone": "Asia/Shanghai", "csrf_token": rep.csrf})
    assert 'title="Jan 2, 2026 11:04' in rep.get("/notifications").get_data(as_text=True)


def test_recent_notifications_say_how_long_ago_with_the_exact_time_in_a_title(demo):
    demo.notify(REP, "Fresh", created_at=utcnow() - timedelta(hours=3))
    rep = demo.client(REP)
    for path in ("/notifications", "/"):
        page = rep.get(path).get_data(as_text=True)
        exact = r'title="[A-Z][a-z]{2} \d+, \d{4} [^"]+"'
        assert re.search(rf'<time datetime="[^"]+" {exact}>3 hours ago</time>', page), path
    rep.post("/account/preferences", data={"locale": "zh_CN", "time_zone": "", "csrf_token": rep.csrf})
    assert "3小时前</time>" in rep.get("/notifications").get_data(as_text=True)


def test_the_role_shows_by_its_label_in_the_users_language(demo):
    rep = demo.client(REP)
    account = rep.get("/account").get_data(as_text=True)
    assert '<dd class="col-sm-8" data-field="role">Sales representative</dd>' in account and "sales_rep" not in account
    assert '<span data-field="role">Sales representative</span>' in rep.get("/").get_data(as_text=True)
    rep.post("/account/preferences", data={"locale": "zh_CN", "time_zone": "", "csrf_token": rep.csrf})
    assert 'data-field="role">销售代表</dd>' in rep.get("/account").get_data(as_text=True)
    admin = demo.client(ADMIN).get("/").get_data(as_text=True)
    assert '<span data-field="role">Administrator</span>' in admin


def test_a_password_change_names_the_wrong_field_then_keeps_the_user_signed_in(demo):
    rep = demo.client(REP)
    wrong = rep.post(
        "/account/password",
        data={
            "current_password": "nope",
            "new_password": "a new long passphrase 42",
            "confirm": "a new long passphrase 42",
            "csrf_token": rep.csrf,
        },
    )
    assert wrong.status_code == 422
    current = (
        wrong.get_data(as_text=True).split('data-field="current_password"')[1].split('data-field="new_password"')[0]
    )
    assert 'role="alert"' in current and "Wrong password" in current
    differ = rep.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new long passphrase 42",
            "confirm": "other",
            "csrf_token": rep.csrf,
        },
    )
    assert differ.status_code == 422 and "The two new passwords differ." in differ.get_data(as_text=True)

    done = rep.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new long passphrase 42",
            "confirm": "a new long passphrase 42",
            "csrf_token": rep.csrf,
        },
    )
    assert done.status_code == 302
    assert "Password changed" in rep.get(done.headers["Location"]).get_data(as_text=True)  # still signed in


def test_api_tokens_live_on_the_account_page(demo):
    rep = demo.client(REP)
    fragment = rep.post("/tokens", data={"name": "ERP", "csrf_token": rep.csrf}, headers={"HX-Request": "true"})
    assert 'id="new-token"' in fragment.get_data(as_text=True)
    assert "ERP" in rep.get("/account").get_data(as_text=True)


# -- tenant switcher ---------------------------------------------------------------------------------


def test_the_tenant_switcher_rebinds_to_a_tenant_the_user_belongs_to_and_audits_it(demo, instance):
    from metacrm.platform import tenancy

    tenancy.create_tenant(instance, "branch", "Branch Office")
    identities.create_user(instance, tenant="branch", email=REP, password=PASSWORD)
    tenancy.create_tenant(instance, "elsewhere", "Elsewhere")  # the rep is no member
    rep = demo.client(REP)
    home = rep.get("/").get_data(as_text=True)
    assert 'name="tenant" value="branch"' in home and "elsewhere" not in home

    assert rep.post("/switch-tenant", data={"tenant": "elsewhere", "csrf_token": rep.csrf}).status_code == 403
    response = rep.post("/switch-tenant", data={"tenant": "branch", "csrf_token": rep.csrf})
    assert response.status_code == 302
    assert "Branch Office" in rep.get("/").get_data(as_text=True)
    with instance.db.bind("branch").connect() as conn:
        actions = [e["action"] for e in audit.entries(conn, limit=5)]
    assert "auth.tenant_switched" in actions


# -- home --------------------------------------------------------------------------------------------


def test_home_shows_my_activities_due_and_my_pipeline_by_stage(demo):
    soon, later = date.today() + timedelta(days=2), date.today() + timedelta(days=30)
    demo.create("activity", REP, subject="Call Acme", activity_type="call", status="open", due_date=soon.isoformat())
    demo.create("activity", REP, subject="Far away", activity_type="task", status="open", due_date=later.isoformat())
    demo.create(
        "activity", REP, subject="Done already", activity_type="task", status="completed", due_date=soon.isoformat()
    )
    demo.create(
        "activity", MANAGER, subject="Manager's call", activity_type="call", status="open", due_date=soon.isoformat()
    )
    account = demo.create("account", REP, name="Pipeline Co")
    for name, stage, amount in (
        ("A", "proposal", 1000),
        ("B", "proposal", 2500),
        ("C", "prospecting", 700),
        ("D", "closed_won", 9),
    ):
        demo.create(
            "opportunity",
            REP,
            name=name,
            account=account["id"],
            stage=stage,
            amount=amount,
            close_date=later.isoformat(),
        )

    page = demo.client(REP).get("/").get_data(as_text=True)
    due = page.split('data-view="my_due"')[1].split("</section>")[0]
    assert "Call Acme" in due and "Far away" not in due and "Done already" not in due and "Manager" not in due
    pipeline = page.split('data-view="my_pipeline"')[1].split("</section>")[0]
    proposal = pipeline.split('data-group="proposal"')[1].split("</li>")[0]
    assert 'data-count="2"' in proposal and 'data-sum="3500' in proposal
    assert 'data-group="closed_won"' not in pipeline and 'data-count="3"' in pipeline
    assert "Recent activity" not in page  # the audit is for administrators
    assert "Recent activity" in demo.client(ADMIN).get("/").get_data(as_text=True)


def test_recently_viewed_records_are_noted_from_record_pages_and_filtered_by_access(demo):
    mine = demo.create("account", REP, name="Seen Co")
    theirs = demo.create("account", ADMIN, name="Hidden Co")
    rep = demo.client(REP)
    assert rep.get(f"/o/account/{mine['id']}").status_code == 200
    assert rep.get(f"/o/account/{theirs['id']}").status_code == 404  # out of the rep's scope: not noted
    page = rep.get("/").get_data(as_text=True)
    recent = page.split('id="home-recent"')[1].split("</section>")[0]
    assert "Seen Co" in recent and "Hidden Co" not in recent
    with demo.binding.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(recent_views)).scalar() >= 1
