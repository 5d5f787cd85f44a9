"""Lead conversion (metacrm/data/conversion, crm_core's ``lead.standard``):
one transaction through the save pipeline, the lead marked, read-only and
linked both ways, its activities following; existing records chosen within
the caller's scope; the mapping is metadata checked when saved. On SQLite
and, when configured, PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from metacrm.app import create_app
from metacrm.metadata.model import metadata_service
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.errors import ValidationFailed
from tests.conftest import BACKENDS, PASSWORD
from tests.data.crm_support import crm_tenant


def _id(link):
    """A lookup as the record store shows it: ``{"id", "name"}``."""
    return None if link is None else link["id"]


CLOSE = (dt.date.today() + dt.timedelta(days=60)).isoformat()


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("conversion"), request.param) as crm:
        app = create_app(instance=crm.instance)
        crm.client = app.test_client()
        crm.tokens = {}
        for name in ("rep", "other"):
            identity = identities.identity_for(crm.instance, crm.users[name], "crm")
            crm.tokens[name] = {"Authorization": f"Bearer {identities.create_token(crm.instance, identity, 't')[1]}"}
        yield crm


def _lead(crm, owner="rep", **values):
    data = {"last_name": "Wu", "first_name": "Fei", "full_name": "Wu Fei", "company": "Wu Trading", **values}
    return crm.store(owner).create("lead", data)


def _convert(crm, lead_id, body, who="rep", **headers):
    return crm.client.post(f"/api/v1/data/lead/{lead_id}/convert", json=body, headers={**crm.tokens[who], **headers})


def test_converting_a_lead_creates_the_records_links_them_both_ways_and_moves_the_activities(crm):
    rep = crm.store("rep")
    campaign = rep.create("campaign", {"name": "Spring fair"})
    lead = _lead(crm, email="fei@wu.example", source="referral", industry="retail", city="Hangzhou",
                 campaign=campaign["id"])  # fmt: skip
    call = rep.create("activity", {"subject": "Intro call", "activity_type": "call", "status": "completed",
                                   "lead": lead["id"]})  # fmt: skip
    body = {"opportunity": {"values": {"name": "Wu Trading – CRM", "close_date": CLOSE, "amount": "12000"}}}
    answer = _convert(crm, lead["id"], body)
    assert answer.status_code == 201, answer.json
    targets = answer.json["targets"]
    assert all(targets[name]["created"] for name in ("account", "contact", "opportunity"))
    account = rep.get("account", targets["account"]["id"])
    contact = rep.get("contact", targets["contact"]["id"])
    deal = rep.get("opportunity", targets["opportunity"]["id"])
    # The mapping: values copied, references to the earlier targets.
    assert (account["name"], account["industry"], account["billing_city"]) == ("Wu Trading", "retail", "Hangzhou")
    assert (contact["full_name"], contact["email"], contact["lead_source"]) == ("Wu Fei", "fei@wu.example", "referral")
    assert _id(contact["account"]) == account["id"] and _id(deal["contact"]) == contact["id"]
    assert str(deal["amount"]).startswith("12000") and deal["lead_source"] == "referral"
    assert _id(deal["campaign"]) == campaign["id"]  # a lookup copied by its id
    # The lead: converted, stamped, linked.
    converted = rep.get("lead", lead["id"])
    assert converted["status"] == "converted" and converted["converted_at"] is not None
    assert {name: _id(converted[f"converted_{name}"]) for name in targets} == {n: t["id"] for n, t in targets.items()}
    # The activity follows to the new records (and keeps its lead).
    moved = rep.get("activity", call["id"])
    assert [_id(moved[k]) for k in ("account", "contact", "opportunity", "lead")] == [
        account["id"],
        contact["id"],
        deal["id"],
        lead["id"],
    ]
    assert answer.json["moved"] == {"activity.lead": 1}
    # Read-only from now on, and not converted twice.
    with pytest.raises(ValidationFailed) as refused:
        rep.update("lead", lead["id"], {"title": "CEO"})
    assert "read-only" in str(refused.value)
    again = _convert(crm, lead["id"], {"opportunity": None})
    assert again.status_code == 409
    with crm.binding.connect() as conn:
        entries = audit.entries(conn, action="record.converted", object="lead", record_id=lead["id"])
    assert entries and entries[0]["details"]["targets"]["account"]["id"] == account["id"]


def test_an_existing_account_is_offered_and_chosen_and_the_opportunity_left_out(crm):
    rep = crm.store("rep")
    existing = rep.create("account", {"name": "Northwind Ltd"})
    lead = _lead(crm, company="Northwind", last_name="Li", first_name="Na", full_name="Li Na")
    preview = crm.client.get(f"/api/v1/data/lead/{lead['id']}/convert", headers=crm.tokens["rep"]).json
    account = next(t for t in preview["targets"] if t["object"] == "account")
    assert account["values"]["name"] == "Northwind"
    assert [m["id"] for m in account["matches"]] == [existing["id"]]
    answer = _convert(crm, lead["id"], {"account": {"id": existing["id"]}, "opportunity": None})
    assert answer.status_code == 201, answer.json
    assert answer.json["targets"]["account"] == {"id": existing["id"], "created": False}
    assert answer.json["targets"]["opportunity"] is None
    contact = rep.get("contact", answer.json["targets"]["contact"]["id"])
    assert _id(contact["account"]) == existing["id"]
    assert rep.get("lead", lead["id"])["converted_opportunity"] is None


def test_refusals_leave_nothing_written(crm):
    rep = crm.store("rep")
    accounts_before = len(crm.system().query("account", fields=[], limit=200).data)
    # Someone else's lead: outside the rep's update scope, so "not found".
    theirs = _lead(crm, owner="other")
    assert _convert(crm, theirs["id"], {}).status_code == 404
    # An account the rep may not read is refused like a missing one.
    hidden = crm.store("other").create("account", {"name": "Hidden Co"})
    lead = _lead(crm, company="Acme Robotics")
    answer = _convert(crm, lead["id"], {"account": {"id": hidden["id"]}})
    assert answer.status_code == 422 and answer.json["error"]["details"]["fields"] == {
        "account.id": [f"no account {hidden['id']}"]
    }
    missing = _convert(crm, lead["id"], {"account": {"id": 99_999_999}})
    assert missing.json["error"]["details"]["fields"] == {"account.id": ["no account 99999999"]}
    # A new opportunity without its close date: the message names the target's field; the
    # account and contact created before it are rolled back.
    answer = _convert(crm, lead["id"], {"opportunity": {"values": {"name": "Robots"}}})
    assert answer.status_code == 422 and "opportunity.close_date" in answer.json["error"]["details"]["fields"]
    assert len(crm.system().query("account", fields=[], limit=200).data) == accounts_before + 1  # Hidden Co only
    assert rep.get("lead", lead["id"])["status"] != "converted"
    # Bad bodies name the member.
    answer = _convert(crm, lead["id"], {"account": {"id": "five"}, "invoice": {}})
    assert answer.status_code == 422
    assert set(answer.json["error"]["details"]["fields"]) == {"account.id", "invoice"}
    assert _convert(crm, lead["id"], {"contact": None}).json["error"]["details"]["fields"] == {
        "contact": ["is required by this conversion"]
    }


def test_the_mapping_is_metadata_checked_when_saved(crm):
    bad = {
        "api_name": "broken",
        "label": "Broken",
        "mark": {"status": "won"},
        "stamp": "company",
        "targets": [
            {"object": "account", "link": "converted_contact", "fields": {"name": "nope", "employees": "company"}},
            {"object": "contact", "link": "converted_contact", "references": {"account": "opportunity"}},
        ],
        "related": [{"object": "activity", "field": "account", "set": {"lead": "account"}}],
    }
    with (
        pytest.raises(ValidationFailed) as caught,
        metadata_service(crm.instance, crm.binding, audit.SYSTEM).change("bad conversion") as tx,
    ):
        tx.put("conversion", "lead", bad)
    text = str(caught.value.details)
    for path in (
        "mark.status",
        "stamp",
        "targets.0.link",
        "targets.0.fields.name",
        "targets.0.fields.employees",
        "targets.1.references.account",
        "related.0.field",
        "related.0.set.lead",
    ):
        assert path in text, (path, text)


def _signed_in(crm, email="rep@crm.test"):
    client = create_app(instance=crm.instance).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    data = {"email": email, "password": PASSWORD, "tenant": "crm", "csrf_token": token}
    assert client.post("/login", data=data).status_code == 302
    return client, token


def test_the_screen_offers_matches_shows_errors_beside_fields_and_lands_on_the_account(crm):
    existing = crm.store("rep").create("account", {"name": "Contoso Ltd"})
    lead = _lead(crm, company="Contoso", last_name="Zhao", first_name="Lei", full_name="Zhao Lei")
    client, token = _signed_in(crm)
    record_page = client.get(f"/o/lead/{lead['id']}").get_data(as_text=True)
    assert f'href="/o/lead/{lead["id"]}/convert?conversion=standard"' in record_page
    url = f"/o/lead/{lead['id']}/convert"
    html = client.get(url).get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    assert f'value="{existing["id"]}" checked' in html and 'name="opportunity.close_date"' in html
    form = {"csrf_token": token, "conversion": "standard", "account.choice": "new", "account.name": "Contoso China",
            "contact.choice": "new", "contact.full_name": "Zhao Lei", "contact.last_name": "Zhao",
            "opportunity.choice": "new", "opportunity.name": "Contoso deal", "opportunity.close_date": "",
            "_allow_duplicates": "1"}  # fmt: skip
    refused = client.post(url, data=form)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error_at = page.index('data-field="opportunity.close_date"')
    assert 'role="alert"' in page[error_at : page.index("</div>", page.index("</label>", error_at) + 200) + 6]
    done = client.post(url, data={**form, "account.choice": str(existing["id"]), "opportunity.choice": "skip"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/o/account/{existing['id']}")
    assert crm.store("rep").get("lead", lead["id"])["status"] == "converted"
    assert "convert?conversion" not in client.get(f"/o/lead/{lead['id']}").get_data(as_text=True)
