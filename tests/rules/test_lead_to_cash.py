"""Lead to cash in the Standard CRM (issue 13 item 2), end to end on one
tenant per database: opportunity products roll up to the amount; a quote
accepted becomes an order with a copy of its lines; payment plans and
payments give the outstanding and overdue amounts of the order, contract
and account; an invoice against a payment; the quote printed through its
document template (as its reader sees it, escaped) and e-mailed through the
outbox; a new version copies the quote; the contract renewal reminder
fires; bad input is refused naming the field.

It lives with the rule-language tests rather than in crm_core's own: it
needs one tenant per module (a tenant per test would cost a minute), which
the public plugin API's fixtures do not offer, and it exercises the
platform's generic parts (copy_record, document templates, roll-ups of
formulas) through crm_core."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from metacrm.access.members import provision_member
from metacrm.app import create_app
from metacrm.metadata.model import model_for
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins.timeline import timeline
from metacrm.rules.automation.manual import run_manual
from metacrm.rules.automation.scheduled import run_time_rules
from metacrm.rules.automation.tables import automation_outbox, notifications
from metacrm.rules.documents import document_template, render_document
from tests.conftest import BACKENDS, PASSWORD
from tests.data.crm_support import crm_tenant


def today() -> date:
    """The app's TODAY(): the UTC date, read at use (a constant taken at import broke a run that crossed midnight)."""
    return utcnow().date()


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("l2c"), request.param) as crm:
        rep = crm.store("rep")
        crm.widget = rep.create("product", {"name": "Widget <b>", "product_code": "W-1", "list_price": 100})
        crm.gadget = rep.create("product", {"name": "Gadget", "product_code": "G-1", "list_price": 40})
        crm.account = rep.create("account", {"name": "Acme & Co"})
        crm.contact = rep.create(
            "contact",
            {"first_name": "Ada", "last_name": "Li", "full_name": "Ada Li", "email": "ada@acme.test"}
            | {"account": crm.account["id"]},
        )
        yield crm


