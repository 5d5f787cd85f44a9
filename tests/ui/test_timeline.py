"""The activity timeline of a record page (customer 360°): activities,
changes from the audit log and e-mails from the outbox, the related
records' events rolled up, the kind filter, paging, hidden fields, and the
quick actions through htmx."""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from metacrm.platform.clock import utcnow
from metacrm.rules.automation.tables import automation_outbox
from tests.ui.record_support import Crm, csrf, text

HTMX = {"HX-Request": "true"}


@pytest.fixture
def crm(app, package_tenant) -> Crm:
    return Crm.make(app, package_tenant)


def timeline_of(page: str) -> str:
    return page.split('id="timeline"')[1]


def entries(page: str) -> list[str]:
    return timeline_of(page).split('class="timeline-entry')[1:]


def outbox_email(crm, object_name: str, record_id: int, subject: str) -> None:
    with crm.tenant.binding.begin() as conn:
        conn.execute(
            sa.insert(automation_outbox).values(
                kind="email",
                rule="welcome",
                object=object_name,
                record_id=record_id,
                payload={"to": "buyer@acme.test", "subject": subject, "body": "secret body"},
                status="undelivered",
                created_at=utcnow(),
            )
        )


def test_one_stream_newest_first_with_the_related_records_events(crm):
    account = crm.create("account", name="Acme Ltd")
    contact = crm.create("contact", full_name="Wang Li", last_name="Wang", account=account["id"])
    crm.create("activity", subject="Intro call", activity_type="call", account=account["id"])
    crm.create("activity", subject="Met Wang", activity_type="meeting", contact=contact["id"])
    outbox_email(crm, "contact", contact["id"], "Welcome aboard")
    crm.tenant.store().update("account", account["id"], {"phone": "555-0100"})
    page = text(crm.client().get(f"/o/account/{account['id']}"))
    stream = entries(page)
    assert "changed" in stream[0] and "Phone" in stream[0] and "555-0100" in stream[0]
    assert "Welcome aboard" in stream[1] and "buyer@acme.test" in stream[1] and "secret body" not in page
    assert "Contact" in stream[1] and "Wang Li" in stream[1]  # where it happened
    assert "Met Wang" in stream[2] and "Wang Li" in stream[2]
    assert "Intro call" in stream[3]
    assert any("created the record" in entry for entry in stream)


def test_the_kind_filter_and_paging(crm):
    account = crm.create("account", name="Acme Ltd")
    for number in range(30):
        crm.create("activity", subject=f"Call {number:02}", activity_type="call", account=account["id"])
    outbox_email(crm, "account", account["id"], "Quote sent")
    client = crm.client()
    page = text(client.get(f"/o/account/{account['id']}/timeline?kind=email", headers=HTMX))
    assert [("Quote sent" in e) for e in entries(page)] == [True]
    assert page.lstrip().startswith("<section") and "<html" not in page  # the fragment alone

    page = text(client.get(f"/o/account/{account['id']}?kind=activity"))
    first = entries(page)
    assert len(first) == 25 and "Call 29" in first[0]
    older = timeline_of(page).split(">Older<")[0].rsplit('href="', 1)[1].split('"')[0]
    page = text(client.get(older))
    rest = entries(page)
    assert len(rest) == 5 and "Call 04" in rest[0] and "Call 00" in rest[-1]
    assert client.get(f"/o/account/{account['id']}?kind=gossip").status_code == 422
    assert client.get(f"/o/account/{account['id']}?before=yesterday").status_code == 422


def test_changes_show_only_fields_the_user_may_read(crm):
    account = crm.create("account", name="Acme Ltd")
    store = crm.tenant.store()
    store.update("account", account["id"], {"annual_revenue": "4444555"})  # hidden only: no entry
    store.update("account", account["id"], {"annual_revenue": "6666777", "phone": "555-0199"})
    crm.hide("sales_rep", "account", "annual_revenue")
    page = text(crm.client().get(f"/o/account/{account['id']}?kind=change"))
    stream = entries(page)
    assert len(stream) == 2  # the change of phone (and revenue), then the creation
    assert "555-0199" in stream[0] and "Annual revenue" not in page
    assert "4444555" not in page and "6666777" not in page


def test_another_users_activities_stay_out(crm):
    account = crm.create("account", name="Acme Ltd")
    crm.tenant.store().create("activity", {"subject": "Private note", "account": account["id"]}, owner_id=crm.other_id)
    crm.create("activity", subject="My note", account=account["id"])
    page = text(crm.client().get(f"/o/account/{account['id']}"))
    assert "My note" in page and "Private note" not in page


def test_log_a_call_through_htmx_and_a_missing_subject_is_named(crm):
    account = crm.create("account", name="Acme Ltd")
    client = crm.client()
    page = text(client.get(f"/o/account/{account['id']}"))
    assert "Log a call" in page and "Add a note" in page and "Add a task" in page
    token = csrf(page)
    response = client.post(
        f"/o/account/{account['id']}/timeline",
        data={"activity_type": "call", "subject": "", "description": "typed", "csrf_token": token},
        headers=HTMX,
    )
    fragment = text(response)
    assert response.status_code == 200 and "<html" not in fragment
    subject = fragment.split('id="quick-call"')[1].split('data-field="subject"')[1].split("</div>")[0]
    assert 'role="alert"' in subject
    assert "typed" in fragment  # what the user typed stays
    assert crm.tenant.store().query("activity").data == []

    response = client.post(
        f"/o/account/{account['id']}/timeline",
        data={"activity_type": "call", "subject": "Called about renewal", "csrf_token": token},
        headers=HTMX,
    )
    assert response.status_code == 200 and "Call logged." in html.unescape(response.headers["HX-Trigger"])
    assert "Called about renewal" in entries(text(response))[0]
    (activity,) = crm.tenant.store().query("activity").data
    assert activity["account"]["id"] == account["id"]
    assert (activity["activity_type"], activity["status"]) == ("call", "completed")
    assert activity["owner_id"] == crm.rep_id


def test_a_quick_action_without_javascript_redirects_back(crm):
    account = crm.create("account", name="Acme Ltd")
    client = crm.client()
    token = csrf(text(client.get(f"/o/account/{account['id']}")))
    response = client.post(
        f"/o/account/{account['id']}/timeline",
        data={"activity_type": "task", "subject": "Send the quote", "due_date": "2031-01-05", "csrf_token": token},
    )
    assert response.status_code == 303
    page = text(client.get(f"/o/account/{account['id']}"))
    assert "Task added." in page and "Send the quote" in entries(page)[0]
    (activity,) = crm.tenant.store().query("activity").data
    assert activity["status"] == "open" and activity["due_date"] == "2031-01-05"


@pytest.mark.parametrize("action", ["meeting", "nonsense"])
def test_only_the_offered_quick_actions_are_taken(crm, action):
    account = crm.create("account", name="Acme Ltd")
    client = crm.client()
    token = csrf(text(client.get(f"/o/account/{account['id']}")))
    response = client.post(
        f"/o/account/{account['id']}/timeline", data={"activity_type": action, "subject": "x", "csrf_token": token}
    )
    assert response.status_code == 422
    assert crm.tenant.store().query("activity").data == []
