"""The record page: layout sections and highlights, the stage path, related
lists, the actions (delete and restore, transfer, share, claim and return,
explain), hidden fields and access, through the real app and crm_core."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from metacrm.metadata.model import metadata_service
from metacrm.platform import audit
from tests.ui.record_support import Crm, csrf, text


@pytest.fixture
def crm(app, package_tenant) -> Crm:
    return Crm.make(app, package_tenant)


def test_the_page_shows_the_layout_the_stage_path_and_related_lists(crm):
    account = crm.create("account", name="Acme Ltd", industry="technology", billing_city="Shanghai")
    crm.create("contact", full_name="Wang Li", last_name="Wang", account=account["id"])
    client = crm.client()
    response = client.get(f"/o/account/{account['id']}")
    assert response.status_code == 200
    page = text(response)
    assert re.search(r"<h1[^>]*>Acme Ltd</h1>", page)
    assert f'data-record-id="{account["id"]}"' in page
    assert "Account information" in page and "Billing address" in page
    assert 'data-field="billing_city"' in page and "Shanghai" in page
    assert "Contacts" in page and "Wang Li" in page
    assert f'href="/o/contact/new?account={account["id"]}"' in page
    assert f'href="/o/account/new?clone={account["id"]}"' in page
    assert f'href="/o/account/{account["id"]}/edit"' in page


def test_the_stage_path_moves_an_opportunity_and_shows_a_refusal(crm):
    account = crm.create("account", name="Acme Ltd")
    future = (date.today() + timedelta(days=30)).isoformat()
    opportunity = crm.create(
        "opportunity", name="Big deal", account=account["id"], stage="prospecting", close_date=future, amount="100"
    )
    client = crm.client()
    page = text(client.get(f"/o/opportunity/{opportunity['id']}"))
    assert 'aria-current="step"' in page and 'name="value" value="qualification"' in page
    response = client.post(
        f"/o/opportunity/{opportunity['id']}/stage",
        data={"value": "qualification", "version": opportunity["version"], "csrf_token": csrf(page)},
    )
    assert response.status_code == 303
    assert crm.tenant.store().get("opportunity", opportunity["id"])["stage"] == "qualification"
    # A close date in the past: the validation rule refuses the move, the path says why.
    crm.tenant.set_columns("opportunity", opportunity["id"], close_date=date.today() - timedelta(days=3))
    page = text(client.get(f"/o/opportunity/{opportunity['id']}"))
    client.post(f"/o/opportunity/{opportunity['id']}/stage", data={"value": "proposal", "csrf_token": csrf(page)})
    page = text(client.get(f"/o/opportunity/{opportunity['id']}"))
    path = page.split('class="stage-path')[1].split("</section>")[0]
    assert 'role="alert"' in path and "cannot close in the past" in path
    assert crm.tenant.store().get("opportunity", opportunity["id"])["stage"] == "qualification"


def test_a_field_hidden_by_policy_is_nowhere_on_the_page(crm):
    account = crm.create("account", name="Acme Ltd", annual_revenue="123456789", phone="555-0100")
    crm.create("account", name="Acme Sub", parent_account=account["id"], annual_revenue="987654321")
    crm.tenant.store().update("account", account["id"], {"annual_revenue": "222333444"})
    crm.hide("sales_rep", "account", "annual_revenue")
    page = text(crm.client().get(f"/o/account/{account['id']}"))
    assert "555-0100" in page
    assert 'data-field="annual_revenue"' not in page
    for secret in ("123456789", "987654321", "222333444", "Annual revenue"):
        assert secret not in page


def test_another_reps_record_is_not_found(crm):
    account = crm.create("account", name="Acme Ltd")
    response = crm.client("other").get(f"/o/account/{account['id']}")
    assert response.status_code == 404


def test_delete_then_restore(crm):
    account = crm.create("account", name="Acme Ltd")
    client = crm.client()
    page = text(client.get(f"/o/account/{account['id']}"))
    response = client.post(f"/o/account/{account['id']}/delete", data={"csrf_token": csrf(page)})
    assert response.status_code == 303
    page = text(client.get(f"/o/account/{account['id']}"))
    assert "in the recycle bin" in page and "Moved to the recycle bin." in page
    client.post(f"/o/account/{account['id']}/restore", data={"csrf_token": csrf(page)})
    page = text(client.get(f"/o/account/{account['id']}"))
    assert "Restored." in page and "in the recycle bin" not in page


def test_an_action_without_the_csrf_token_is_refused(crm):
    account = crm.create("account", name="Acme Ltd")
    client = crm.client()
    response = client.post(f"/o/account/{account['id']}/delete", data={})
    assert response.status_code in (400, 403)
    assert crm.tenant.store().get("account", account["id"])["name"] == "Acme Ltd"


def test_a_rep_cannot_transfer_and_an_admin_can(crm):
    account = crm.create("account", name="Acme Ltd")
    client = crm.client()
    page = text(client.get(f"/o/account/{account['id']}"))
    assert "Change owner" not in page  # sales reps hold no transfer right
    refused = client.post(f"/o/account/{account['id']}/owner", data={"user_id": crm.other_id, "csrf_token": csrf(page)})
    assert refused.status_code == 403 and "not permit" in text(refused)  # the page, the refusal on it
    assert crm.tenant.store().get("account", account["id"])["owner_id"] == crm.rep_id

    admin = crm.client("admin")
    page = text(admin.get(f"/o/account/{account['id']}"))
    assert "Change owner" in page and "Who can see this?" in page and "Share" in page
    admin.post(f"/o/account/{account['id']}/owner", data={"user_id": crm.other_id, "csrf_token": csrf(page)})
    assert crm.tenant.store().get("account", account["id"])["owner_id"] == crm.other_id


def test_an_admin_shares_a_record_and_explains_who_sees_it(crm):
    account = crm.create("account", name="Acme Ltd")
    admin = crm.client("admin")
    page = text(admin.get(f"/o/account/{account['id']}/explain?user=other@crm.test"))
    assert "Can other@crm.test see this record?" in page and ">No" in page
    admin.post(
        f"/o/account/{account['id']}/share",
        data={"recipient": f"user:{crm.other_id}", "access": "read", "csrf_token": csrf(page)},
    )
    page = text(admin.get(f"/o/account/{account['id']}/explain?user=other@crm.test"))
    assert "Shared." in page and ">Yes" in page
    assert crm.client("other").get(f"/o/account/{account['id']}").status_code == 200
    # A rep may not share.
    rep = crm.client()
    page = text(rep.get(f"/o/account/{account['id']}"))
    response = rep.post(
        f"/o/account/{account['id']}/share",
        data={"recipient": f"user:{crm.other_id}", "access": "edit", "csrf_token": csrf(page)},
    )
    assert response.status_code == 403
    assert rep.get(f"/o/account/{account['id']}/explain?user=rep@crm.test").status_code == 403


def test_return_to_the_pool_then_another_rep_claims_it(crm):
    account = crm.create("account", name="Acme Ltd")
    client = crm.client()
    page = text(client.get(f"/o/account/{account['id']}"))
    assert "Return to Account pool" in page and "Claim from" not in page
    refused = client.post(
        f"/o/account/{account['id']}/return", data={"pool": "account_pool", "reason": "", "csrf_token": csrf(page)}
    )
    assert refused.status_code == 422  # a reason is required: said beside the reason, the dialog open on the page
    assert re.search(r'data-field="reason">.*?role="alert"[^>]*>is required', text(refused), re.S)
    client.post(
        f"/o/account/{account['id']}/return",
        data={"pool": "account_pool", "reason": "No budget this year", "csrf_token": csrf(page)},
    )
    assert crm.tenant.store().get("account", account["id"])["owner_id"] is None

    other = crm.client("other")
    page = text(other.get(f"/o/account/{account['id']}"))
    assert "Claim from Account pool" in page
    response = other.post(f"/o/account/{account['id']}/claim", data={"pool": "account_pool", "csrf_token": csrf(page)})
    assert response.status_code == 303
    assert "Claimed: the record is yours now." in text(other.get(f"/o/account/{account['id']}"))
    assert crm.tenant.store().get("account", account["id"])["owner_id"] == crm.other_id


def test_a_layout_visible_condition_hides_a_field_on_this_record(crm):
    layout = crm.tenant.store().model.definitions.get("layout", "account.default").document
    document = {**layout, "field_rules": {"website": {"visible": 'ISPICKVAL(account_type, "customer")'}}}
    with metadata_service(crm.instance, crm.tenant.binding, audit.SYSTEM).change("website for customers") as tx:
        tx.put("layout", "account", document)
    prospect = crm.create("account", name="Prospect Co", account_type="prospect")
    customer = crm.create("account", name="Customer Co", account_type="customer", website="https://c.example.com")
    client = crm.client()
    assert 'data-field="website"' not in text(client.get(f"/o/account/{prospect['id']}"))
    assert "https://c.example.com" in text(client.get(f"/o/account/{customer['id']}"))


def test_an_object_without_a_layout_shows_every_readable_field(crm):
    account = crm.create("account", name="Acme Ltd", phone="555-0100")
    with metadata_service(crm.instance, crm.tenant.binding, audit.SYSTEM).change("no layout") as tx:
        tx.delete("layout", "account", "default")
    page = text(crm.client().get(f"/o/account/{account['id']}"))
    assert "555-0100" in page and "Acme Ltd" in page


def test_labels_and_values_are_text_not_markup(crm):
    account = crm.create("account", name="<script>alert(1)</script>", description="<b>bold</b>")
    page = crm.client().get(f"/o/account/{account['id']}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_a_many_to_many_field_lists_the_linked_records(crm):
    account = crm.create("account", name="Acme Ltd")
    tea = crm.create("product", name="Green tea", product_code="GT-1")
    future = (date.today() + timedelta(days=30)).isoformat()
    opportunity = crm.create(
        "opportunity", name="Tea deal", account=account["id"], close_date=future, products=[tea["id"]]
    )
    page = text(crm.client().get(f"/o/opportunity/{opportunity['id']}"))
    linked = page.split('data-related="products"')[1].split("</section>")[0]
    assert f'data-record-id="{tea["id"]}"' in linked and "Green tea" in linked
    assert "/o/product/new" not in linked  # linking is done on the form, not by creating a product here


def test_a_manual_automation_runs_from_the_actions_menu_and_a_refusal_is_shown(crm):
    rule = 'WHEN manual IF ISPICKVAL(rating, "cold") THEN SET rating = "warm"'
    with metadata_service(crm.instance, crm.tenant.binding, audit.SYSTEM).change("warm up") as tx:
        tx.put("automation", "account", {"api_name": "warm_up", "label": "Warm up", "rule": rule})
    account = crm.create("account", name="Acme Ltd", rating="cold")
    client = crm.client()
    page = text(client.get(f"/o/account/{account['id']}"))
    action = f"/o/account/{account['id']}/run/warm_up"
    assert f'action="{action}"' in page and "Warm up" in page
    assert client.post(action, data={"csrf_token": csrf(page)}).status_code == 303
    assert crm.tenant.store().get("account", account["id"])["rating"] == "warm"
    # Warm now: the condition no longer holds, the page says so and nothing changes.
    page = text(client.get(f"/o/account/{account['id']}"))
    refused = client.post(action, data={"csrf_token": csrf(page)})
    assert refused.status_code == 422 and "Warm up does not apply to this record" in text(refused)


# -- post/redirect/get: every action answers a plain post with a redirect, or the page with the refusal ------


def _flashes(page: str) -> list[str]:
    return re.findall(r'class="alert[^"]*flash-message"[^>]*>([^<]*)<', page)


def test_a_done_action_redirects_to_the_page_and_says_so_once(crm):
    account = crm.create("account", name="Acme Ltd")
    admin = crm.client("admin")
    url = f"/o/account/{account['id']}"
    page = text(admin.get(url))
    response = admin.post(f"{url}/owner", data={"user_id": crm.other_id, "csrf_token": csrf(page)})
    assert response.status_code == 303 and response.headers["Location"] == url
    assert _flashes(text(admin.get(url))) == ["Owner changed."]
    assert _flashes(text(admin.get(url))) == []  # once: a reload does not repeat it (nor the post)
    response = admin.post(
        f"{url}/timeline", data={"activity_type": "call", "subject": "Rang", "csrf_token": csrf(page)}
    )
    assert response.status_code == 303 and response.headers["Location"] == url
    assert _flashes(text(admin.get(url))) == ["Call logged."]


def test_a_refused_transfer_shows_the_page_with_the_error_beside_the_owner_and_nothing_changes(crm):
    account = crm.create("account", name="Acme Ltd")
    admin = crm.client("admin")
    url = f"/o/account/{account['id']}"
    page = text(admin.get(url))
    refused = admin.post(f"{url}/owner", data={"user_id": "", "csrf_token": csrf(page)})
    html = text(refused)
    assert refused.status_code == 422 and "<h1" in html
    # The dialog's form stands open on the page (no script needed), the error inside its field.
    form = html.split('id="transfer-dialog"')[1].split("</section>")[0]
    assert re.search(r'data-field="user_id">.*?<select[^>]*aria-invalid="true".*?role="alert"', form, re.S)
    assert html.count('id="transfer-dialog"') == 1  # not also as a modal
    assert crm.tenant.store().get("account", account["id"])["owner_id"] == crm.rep_id


def test_a_refused_share_keeps_the_choice_and_shows_the_error_beside_it(crm):
    account = crm.create("account", name="Acme Ltd")
    admin = crm.client("admin")
    url = f"/o/account/{account['id']}"
    page = text(admin.get(url))
    refused = admin.post(f"{url}/share", data={"recipient": "team:nowhere", "access": "edit", "csrf_token": csrf(page)})
    html = text(refused)
    assert refused.status_code in (404, 422) and 'id="share-dialog"' in html
    form = html.split('id="share-dialog"')[1].split("</section>")[0]
    assert 'role="alert"' in form and '<option value="edit" selected>' in form
    assert "Shared." not in html


def test_a_refused_claim_is_shown_on_the_page(crm):
    account = crm.create("account", name="Acme Ltd")
    client = crm.client()
    url = f"/o/account/{account['id']}"
    page = text(client.get(url))
    refused = client.post(f"{url}/claim", data={"pool": "account_pool", "csrf_token": csrf(page)})
    html = text(refused)
    assert refused.status_code in (404, 409, 422) and 'id="claim-account_pool"' in html
    assert 'role="alert"' in html.split('id="claim-account_pool"')[1].split("</section>")[0]