def _number(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _manual(crm, user: str, object_name: str, record_id: int, rule: str):
    store = crm.store(user)
    return run_manual(crm.instance, crm.binding, store, object_name, record_id, rule)


def test_opportunity_products_roll_up_to_the_amount(crm):
    rep = crm.store("rep")
    close = (today() + timedelta(days=30)).isoformat()
    manual = rep.create("opportunity", {"name": "Manual", "close_date": close, "amount": 5000})
    deal = rep.create("opportunity", {"name": "Deal", "account": crm.account["id"], "close_date": close})
    book = rep.create("price_book", {"name": "Partners"})
    entry = rep.create("price_book_entry", {"price_book": book["id"], "product": crm.widget["id"], "list_price": 90})
    # The price book entry's price fills the line; without one, the product's.
    line = rep.create(
        "opportunity_line_item",
        {"opportunity": deal["id"], "product": crm.widget["id"], "price_book_entry": entry["id"], "quantity": 2},
    )
    assert _number(line["list_price"]) == Decimal("90.00") and _number(line["total"]) == Decimal("180.00")
    other = rep.create(
        "opportunity_line_item",
        {"opportunity": deal["id"], "product": crm.gadget["id"], "quantity": 5, "discount": 10},
    )
    assert _number(other["total"]) == Decimal("180.00")
    assert _number(rep.get("opportunity", deal["id"])["amount"]) == Decimal("360.00")
    rep.update("opportunity_line_item", other["id"], {"quantity": 10})
    assert _number(rep.get("opportunity", deal["id"])["amount"]) == Decimal("540.00")
    rep.delete("opportunity_line_item", other["id"])
    assert _number(rep.get("opportunity", deal["id"])["amount"]) == Decimal("180.00")
    # With lines the amount is theirs; without, it stays as typed.
    with pytest.raises(ValidationFailed) as refused:
        rep.update("opportunity", deal["id"], {"amount": 1})
    assert "amount" in refused.value.details["fields"]
    assert _number(rep.update("opportunity", manual["id"], {"amount": 6000})["amount"]) == Decimal("6000.00")
    # Bad input names the field.
    with pytest.raises(ValidationFailed) as refused:
        rep.create("opportunity_line_item", {"opportunity": deal["id"], "product": crm.widget["id"], "quantity": 0})
    assert "quantity" in refused.value.details["fields"]
    # "Create a quote" copies the opportunity and its products.
    run = _manual(crm, "rep", "opportunity", deal["id"], "create_quote")
    quote_id = run.done[0]["id"]
    quote = rep.get("quote", quote_id)
    assert quote["opportunity"]["id"] == deal["id"] and quote["account"]["id"] == crm.account["id"]
    assert _number(quote["subtotal"]) == Decimal("180.00") and quote["status"] == "draft"


def test_quote_to_order_to_cash(crm):
    rep = crm.store("rep")
    quote = rep.create(
        "quote",
        {"name": "Acme rollout", "account": crm.account["id"], "contact": crm.contact["id"], "discount": 10},
    )
    assert quote["version_number"] == 1 and quote["valid_until"] == (today() + timedelta(days=30)).isoformat()
    rep.create("quote_line", {"quote": quote["id"], "product": crm.widget["id"], "quantity": 10})
    rep.create("quote_line", {"quote": quote["id"], "product": crm.gadget["id"], "quantity": 5, "discount": 50})
    quote = rep.get("quote", quote["id"])
    assert _number(quote["subtotal"]) == Decimal("1100.00") and _number(quote["total"]) == Decimal("990.00")

    # Accepted: the order, with copies of the lines, once.
    rep.update("quote", quote["id"], {"status": "accepted"})
    orders = rep.query("sales_order", filters=[("quote", "eq", quote["id"])]).data
    assert len(orders) == 1
    order = orders[0]
    assert order["account"]["id"] == crm.account["id"] and order["status"] == "draft"
    assert _number(order["total"]) == Decimal("990.00")
    lines = rep.query("order_line", filters=[("sales_order", "eq", order["id"])]).data
    assert sorted(_number(line["total"]) for line in lines) == [Decimal("100.00"), Decimal("1000.00")]
    rep.update("quote", quote["id"], {"status": "sent"})
    rep.update("quote", quote["id"], {"status": "accepted"})
    assert len(rep.query("sales_order", filters=[("quote", "eq", quote["id"])]).data) == 1

    contract = rep.create(
        "contract", {"name": "Acme 2026", "account": crm.account["id"], "start_date": today().isoformat()}
    )
    end = date.fromisoformat(contract["end_date"])
    assert contract["term_months"] == 12 and end > today() + timedelta(days=360)
    assert contract["renewal_date"] == (end - timedelta(days=30)).isoformat()
    rep.update("sales_order", order["id"], {"contract": contract["id"], "status": "activated"})

    # Two instalments: one already due, one next month.
    past = rep.create(
        "payment_plan",
        {"sales_order": order["id"], "due_date": (today() - timedelta(days=5)).isoformat(), "amount": 600},
    )
    later = rep.create(
        "payment_plan",
        {"sales_order": order["id"], "due_date": (today() + timedelta(days=30)).isoformat(), "amount": 390},
    )
    assert past["account"]["id"] == crm.account["id"] and past["contract"]["id"] == contract["id"]
    payment = rep.create("payment", {"sales_order": order["id"], "payment_plan": past["id"], "amount": 400})
    assert rep.get("payment_plan", past["id"])["status"] == "partially_paid"
    assert rep.get("payment_plan", later["id"])["status"] == "open"

    order = rep.get("sales_order", order["id"])
    assert _number(order["paid_amount"]) == Decimal("400.00")
    assert _number(order["outstanding_amount"]) == Decimal("590.00")
    assert _number(order["overdue_amount"]) == Decimal("200.00")
    for name, record_id in (("contract", contract["id"]), ("account", crm.account["id"])):
        record = rep.get(name, record_id)
        assert _number(record["outstanding_amount"]) == Decimal("590.00"), name
        assert _number(record["overdue_amount"]) == Decimal("200.00"), name

    rep.create("payment", {"sales_order": order["id"], "payment_plan": past["id"], "amount": 200})
    assert rep.get("payment_plan", past["id"])["status"] == "paid"
    assert _number(rep.get("account", crm.account["id"])["overdue_amount"]) == Decimal("0.00")

    # An invoice against a payment takes its amount and the order's account.
    invoice = rep.create("invoice", {"sales_order": order["id"], "payment": payment["id"]})
    assert invoice["invoice_number"].startswith("INV-") and _number(invoice["amount"]) == Decimal("400.00")
    assert invoice["account"]["id"] == crm.account["id"]
    assert _number(rep.get("sales_order", order["id"])["invoiced_amount"]) == Decimal("400.00")

    # A payment of another order's plan, or nothing at all, is refused naming the field.
    other = rep.create("sales_order", {"name": "Other", "account": crm.account["id"]})
    with pytest.raises(ValidationFailed) as refused:
        rep.create("payment", {"sales_order": other["id"], "payment_plan": past["id"], "amount": 5})
    assert "payment_plan" in refused.value.details["fields"]
    with pytest.raises(ValidationFailed) as refused:
        rep.create("payment", {"sales_order": order["id"], "amount": -5})
    assert "amount" in refused.value.details["fields"]


def test_new_version_copies_the_quote_and_its_lines(crm):
    rep = crm.store("rep")
    quote = rep.create("quote", {"name": "Versioned", "account": crm.account["id"], "discount": 5})
    rep.create("quote_line", {"quote": quote["id"], "product": crm.widget["id"], "quantity": 3})
    rep.update("quote", quote["id"], {"status": "rejected"})
    run = _manual(crm, "rep", "quote", quote["id"], "new_version")
    copy = rep.get("quote", run.done[0]["id"])
    assert copy["version_number"] == 2 and copy["status"] == "draft"
    assert copy["previous_version"]["id"] == quote["id"] and copy["quote_number"] != quote["quote_number"]
    assert _number(copy["subtotal"]) == Decimal("300.00") and _number(copy["discount"]) == Decimal("5")


def test_the_printed_quote_shows_what_its_reader_may_read_escaped(crm):
    rep = crm.store("rep")
    quote = rep.create(
        "quote",
        {"name": "Print <script>", "account": crm.account["id"], "contact": crm.contact["id"], "terms": "Net 30"},
    )
    rep.create("quote_line", {"quote": quote["id"], "product": crm.widget["id"], "quantity": 1})
    template = document_template(model_for(crm.instance, crm.binding), "quote", "quote")
    html = render_document(rep, "quote", rep.get("quote", quote["id"]), template)["html"]
    assert "Print &lt;script&gt;" in html and "<script>" not in html
    assert "Widget &lt;b&gt;" in html and "Acme &amp; Co" in html and "Net 30" in html
    # A field hidden from the reader prints blank.
    crm.hide("sales_rep", "quote", "terms")
    try:
        rep = crm.store("rep")
        html = render_document(rep, "quote", rep.get("quote", quote["id"]), template)["html"]
        assert "Net 30" not in html and "Print &lt;script&gt;" in html
    finally:
        crm.access("sales_rep", "quote", {"create": True, "read": "own", "update": "own", "delete": "own"})

    # Sent: the rendered quote is the HTML body of an e-mail to the contact, in the outbox.
    _manual(crm, "rep", "quote", quote["id"], "send_to_contact")
    assert crm.store("rep").get("quote", quote["id"])["status"] == "sent"
    rows = crm.sql(
        sa.select(automation_outbox.c.payload).where(
            automation_outbox.c.kind == "email", automation_outbox.c.record_id == quote["id"]
        )
    )
    assert len(rows) == 1
    payload = rows[0][0]
    assert payload["to"] == "ada@acme.test" and payload["subject"].startswith("Quote Q-")
    assert "Print &lt;script&gt;" in payload["html"] and "Print <script>" in payload["body"]


def test_the_renewal_reminder_notifies_the_owner(crm):
    rep = crm.store("rep")
    renewal = (today() + timedelta(days=7)).isoformat()
    fields = {"name": "Renew me", "account": crm.account["id"], "start_date": today().isoformat(), "status": "active"}
    contract = rep.create("contract", {**fields, "renewal_date": renewal})
    rep.create("contract", {**fields, "name": "Draft", "status": "draft", "renewal_date": renewal})
    run_time_rules(crm.instance, crm.binding)
    sent = crm.sql(
        sa.select(notifications.c.user_id, notifications.c.message, notifications.c.record_id).where(
            notifications.c.rule == "contract.renewal_reminder"
        )
    )
    assert [(user, record) for user, _, record in sent] == [(crm.users["rep"], contract["id"])]
    assert "Renew me" in sent[0][1]


def _signed_in(crm, user: str):
    client = create_app(instance=crm.instance).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"email": f"{user}@crm.test", "password": PASSWORD, "tenant": "crm", "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    return client


def _admin_token(crm) -> str:
    user_id = identities.create_user(
        crm.instance, tenant="crm", email="admin@crm.test", password=PASSWORD, role="admin", display_name="Admin"
    )
    provision_member(crm.instance, crm.binding, user_id, actor=audit.SYSTEM)
    identity = identities.identity_for(crm.instance, user_id, "crm")
    return identities.create_token(crm.instance, identity, "test")[1]


def test_the_print_page_and_the_api(crm):
    rep = crm.store("rep")
    quote = rep.create("quote", {"name": "On paper <i>", "account": crm.account["id"], "contact": crm.contact["id"]})
    rep.create("quote_line", {"quote": quote["id"], "product": crm.gadget["id"], "quantity": 2})
    client = _signed_in(crm, "rep")
    page = client.get(f"/o/quote/{quote['id']}").get_data(as_text=True)
    assert f"/o/quote/{quote['id']}/print/quote" in page
    printed = client.get(f"/o/quote/{quote['id']}/print/quote")
    html = printed.get_data(as_text=True)
    assert printed.status_code == 200 and "On paper &lt;i&gt;" in html and "Gadget" in html and "data-print" in html
    assert client.get(f"/o/quote/{quote['id']}/print").status_code == 200
    assert client.get(f"/o/quote/{quote['id']}/print/nope").status_code == 404
    # Another rep's quote is not found, printed or not.
    theirs = crm.store("other").create("quote", {"name": "Not yours"})
    assert client.get(f"/o/quote/{theirs['id']}/print").status_code == 404

    # Document templates are metadata: checked when written through the API.
    headers = {"Authorization": f"Bearer {_admin_token(crm)}"}
    url = "/api/v1/meta/objects/quote/document-templates"
    api = create_app(instance=crm.instance).test_client()
    listed = api.get(url, headers=headers)
    assert listed.status_code == 200 and "quote" in listed.get_data(as_text=True)
    bad = api.put(f"{url}/broken", headers=headers, json={"label": "Broken", "body": "{% for %}"})
    assert bad.status_code == 422 and "body" in bad.get_data(as_text=True)
    bad = api.put(
        f"{url}/lines",
        headers=headers,
        json={
            "api_name": "lines",
            "label": "Lines",
            "body": "x",
            "children": [{"name": "l", "object": "quote_line", "field": "product"}],
        },
    )
    assert bad.status_code == 422 and "children[0].field" in bad.get_data(as_text=True)


def test_the_account_timeline_shows_lead_to_cash(crm):
    # After the journey above: the account's 360° timeline has its quotes,
    # orders, contracts, payment plans, payments and invoices, and the quote e-mailed.
    rep = crm.store("rep")
    entries = timeline(rep, "account", crm.account["id"], limit=200).entries
    created = {e.target.object for e in entries if e.kind == "change" and e.action == "created"}
    assert {"quote", "sales_order", "contract", "payment_plan", "payment", "invoice"} <= created
    assert any(e.kind == "email" and e.target.object == "quote" for e in entries)
