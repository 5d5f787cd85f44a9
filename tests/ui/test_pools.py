"""The public pool screens (/pools, /pools/<pool>) on the demo organisation
(crm_core's lead_pool and account_pool): only pools the user works, only
readable fields, claim within quota and outside the cool-down, return with a
reason, assign by pool admins — every move a CSRF-checked POST through the
pool service, answered to htmx with the pool's body and a toast."""

from __future__ import annotations

import json
import re

import pytest

from metacrm.access import pools as pool_service
from metacrm.app import build_instance, create_app
from metacrm.cli import DEMO_TENANT, create_demo_tenant
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import model_for, record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.conftest import PASSWORD, drop_namespaces, make_config

ADMIN = "admin@demo.example.com"
REP = "sales.rep@demo.example.com"
MANAGER = "sales.manager@demo.example.com"
SERVICE = "service.agent@demo.example.com"
HTMX = {"HX-Request": "true"}


class Demo:
    """The demo organisation without its generated records, and helpers to
    seed a pool and to act as its users through the browser session."""

    def __init__(self, instance):
        self.instance = instance
        create_demo_tenant(instance, admin_email=ADMIN, password=PASSWORD, records=False, package_names=["crm_core"])
        self.binding = instance.db.bind(DEMO_TENANT)
        self.app = create_app(instance=instance)
        self.app.config["TESTING"] = True

    def user_id(self, email: str) -> int:
        return identities.user_id_of(self.instance, email)

    def store(self):
        return record_store(self.instance, self.binding, SystemGuard(), audit.SYSTEM)

    def pooled_leads(self, *names: str) -> list[int]:
        """Leads put in lead_pool, as if their owners had returned them."""
        ids = [
            self.store().create("lead", {"last_name": n, "company": f"{n} Ltd", "status": "new"})["id"] for n in names
        ]
        with self.binding.begin() as conn:
            model = model_for(self.instance, self.binding)
            pool_service.return_to_pool(conn, model, "lead", ids, reason="seed", actor=audit.SYSTEM, pool="lead_pool")
        return ids

    def admin_api(self, method: str, path: str, body: dict):
        """As the admin, through the access API (pools and field access are policy)."""
        identity = identities.identity_for(self.instance, self.user_id(ADMIN), DEMO_TENANT)
        token = identities.create_token(self.instance, identity, "test")[1]
        response = self.app.test_client().open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.json
        return response.json

    def owner(self, record_id: int) -> int | None:
        return self.store().get("lead", record_id)["owner_id"]

    def signed_in(self, email: str):
        client = self.app.test_client()
        token = _csrf(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "tenant": DEMO_TENANT, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        client.csrf = _csrf(client.get("/pools").get_data(as_text=True))
        return client


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


@pytest.fixture
def demo(tmp_path, backend):
    instance = build_instance(make_config(tmp_path, backend, DEFAULT_TENANT=DEMO_TENANT))
    instance.upgrade_platform()
    try:
        yield Demo(instance)
    finally:
        drop_namespaces(instance)
        instance.dispose()


def _post(client, path: str, htmx: bool = True, **form):
    return client.post(path, data={"csrf_token": client.csrf, **form}, headers=HTMX if htmx else {})


def _quota_left(html: str) -> str:
    return re.search(r'data-figure="quota-left">([^<]*)<', html)[1]


def test_the_pools_page_lists_only_the_pools_the_user_works(demo):
    demo.pooled_leads("Ada", "Bob")
    page = demo.signed_in(REP).get("/pools").get_data(as_text=True)
    assert "Lead pool" in page and "Account pool" in page
    assert re.search(r'data-pool="lead_pool".*?data-figure="waiting">2<', page, re.S)
    nothing = demo.signed_in(SERVICE)
    page = nothing.get("/pools").get_data(as_text=True)
    assert "not a member of any public pool" in page and "Lead pool" not in page
    assert nothing.get("/pools/lead_pool").status_code == 404  # existence does not leak
    rep = demo.signed_in(REP)
    assert rep.get("/pools/no_such_pool").status_code == 404
    accounts = rep.get("/pools/account_pool")
    assert accounts.status_code == 200 and "Nothing waits in this pool now." in accounts.get_data(as_text=True)


def test_a_pool_page_shows_waiting_records_with_readable_fields_quota_and_links(demo):
    ada, _bob = demo.pooled_leads("Ada", "Bob")
    page = demo.signed_in(REP).get("/pools/lead_pool").get_data(as_text=True)
    assert "<h1" in page and "Lead pool</h1>" in page
    assert f'data-record-id="{ada}"' in page and f'href="/o/lead/{ada}"' in page
    assert 'data-field="company"' in page and "Ada Ltd" in page
    assert _quota_left(page) == "50 of 50"
    assert 'name="csrf_token"' in page and "Assign selected" not in page  # a rep administers nothing
    searched = demo.signed_in(REP).get("/pools/lead_pool?q=Bob").get_data(as_text=True)
    assert "Bob Ltd" in searched and "Ada Ltd" not in searched


def test_pages_follow_the_cursor(demo):
    demo.pooled_leads(*[f"Lead {n:02d}" for n in range(25)])
    client = demo.signed_in(REP)
    first = client.get("/pools/lead_pool").get_data(as_text=True)
    assert first.count("data-record-id=") == 20 and "Next page" in first
    cursor = re.search(r'href="/pools/lead_pool\?cursor=([^"]+)"', first)[1]
    second = client.get(f"/pools/lead_pool?cursor={cursor}", headers=HTMX).get_data(as_text=True)
    assert second.count("data-record-id=") == 5 and "<html" not in second and "First page" in second


def test_claiming_makes_the_records_mine_drops_the_quota_and_toasts(demo):
    ada, bob, cyd = demo.pooled_leads("Ada", "Bob", "Cyd")
    client = demo.signed_in(REP)
    response = _post(client, "/pools/lead_pool/claim", ids=[str(ada), str(bob)])
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"]) == {"toast": "Records claimed: 2."}
    html = response.get_data(as_text=True)
    assert "<html" not in html and _quota_left(html) == "48 of 50"
    assert f'id="mine-{ada}"' in html and f'data-record-id="{cyd}"' in html
    assert demo.owner(ada) == demo.owner(bob) == demo.user_id(REP)


def test_a_claim_without_the_csrf_token_is_refused_and_nothing_moves(demo):
    (ada,) = demo.pooled_leads("Ada")
    client = demo.signed_in(REP)
    response = client.post("/pools/lead_pool/claim", data={"ids": str(ada)})
    assert response.status_code == 400 and demo.owner(ada) is None


def test_quota_and_cool_down_refusals_are_explained(demo):
    ada, bob = demo.pooled_leads("Ada", "Bob")
    client = demo.signed_in(REP)
    assert _post(client, "/pools/lead_pool/claim", ids=str(ada)).status_code == 200
    returned = _post(client, "/pools/lead_pool/return", ids=str(ada), reason="wrong region")
    assert json.loads(returned.headers["HX-Trigger"]) == {"toast": "Records returned to the pool: 1."}
    assert "You returned it: claimable after" in returned.get_data(as_text=True)
    refused = _post(client, "/pools/lead_pool/claim", htmx=False, ids=str(ada))
    assert refused.status_code == 409
    assert f"Cool-down: you returned #{ada} less than 7 days ago" in refused.get_data(as_text=True)
    assert demo.owner(ada) is None

    demo.admin_api("PATCH", "/api/v1/access/pools/lead_pool", {"claim_quota": 1})
    assert _post(client, "/pools/lead_pool/claim", ids=str(bob)).status_code == 200
    (cyd,) = demo.pooled_leads("Cyd")
    refused = _post(client, "/pools/lead_pool/claim", ids=str(cyd)).get_data(as_text=True)
    assert "Quota reached: you may hold 1 records from this pool at once and hold 1" in refused
    assert 'role="alert"' in refused and demo.owner(cyd) is None


def test_returning_needs_a_reason_and_a_record_the_user_may_change(demo):
    ada, bob = demo.pooled_leads("Ada", "Bob")
    rep, manager = demo.signed_in(REP), demo.signed_in(MANAGER)
    _post(rep, "/pools/lead_pool/claim", ids=str(ada))
    html = _post(rep, "/pools/lead_pool/return", ids=str(ada), reason="  ").get_data(as_text=True)
    assert re.search(r'data-field="reason">.*?role="alert"[^>]*>Say why', html, re.S)
    assert demo.owner(ada) == demo.user_id(REP)
    html = _post(rep, "/pools/lead_pool/return", record_id="abc", reason="x").get_data(as_text=True)
    assert "Enter a record number" in html
    _post(manager, "/pools/lead_pool/claim", ids=str(bob))
    html = _post(rep, "/pools/lead_pool/return", record_id=str(bob), reason="mine now").get_data(as_text=True)
    assert f"You may not return #{bob}" in html and demo.owner(bob) == demo.user_id(MANAGER)
    response = _post(rep, "/pools/lead_pool/return", record_id=str(ada), reason="not interested", htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == "/pools/lead_pool"
    assert "Records returned to the pool: 1." in rep.get("/pools/lead_pool").get_data(as_text=True)
    assert demo.owner(ada) is None


def test_pool_admins_assign_and_members_may_not(demo):
    ada, bob = demo.pooled_leads("Ada", "Bob")
    manager, rep = demo.signed_in(MANAGER), demo.signed_in(REP)
    page = manager.get("/pools/lead_pool").get_data(as_text=True)
    assert "Assign selected" in page and ">Sales Rep</option>" in page
    response = _post(manager, "/pools/lead_pool/assign", ids=str(ada), user_id=str(demo.user_id(REP)))
    assert json.loads(response.headers["HX-Trigger"]) == {"toast": "Records assigned to Sales Rep: 1."}
    assert demo.owner(ada) == demo.user_id(REP)
    html = _post(manager, "/pools/lead_pool/assign", ids=str(bob), user_id="").get_data(as_text=True)
    assert re.search(r'data-field="user_id".*?role="alert"[^>]*>Choose who gets', html, re.S)
    assert _post(rep, "/pools/lead_pool/assign", ids=str(bob), user_id=str(demo.user_id(REP))).status_code == 403
    assert demo.owner(bob) is None


def test_claiming_what_someone_else_took_first_says_so(demo):
    (ada,) = demo.pooled_leads("Ada")
    rep, manager = demo.signed_in(REP), demo.signed_in(MANAGER)
    assert _post(manager, "/pools/lead_pool/claim", ids=str(ada)).status_code == 200
    html = _post(rep, "/pools/lead_pool/claim", ids=str(ada)).get_data(as_text=True)
    assert f"someone else took it first): #{ada}" in html and demo.owner(ada) == demo.user_id(MANAGER)


def test_a_field_the_user_may_not_read_is_neither_shown_nor_searched(demo):
    demo.pooled_leads("Ada")
    entry = "/api/v1/access/roles/sales_rep/objects/lead"
    current = demo.admin_api("GET", entry, None)
    access = {k: current[k] for k in ("create", "read", "update", "delete", "export", "import") if k in current}
    demo.admin_api("PUT", entry, {**access, "fields": {"company": "hidden"}})
    rep = demo.signed_in(REP)
    page = rep.get("/pools/lead_pool").get_data(as_text=True)
    assert 'data-field="company"' not in page and "Ada Ltd" not in page and "Ada" in page
    assert "Ada Ltd" not in rep.get("/pools/lead_pool?q=Ltd").get_data(as_text=True)
    manager_page = demo.signed_in(MANAGER).get("/pools/lead_pool").get_data(as_text=True)
    assert "Ada Ltd" in manager_page


def test_markup_in_record_values_stays_text(demo):
    (evil,) = demo.pooled_leads("<script>alert(1)</script>")
    page = demo.signed_in(REP).get("/pools/lead_pool").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'data-record-id="{evil}"' in page


def test_the_pool_page_speaks_chinese(demo):
    demo.pooled_leads("Ada")
    client = demo.signed_in(REP)
    page = client.get("/pools/lead_pool", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "剩余额度" in page and "公司" in page  # the company field's zh_CN label


def test_the_navigation_offers_the_pools_to_their_members_only(demo):
    assert 'href="/pools"' in demo.signed_in(REP).get("/").get_data(as_text=True)
    assert 'href="/pools"' not in demo.signed_in(SERVICE).get("/").get_data(as_text=True)


# -- post/redirect/get: plain form posts (no JavaScript) -----------------------------------------------------


def _flashes(html: str) -> list[str]:
    return re.findall(r'class="alert[^"]*flash-message"[^>]*>([^<]*)<', html)


def test_a_plain_claim_redirects_to_the_pool_and_says_so_once(demo):
    ada, bob = demo.pooled_leads("Ada", "Bob")
    client = demo.signed_in(REP)
    response = _post(client, "/pools/lead_pool/claim?q=Ada", htmx=False, ids=str(ada))
    assert response.status_code == 303 and response.headers["Location"] == "/pools/lead_pool?q=Ada"
    assert demo.owner(ada) == demo.user_id(REP) and demo.owner(bob) is None
    assert _flashes(client.get("/pools/lead_pool").get_data(as_text=True)) == ["Records claimed: 1."]
    assert _flashes(client.get("/pools/lead_pool").get_data(as_text=True)) == []  # shown once
    # A reload of the answer does not claim again: it is a GET now.


def test_a_plain_assign_redirects_and_a_refused_one_shows_the_page_with_the_error_beside_the_member(demo):
    ada, bob = demo.pooled_leads("Ada", "Bob")
    manager = demo.signed_in(MANAGER)
    refused = _post(manager, "/pools/lead_pool/assign", htmx=False, ids=str(ada), user_id="")
    assert refused.status_code == 422 and "<html" in refused.get_data(as_text=True)
    html = refused.get_data(as_text=True)
    assert re.search(r'data-field="user_id".*?role="alert"[^>]*>Choose who gets the records', html, re.S)
    assert demo.owner(ada) is None  # nothing half-done
    done = _post(manager, "/pools/lead_pool/assign", htmx=False, ids=str(ada), user_id=str(demo.user_id(REP)))
    assert done.status_code == 303 and done.headers["Location"] == "/pools/lead_pool"
    assert demo.owner(ada) == demo.user_id(REP) and demo.owner(bob) is None
    assert _flashes(manager.get("/pools/lead_pool").get_data(as_text=True))[0].startswith("Records assigned to")


def test_a_plain_return_without_a_reason_keeps_what_was_typed_beside_the_error(demo):
    (ada,) = demo.pooled_leads("Ada")
    rep = demo.signed_in(REP)
    _post(rep, "/pools/lead_pool/claim", ids=str(ada))
    refused = _post(rep, "/pools/lead_pool/return", htmx=False, record_id=str(ada), reason="")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and re.search(r'data-field="reason">.*?role="alert"[^>]*>Say why', html, re.S)
    assert f'value="{ada}"' in html and demo.owner(ada) == demo.user_id(REP)
    assert _post(rep, "/pools/lead_pool/assign", htmx=False, ids=str(ada), user_id="1").status_code == 403


# -- pool labels in the user's language ----------------------------------------------------------------------


def test_pool_labels_and_the_whole_pool_screen_speak_chinese(demo):
    (ada,) = demo.pooled_leads("Ada")
    client = demo.signed_in(MANAGER)
    zh = {"Accept-Language": "zh-CN"}
    index = client.get("/pools", headers=zh).get_data(as_text=True)
    assert "线索公海" in index and "客户公海" in index and "Lead pool" not in index
    page = client.get("/pools/lead_pool", headers=zh).get_data(as_text=True)
    assert "<h1" in page and "线索公海</h1>" in page and "Lead pool" not in page
    main = re.sub(r"<[^>]+>", " ", page.split("<main", 1)[1])
    for english in ("Quota left", "Waiting", "Cool-down", "Claim", "Assign", "Reason", "Return", "Search"):
        assert english not in main, english
    response = client.post(
        "/pools/lead_pool/claim", data={"csrf_token": client.csrf, "ids": str(ada)}, headers={**zh, **HTMX}
    )
    assert json.loads(response.headers["HX-Trigger"]) == {"toast": "已领取 1 条记录。"}
    # English stays English; an admin renames the pool in both languages through the access API.
    assert "Lead pool</h1>" in client.get("/pools/lead_pool").get_data(as_text=True)
    demo.admin_api("PATCH", "/api/v1/access/pools/lead_pool", {"translations": {"zh_CN": {"label": "线索池"}}})
    assert "线索池</h1>" in client.get("/pools/lead_pool", headers=zh).get_data(as_text=True)


def test_pool_translations_are_validated(demo):
    identity = identities.identity_for(demo.instance, demo.user_id(ADMIN), DEMO_TENANT)
    token = identities.create_token(demo.instance, identity, "test")[1]
    response = demo.app.test_client().patch(
        "/api/v1/access/pools/lead_pool",
        json={"translations": {"zh_CN": {"label": ""}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422 and "translations" in response.json["error"]["details"]["fields"]
    assert demo.admin_api("GET", "/api/v1/access/pools/lead_pool", None)["translations"] == {
        "zh_CN": {"label": "线索公海"}
    }
