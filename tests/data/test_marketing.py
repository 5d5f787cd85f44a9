"""Marketing (metacrm/data/marketing, crm_core's campaign members): segments
counted in SQL within the reader's scope and checked when saved; merge
fields in both languages; mass e-mail through the outbox at the tenant's
rate; unsubscribe honoured by the next mailing; open and click tracking
without an open redirect; campaign results; the public web-to-lead form
(an assigned lead; honeypot and per-IP limit refusing spam). On SQLite
and, when configured, PostgreSQL; one tenant per module."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from metacrm.access import sharing
from metacrm.access.members import provision_member
from metacrm.app import create_app
from metacrm.data.marketing import service
from metacrm.metadata.model import metadata_service
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.errors import NotFound, ValidationFailed
from metacrm.rules.automation.outbox import deliver
from metacrm.rules.automation.tables import automation_outbox
from tests.conftest import BACKENDS, PASSWORD
from tests.data.crm_support import crm_tenant

BASE = "https://crm.example.com"
CLICK = re.compile(r'href="https://crm\.example\.com/m/c/([^"]+)"')
PIXEL = re.compile(r'src="https://crm\.example\.com/m/o/([^"]+)"')


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("marketing"), request.param) as crm:
        crm.users["admin"] = identities.create_user(
            crm.instance, tenant="crm", email="admin@crm.test", password=PASSWORD, is_admin=True
        )
        provision_member(crm.instance, crm.binding, crm.users["admin"], actor=audit.SYSTEM)
        sharing.create_team(
            crm.instance,
            crm.binding,
            {"api_name": "sales", "label": "Sales", "members": [crm.users["rep"], crm.users["other"]]},
            audit.SYSTEM,
        )
        system = crm.system()
        industries = ["technology", "finance", "technology", "retail", "technology", "technology"]
        for n, industry in enumerate(industries):
            system.create(
                "lead",
                {
                    "last_name": f"Lead{n}",
                    "first_name": "Ann" if n % 2 else "明",
                    "company": f"Company {n}",
                    "email": f"lead{n}@example.com",
                    "industry": industry,
                    "status": "new",
                    "preferred_language": "zh_cn" if n % 2 == 0 else "en",
                },
                owner_id=crm.users["rep" if n < 4 else "other"],
            )
        crm.campaign = system.create(
            "campaign", {"name": "Spring", "status": "active", "actual_cost": "1000"}, owner_id=crm.users["boss"]
        )["id"]
        crm.app = create_app(instance=crm.instance)  # one app for the module: building one costs seconds
        yield crm


def outbox_rows(crm):
    return crm.sql(sa.select(automation_outbox).where(automation_outbox.c.rule == service.OUTBOX_RULE).order_by("id"))


def test_a_segment_counts_what_sql_counts_within_the_readers_scope(crm):
    table = crm.table("lead")
    technology = table.c.industry == "technology"
    everyone = crm.sql(sa.select(sa.func.count()).where(technology, table.c.deleted_at.is_(None)))[0][0]
    own = crm.sql(
        sa.select(sa.func.count()).where(technology, table.c.owner_id == crm.users["rep"], table.c.deleted_at.is_(None))
    )[0][0]
    assert (everyone, own) == (4, 2)
    assert service.segment_count(crm.system(), "lead", "open_technology_leads") == everyone
    assert service.segment_count(crm.store("rep"), "lead", "open_technology_leads") == own
    with pytest.raises(NotFound):
        service.segment_count(crm.system(), "lead", "no_such_segment")


def test_a_segment_condition_is_checked_when_saved_with_line_and_column(crm):
    changes = metadata_service(crm.instance, crm.binding, audit.SYSTEM)
    with pytest.raises(ValidationFailed) as error, changes.change("bad segment") as tx:
        tx.put("segment", "lead", {"api_name": "bad", "label": "Bad", "condition": 'ISPICKVAL(industy, "x")'})
    assert "line 1, column" in str(error.value.details) and "industy" in str(error.value.details)


def test_merge_fields_fill_in_the_recipients_language(crm):
    template = service.email_template(crm.system(), "product_update")
    assert service.template_text(template, "zh_cn")[0].startswith("{{last_name}}{{first_name}}，")
    assert service.template_text(template, "en")[0].startswith("{{first_name}}, ")
    boss = crm.store("boss")  # reads the leads of the reps below them
    assert service.add_members(boss, crm.campaign, "lead", segment_name="open_technology_leads") == {
        "added": 4,
        "already": 0,
    }
    preview = service.mass_email(crm.instance, boss, crm.campaign, "product_update", base_url=BASE, preview=True)
    assert preview["recipients"] == 4
    assert preview["subject"] == "Lead0明，本月新动态"  # lead 0 prefers Chinese
    assert "Company 0" in preview["html"] and "退订" in preview["html"]
    assert crm.sql(sa.select(sa.func.count()).select_from(automation_outbox))[0][0] == 0  # a preview writes nothing


def test_mass_email_respects_the_rate_and_an_unsubscribe_is_honoured_by_the_next(crm, monkeypatch):
    monkeypatch.setitem(crm.instance.config, "MASS_EMAIL_PER_MINUTE", 3)
    result = service.mass_email(crm.instance, crm.store("boss"), crm.campaign, "product_update", base_url=BASE)
    assert result["queued"] == 4
    rows = outbox_rows(crm)
    slots = sorted({row.next_attempt_at for row in rows})
    assert [sum(1 for row in rows if row.next_attempt_at == slot) for slot in slots] == [3, 1]
    assert (slots[1] - slots[0]).total_seconds() == 60
    # The delivery job sends only what is due: this minute's three.
    assert deliver(crm.instance, "crm") == {"undelivered": 3}
    message = rows[0].payload
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = message["headers"]["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url in message["html"] and unsubscribe_url in message["body"]
    # The recipient unsubscribes through the public link (no sign-in).
    client = crm.app.test_client()
    path = urlsplit(unsubscribe_url).path
    assert message["to"] in client.get(path).get_data(as_text=True)
    assert client.post(path).status_code == 200
    member = crm.system().get("campaign_member", rows[0].record_id)
    assert member["status"] == "unsubscribed"
    assert crm.system().get("lead", member["lead"]["id"])["email_opt_out"] is True
    again = service.mass_email(crm.instance, crm.store("boss"), crm.campaign, "product_update", base_url=BASE)
    assert again["queued"] == 3 and again["skipped"] == {"unsubscribed": 1}
    assert message["to"] not in {row.payload["to"] for row in outbox_rows(crm)[4:]}


def test_opens_and_clicks_are_counted_and_the_redirect_goes_only_where_the_mail_linked(crm):
    row = outbox_rows(crm)[-1]
    html = row.payload["html"]
    client = crm.app.test_client()
    pixel = client.get(f"/m/o/{PIXEL.search(html)[1]}")
    assert pixel.status_code == 200 and pixel.mimetype == "image/gif"
    click_token = CLICK.search(html)[1]
    response = client.get(f"/m/c/{click_token}")
    assert response.status_code == 302 and response.headers["Location"] == "https://www.example.com/news"
    member = crm.system().get("campaign_member", row.record_id)
    assert (member["opens"], member["clicks"], member["responded"], member["status"]) == (1, 1, True, "clicked")
    # A token is bound to what it was signed for: no other target, no other action.
    forged = service.tracking_token(crm.instance, "crm", row.record_id, "open")
    assert client.get(f"/m/c/{forged}").status_code == 404
    assert client.get(f"/m/c/{click_token[:-2]}xx").status_code == 404
    other_key = service.URLSafeSerializer("not-the-key", salt=service._SALT)
    evil = other_key.dumps({"t": "crm", "m": row.record_id, "a": "click", "u": "https://evil.example"})
    assert client.get(f"/m/c/{evil}").status_code == 404


def test_campaign_results_roll_up_members_responses_won_amount_and_roi(crm):
    system = crm.system()
    account = system.create("account", {"name": "Won Co"})["id"]
    for stage, amount in (("closed_won", "2500"), ("prospecting", "9000")):
        system.create(
            "opportunity",
            {"name": f"From spring {stage}", "account": account, "stage": stage, "amount": amount,
             "close_date": "2026-12-31", "campaign": crm.campaign},
        )  # fmt: skip
    campaign = system.get("campaign", crm.campaign)
    assert campaign["member_count"] == 4
    assert campaign["responded_count"] == 1
    assert campaign["opportunity_count"] == 2
    assert Decimal(str(campaign["won_amount"])) == Decimal("2500")
    assert Decimal(str(campaign["roi"])) == Decimal("150")


def test_the_api_counts_a_segment_and_previews_a_mass_email_for_its_caller(crm):
    client = crm.app.test_client()
    identity = identities.identity_for(crm.instance, crm.users["rep"], "crm")
    headers = {"Authorization": f"Bearer {identities.create_token(crm.instance, identity, 'test')[1]}"}
    count = client.get("/api/v1/marketing/segments/lead/open_technology_leads/count", headers=headers)
    assert count.status_code == 200 and count.json["count"] == 2
    bad = client.post(f"/api/v1/marketing/campaigns/{crm.campaign}/mass-email", json={"template": 7}, headers=headers)
    assert bad.status_code == 422 and "template" in bad.json["error"]["details"]["fields"]
    templates = client.get("/api/v1/marketing/email-templates", headers=headers).json["data"]
    assert [t["api_name"] for t in templates] == ["product_update"]


def test_a_web_form_post_creates_an_assigned_web_lead_and_spam_is_refused(crm, monkeypatch):
    monkeypatch.setitem(crm.instance.config, "WEB_FORM_POSTS_PER_HOUR", 3)
    client = crm.app.test_client()
    page = client.get("/f/crm/contact_us", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "联系我们" in page.get_data(as_text=True)
    answer = client.post(
        "/f/crm/contact_us", data={"last_name": "Webster", "email": "web@example.com", "company": "Web Co"}
    )
    assert answer.status_code == 200 and "Thank you" in answer.get_data(as_text=True)
    table = crm.table("lead")
    row = crm.sql(sa.select(table).where(table.c.last_name == "Webster"))[0]
    assert row.source == "web" and row.owner_id in (crm.users["rep"], crm.users["other"])
    missing = client.post("/f/crm/contact_us", data={"last_name": "NoMail"})
    assert missing.status_code == 422 and 'role="alert"' in missing.get_data(as_text=True)
    honeypot = client.post(
        "/f/crm/contact_us", data={"last_name": "Bot", "email": "bot@example.com", service.HONEYPOT: "x"}
    )
    assert honeypot.status_code == 400
    limited = client.post("/f/crm/contact_us", data={"last_name": "Late", "email": "late@example.com"})
    assert limited.status_code == 429
    names = {r.last_name for r in crm.sql(sa.select(table.c.last_name))}
    assert "Bot" not in names and "Late" not in names and "NoMail" not in names
    assert client.get("/f/crm/no_such_form").status_code == 404
    assert client.get("/f/nobody/contact_us").status_code == 404


def signed_in(crm, email: str):
    client = crm.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    data = {"email": email, "password": PASSWORD, "tenant": "crm", "csrf_token": token}
    assert client.post("/login", data=data).status_code == 302
    home = client.get("/").get_data(as_text=True)  # signing in starts a new session, with a new token
    return client, home.split('name="csrf-token" content="')[1].split('"')[0]


def test_the_setup_screens_save_through_the_pipeline_and_place_errors_beside_the_box(crm):
    client, csrf = signed_in(crm, "admin@crm.test")
    index = client.get("/setup/marketing").get_data(as_text=True)
    assert 'data-segment="lead.open_technology_leads"' in index and "/f/crm/contact_us" in index
    bad = client.post(
        "/setup/marketing/segments/new",
        data={"csrf_token": csrf, "object": "lead", "api_name": "typo", "label": "Typo", "condition": "scroe > 5"},
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'data-field="condition"' in html and "line 1, column 1" in html
    good = client.post(
        "/setup/marketing/segments/new",
        data={"csrf_token": csrf, "object": "lead", "api_name": "hot", "label": "Hot", "label_zh_CN": "热门",
              "condition": "score > 5"},
    )  # fmt: skip
    assert good.status_code == 302
    page = client.get(good.headers["Location"]).get_data(as_text=True)
    assert 'data-count="' in page
    template = client.post(
        "/setup/marketing/templates/new",
        data={"csrf_token": csrf, "api_name": "broken", "label": "Broken", "subject": "Hi {{first_name",
              "html": "<p>x</p>"},
    )  # fmt: skip
    assert template.status_code == 422 and 'id="subject-error"' in template.get_data(as_text=True)
    form = client.post(
        "/setup/marketing/forms/new",
        data={"csrf_token": csrf, "api_name": "event_signup", "label": "Event", "object": "lead",
              "fields": ["last_name", "email"], "required": ["email"], "values": "source=event",
              "active": ["0", "1"]},
    )  # fmt: skip
    assert form.status_code == 302
    assert client.get("/f/crm/event_signup").status_code == 200
    # Saving the shipped form keeps its own label of a field and the order of its fields.
    resaved = client.post(
        "/setup/marketing/forms/contact_us",
        data={"csrf_token": csrf, "label": "Contact us", "object": "lead", "required": ["last_name", "email"],
              "fields": ["company", "description", "email", "last_name"], "values": "source=web", "active": ["0", "1"]},
    )  # fmt: skip
    assert resaved.status_code == 302
    fields = service.web_form(crm.instance, "crm", "contact_us")[1]["fields"]
    assert [f["field"] for f in fields] == ["last_name", "email", "company", "description"]
    assert fields[3]["label"] == "How can we help?"


def test_the_mass_email_screen_previews_then_sends(crm):
    # Self-contained (a parallel run may start this module's tail on a fresh tenant):
    # the members are there, and the screen agrees with the service's own preview.
    boss = crm.store("boss")
    service.add_members(boss, crm.campaign, "lead", segment_name="open_technology_leads")
    expected = service.mass_email(crm.instance, boss, crm.campaign, "product_update", base_url=BASE, preview=True)
    recipients = expected["recipients"]
    assert recipients > 0
    client, csrf = signed_in(crm, "boss@crm.test")
    record = client.get(f"/o/campaign/{crm.campaign}").get_data(as_text=True)
    assert f"/marketing/campaigns/{crm.campaign}/mass-email" in record
    url = f"/marketing/campaigns/{crm.campaign}/mass-email"
    preview = client.post(url, data={"csrf_token": csrf, "template": "product_update", "action": "preview"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and f'data-recipients="{recipients}"' in html and "/m/o/" not in html
    before = len(outbox_rows(crm))
    sent = client.post(url, data={"csrf_token": csrf, "template": "product_update", "action": "send"})
    assert sent.status_code == 303 and len(outbox_rows(crm)) == before + recipients
    missing = client.post(url, data={"csrf_token": csrf, "template": "", "action": "preview"})
    assert missing.status_code == 422 and 'id="mass-template-error"' in missing.get_data(as_text=True)
