"""The list screen (/o/<object>) on the server: columns from the list view,
sort, filters, where= and its live check, quick search, pages, the capped
count, empty states, personal views, inline edit and bulk actions — always
through the guard, a hidden field nowhere."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from metacrm.plugins.records import ListRequest, capped_total
from metacrm.ui.views import lists
from tests.conftest import BACKENDS
from tests.ui.list_demo import HIDDEN, make_demo


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    """The demo organisation, once for the module (tests/ui/list_demo.py)."""
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


HTMX = {"HX-Request": "true", "HX-Target": "list-results"}


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-record-id="(\d+)"', html)]


def text(response) -> str:
    return response.get_data(as_text=True)


def test_the_list_shows_the_default_view_columns_and_links_and_hides_what_the_rep_may_not_read(demo):
    mine = demo.opportunity(name="Rep's <b>deal</b>", amount="1200.00")
    theirs = demo.opportunity(owner="sales_manager", name="Manager deal")
    client = demo.client("sales_rep")
    html = text(client.get("/o/opportunity"))
    assert "<h1" in html and ">Opportunities</h1>" in html
    assert mine["id"] in rows(html) and theirs["id"] not in rows(html)  # the rep's scope: own records
    assert "Rep&#39;s &lt;b&gt;deal&lt;/b&gt;" in html and "<b>deal" not in html  # user data stays text
    assert f'href="/o/opportunity/{mine["id"]}"' in html and 'href="/o/opportunity/new"' in html
    for column in ("account", "stage", "amount", "close_date"):
        assert f'data-field="{column}"' in html
    # probability is in the view's columns, but hidden from a rep: no cell, filter, sort option or column box
    assert HIDDEN not in html
    manager = text(demo.client("sales_manager").get("/o/opportunity"))
    assert f'data-field="{HIDDEN}"' in manager and f'value="-{HIDDEN}"' in manager


def test_sort_by_a_header_sets_aria_sort_and_an_htmx_request_gets_the_results_alone(demo):
    low = demo.opportunity(name="Sort low", amount="10.00")
    high = demo.opportunity(name="Sort high", amount="99999.00")
    client = demo.client()
    page = text(client.get("/o/opportunity?sort=-amount&q=Sort"))
    assert rows(page) == [high["id"], low["id"]]
    assert 'aria-sort="descending"' in page and "sort=amount" in page  # clicking again sorts ascending
    fragment = text(client.get("/o/opportunity?sort=amount&q=Sort", headers=HTMX))
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="list-results"')
    assert rows(fragment) == [low["id"], high["id"]] and 'aria-sort="ascending"' in fragment


def test_filters_quick_search_and_where_narrow_the_list_and_empty_controls_are_ignored(demo):
    proposal = demo.opportunity(name="Filter proposal", stage="proposal", amount="5000.00")
    demo.opportunity(name="Filter prospect", stage="prospecting", amount="50.00")
    client = demo.client()
    assert rows(text(client.get("/o/opportunity?q=Filter&filter.stage=proposal&filter.amount[gte]="))) == [
        proposal["id"]
    ]
    assert rows(text(client.get("/o/opportunity?q=Filter&filter.amount[gte]=1000"))) == [proposal["id"]]
    assert rows(text(client.get("/o/opportunity?q=Filter&where=amount+%3E+1000"))) == [proposal["id"]]


def test_a_bad_where_is_shown_beside_the_list_and_the_live_check_names_line_and_column(demo):
    client = demo.client()
    html = text(client.get("/o/opportunity?where=amount+%3E", headers=HTMX))
    assert 'role="alert"' in html and "line 1, column" in html
    check = text(client.get("/o/opportunity/where-check?where=amount+%3E%3E+1"))
    assert 'role="alert"' in check and "Line 1, column 9:" in check and "<pre" in check
    assert "The condition is valid." in text(client.get("/o/opportunity/where-check?where=amount+%3E+1"))
    hidden = text(client.get(f"/o/opportunity/where-check?where={HIDDEN}+%3E+1"))
    assert 'role="alert"' in hidden  # a hidden field is no field, in the where box too


def test_keyset_pages_and_a_count_capped_on_big_tables(demo, monkeypatch):
    made = [demo.opportunity(name=f"Paged {i:02d}") for i in range(4)]
    monkeypatch.setattr(lists, "PAGE_SIZE", 3)
    client = demo.client()
    first = text(client.get("/o/opportunity?q=Paged&sort=name"))
    assert rows(first) == [r["id"] for r in made[:3]]
    # More than a page: the count comes in a request of its own, so the rows never wait for it.
    count_url = re.search(r'id="list-count" hx-get="([^"]+)"', first)[1].replace("&amp;", "&")
    assert count_url == "/o/opportunity/count?q=Paged&sort=name"
    assert "4 records" in text(client.get(count_url))
    next_url = re.search(r'rel="next" href="([^"]+)"', first)[1].replace("&amp;", "&")
    last = text(client.get(next_url))
    assert rows(last) == [made[3]["id"]] and 'id="list-count" hx-get=' in last
    monkeypatch.setattr(lists, "COUNT_CAP", 2)
    assert "2+ records" in text(client.get(count_url))
    assert "1 record" in text(client.get("/o/opportunity?q=Paged+03"))  # one page: counted in place


def test_the_results_frame_is_kept_between_pages_with_each_pages_rows_and_cursor(demo, monkeypatch):
    """views.lists keeps the results block around the rows (count, sort menu,
    table head, pager) per user and input: page after page it is the same
    markup, with each page's own rows and next cursor put in."""
    made = [demo.opportunity(name=f"Framed {i:02d}") for i in range(7)]
    monkeypatch.setattr(lists, "PAGE_SIZE", 3)
    client = demo.client()
    url = "/o/opportunity?q=Framed&sort=name"
    first = text(client.get(url, headers=HTMX))
    second_url = re.search(r'rel="next" href="([^"]+)"', first)[1].replace("&amp;", "&")
    second = text(client.get(second_url, headers=HTMX))
    third_url = re.search(r'rel="next" href="([^"]+)"', second)[1].replace("&amp;", "&")
    third = text(client.get(third_url, headers=HTMX))
    assert [rows(first), rows(second), rows(third)] == [[r["id"] for r in made[i : i + 3]] for i in (0, 3, 6)]
    assert second_url != third_url and 'rel="next"' not in third
    assert "First page" not in first and "First page" in second and "First page" in third
    head = [page.split("<tbody>")[0] for page in (first, second, text(client.get(url, headers=HTMX)))]
    assert head[0] == head[1] == head[2] and 'aria-sort="ascending"' in head[0]
    assert all("\x00" not in page and "%00" not in page for page in (first, second, third))
    # The same page as the full screen: the same results block, kept or not.
    whole = text(client.get(url))
    assert whole.split('<div id="list-results"')[1].startswith(first.split('<div id="list-results"')[1][:2000])


def test_capped_total_counts_exactly_below_the_cap_and_stops_at_it(demo):
    for _ in range(3):
        demo.opportunity(name="Counted")
    store = demo.store()
    request = ListRequest.from_args({"q": "Counted"})
    assert capped_total(store, "opportunity", request, 10) == (3, False)
    assert capped_total(store, "opportunity", request, 2) == (2, True)


def test_empty_states_say_what_to_do_next(demo):
    client = demo.client()
    no_match = text(client.get("/o/opportunity?q=nothing-matches-this"))
    assert "No Opportunities match." in no_match and "Clear filters" in no_match
    empty = text(client.get("/o/campaign"))
    assert "No Campaigns yet." in empty and 'href="/o/campaign/new"' in empty
    reader = text(demo.client("read_only").get("/o/campaign"))
    assert "No Campaigns yet." in reader and 'href="/o/campaign/new"' not in reader  # may not create


def test_inline_edit_saves_with_the_version_and_keeps_a_refusal_in_the_cell(demo):
    deal = demo.opportunity(name="Inline", amount="100.00")
    client = demo.client()
    url = f"/o/opportunity/{deal['id']}/cell/amount"
    form = text(client.get(url))
    assert 'name="amount"' in form and f'name="version" value="{deal["version"]}"' in form
    refused = client.post(url, data={"amount": "-5", "version": deal["version"], "csrf_token": client.csrf})
    assert refused.status_code == 200 and 'role="alert"' in text(refused)
    assert "The amount cannot be negative" in text(refused)
    assert demo.get("opportunity", deal["id"])["amount"] == Decimal("100.00")  # nothing written
    saved = client.post(url, data={"amount": "250", "version": deal["version"], "csrf_token": client.csrf})
    assert "250.00" in text(saved) and "Saved." in saved.headers["HX-Trigger"]
    stale = client.post(url, data={"amount": "300", "version": deal["version"], "csrf_token": client.csrf})
    assert "changed by someone else" in text(stale)
    assert demo.get("opportunity", deal["id"])["amount"] == Decimal("250.00")


def test_a_cell_of_a_hidden_field_or_without_the_token_is_refused(demo):
    deal = demo.opportunity(name="Guarded")
    client = demo.client()
    assert client.get(f"/o/opportunity/{deal['id']}/cell/{HIDDEN}").status_code == 422
    no_token = client.post(f"/o/opportunity/{deal['id']}/cell/amount", data={"amount": "1"})
    assert no_token.status_code == 400
    other = demo.opportunity(owner="sales_manager", name="Not mine")
    assert client.get(f"/o/opportunity/{other['id']}/cell/amount").status_code == 404


def test_bulk_edit_reports_each_record_it_could_not_change(demo):
    a, b = demo.opportunity(name="Bulk A"), demo.opportunity(name="Bulk B")
    other = demo.opportunity(owner="sales_manager", name="Bulk other")
    client = demo.client()
    data = {
        "bulk_action": "edit",
        "bulk_field": "next_step",
        "next_step": "Call back",
        "ids": [a["id"], b["id"], other["id"]],
        "csrf_token": client.csrf,
    }
    html = text(client.post("/o/opportunity/bulk?q=Bulk", data=data, headers=HTMX))
    assert "2 records done." in html and "Not done for 1 record:" in html
    assert f'data-failed-id="{other["id"]}"' in html
    assert demo.get("opportunity", a["id"])["next_step"] == "Call back"
    assert demo.get("opportunity", other["id"])["next_step"] is None


def test_bulk_delete_assign_owner_and_return_to_pool(demo):
    client = demo.client()
    doomed = demo.opportunity(name="Bulk delete")
    data = {"bulk_action": "delete", "ids": [doomed["id"]], "csrf_token": client.csrf}
    assert "1 record done." in text(client.post("/o/opportunity/bulk", data=data))
    assert doomed["id"] not in rows(text(client.get("/o/opportunity?q=Bulk+delete")))

    account = demo.account(name="Pooled account")
    data = {"bulk_action": "pool", "bulk_pool": "account_pool", "bulk_reason": "", "ids": [account["id"]]}
    html = text(client.post("/o/account/bulk", data={**data, "csrf_token": client.csrf}))
    assert "Not done for 1 record:" in html  # a reason is required
    data["bulk_reason"] = "No budget this year"
    assert "1 record done." in text(client.post("/o/account/bulk", data={**data, "csrf_token": client.csrf}))
    assert demo.get("account", account["id"])["owner_id"] is None

    # Only a role with the transfer right sees and may use "Assign owner".
    assert 'value="owner"' not in text(client.get("/o/opportunity"))
    deal = demo.opportunity(owner="sales_rep", name="Bulk transfer")
    manager = demo.client("sales_manager")
    assert 'value="owner"' in text(manager.get("/o/opportunity"))
    data = {"bulk_action": "owner", "bulk_owner": demo.users["sales_manager"], "ids": [deal["id"]]}
    assert "1 record done." in text(manager.post("/o/opportunity/bulk", data={**data, "csrf_token": manager.csrf}))
    assert demo.get("opportunity", deal["id"])["owner_id"] == demo.users["sales_manager"]


def test_personal_views_are_saved_chosen_from_the_menu_and_private(demo):
    client = demo.client()
    data = {
        "label": "My proposals",
        "query": "filter.stage=proposal&sort=-amount&cursor=abc",
        "csrf_token": client.csrf,
    }
    response = client.post("/o/opportunity/views", data=data)
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/o/opportunity?filter.stage=proposal&sort=-amount"
    )
    page = text(client.get("/o/opportunity?filter.stage=proposal&sort=-amount"))
    assert "All opportunities" in page and "Open opportunities" in page  # the shared views
    # The user's own views come when the menu opens, with the list's query to mark the current one.
    slot = re.search(r'hx-get="(/o/opportunity/views/personal\?query=[^"]*)"', page)[1].replace("&amp;", "&")
    menu = text(client.get(slot))
    assert "My proposals" in menu and 'aria-current="true' in menu
    manager = demo.client("sales_manager")
    assert "My proposals" not in text(manager.get("/o/opportunity/views/personal?query="))
    view_id = re.search(r"/o/opportunity/views/(\d+)/delete", menu)[1]
    client.post(f"/o/opportunity/views/{view_id}/delete", data={"csrf_token": client.csrf})
    assert "My proposals" not in text(client.get("/o/opportunity/views/personal?query="))


def test_a_shared_view_brings_its_columns_filters_and_sort(demo):
    won = demo.opportunity(name="View won", stage="closed_won", close_date=dt.date.today().isoformat())
    demo.opportunity(name="View open")
    html = text(demo.client().get("/o/opportunity?view=won&q=View"))
    assert rows(html) == [won["id"]] and 'data-field="stage"' not in html.split("<tbody>")[1]
    assert 'aria-sort="descending"' in html  # the view sorts by -close_date


def test_unknown_objects_bad_parameters_and_crafted_posts_are_refused(demo):
    client = demo.client()
    assert client.get("/o/nothing").status_code == 404
    bad = text(client.get("/o/opportunity?Bad-Name=1"))
    assert 'role="alert"' in bad and "unknown query parameter" in bad
    deal = demo.opportunity(name="Crafted")
    assert client.get(f"/o/opportunity/{deal['id']}/cell/owner_id").status_code == 422  # no field to edit
    account = demo.account(name="Crafted account")
    data = {"bulk_action": "pool", "bulk_pool": "lead_pool", "bulk_reason": "x", "ids": [account["id"]]}
    html = text(client.post("/o/account/bulk", data={**data, "csrf_token": client.csrf}))
    assert "Not done for 1 record:" in html and "no pool of" in html
    assert demo.get("account", account["id"])["owner_id"] == demo.users["sales_rep"]
    assert demo.client("read_only").post("/o/opportunity/bulk", data={}).status_code == 400  # no CSRF token


def test_the_filter_panel_and_the_bulk_owners_come_when_asked_for(demo):
    client = demo.client()
    page = text(client.get("/o/opportunity"))
    # Not in the page: fetched when the panel is first opened, with the list's query.
    assert 'name="filter.stage"' not in page and 'hx-get="/o/opportunity/filters"' in page
    assert "show.bs.collapse from:#list-filters once" in page
    # A filtered URL fetches it on load; its filters ride along in the form until then.
    filtered = text(client.get("/o/opportunity?filter.stage=proposal&fields=name,amount"))
    assert 'hx-trigger="load"' in filtered and "filters?filter.stage=proposal" in filtered
    assert '<input type="hidden" name="filter.stage" value="proposal">' in filtered
    assert '<input type="hidden" name="fields" value="name,amount">' in filtered
    panel = text(client.get("/o/opportunity/filters?filter.stage=proposal", headers={"HX-Request": "true"}))
    assert "<html" not in panel and 'name="filter.stage"' in panel and 'id="list-where"' in panel
    assert HIDDEN not in panel  # a hidden field has no filter and no column box
    # Without JS the link gives the whole list page with the panel in it.
    whole = text(client.get("/o/opportunity/filters?filter.stage=proposal"))
    assert "<html" in whole and 'name="filter.stage"' in whole and 'aria-expanded="true"' in whole
    assert client.get("/o/nothing/filters").status_code == 404

    # The members for "assign owner": only for a role with the transfer right.
    assert client.get("/o/opportunity/bulk-owners").status_code == 403
    manager = demo.client("sales_manager")
    assert "/o/opportunity/bulk-owners" in text(manager.get("/o/opportunity"))
    owners = text(manager.get("/o/opportunity/bulk-owners"))
    assert 'id="bulk-owner"' in owners and f'value="{demo.users["sales_manager"]}"' in owners


def test_the_bulk_edit_controls_come_when_the_bar_shows(demo):
    client = demo.client()
    page = text(client.get("/o/opportunity"))
    assert 'value="edit"' in page and 'id="bulk-field"' not in page and "/o/opportunity/bulk-edit" in page
    controls = text(client.get("/o/opportunity/bulk-edit"))
    assert 'id="bulk-field"' in controls and 'value="next_step"' in controls and 'id="bulk-value-input"' in controls
    assert HIDDEN not in controls  # a field the rep may not read is no choice


def _filter_order(html: str) -> list[str]:
    return re.findall(r'class="filter filter-[^"]*" data-field="([^"]+)"', html)


def test_the_filter_panel_shows_the_columns_first_and_a_control_per_kind_of_field(demo):
    acme = demo.account(name="Filter Acme")
    mine = demo.opportunity(name="By account", account=acme["id"])
    demo.opportunity(name="By no account")
    client = demo.client()
    panel = text(client.get(f"/o/opportunity/filters?filter.account={acme['id']}", headers={"HX-Request": "true"}))
    order = _filter_order(panel)
    assert order[:5] == ["name", "account", "stage", "amount", "close_date"]  # the view's columns, in order
    labels = re.findall(r'data-field="[^"]+">\n<(?:label for="[^"]+"|legend)>([^<]+)<', panel)
    assert labels[5:] == sorted(labels[5:], key=str.casefold) and len(labels) == len(order)  # the rest, by label
    assert "id" not in order and HIDDEN not in order
    # A lookup filters by the picked record: a typeahead of the target, the record shown by name.
    assert 'name="filter.account" data-lookup="account"' in panel
    assert f'<option value="{acme["id"]}" selected>Filter Acme</option>' in panel
    assert rows(text(client.get(f"/o/opportunity?filter.account={acme['id']}"))) == [mine["id"]]
    # Numbers and dates from/to, a picklist a select.
    for control in ('name="filter.amount[gte]"', 'name="filter.amount[lte]"', 'name="filter.close_date[gte]"'):
        assert control in panel
    assert '<select id="filter-stage" name="filter.stage">' in panel
    # Columns chosen in the URL come first, in their order.
    chosen = text(client.get("/o/opportunity/filters?fields=amount,stage", headers={"HX-Request": "true"}))
    assert _filter_order(chosen)[:3] == ["name", "amount", "stage"]


def test_a_multi_picklist_filters_by_every_value_picked_and_a_boolean_by_yes_no_any(demo):
    both = demo.create(
        "contact",
        last_name="Chan both",
        full_name="Chan both",
        preferred_channels=["email", "wechat"],
        do_not_call=True,
    )
    demo.create("contact", last_name="Chan one", full_name="Chan one", preferred_channels=["email"])
    client = demo.client()
    query = "filter.preferred_channels[contains]=email&filter.preferred_channels[contains]=wechat"
    panel = text(client.get(f"/o/contact/filters?{query}", headers={"HX-Request": "true"}))
    assert '<select multiple id="filter-preferred_channels" name="filter.preferred_channels[contains]"' in panel
    assert '<option value="email" selected>' in panel and '<option value="wechat" selected>' in panel
    assert rows(text(client.get(f"/o/contact?q=Chan&{query}"))) == [both["id"]]
    assert '<option value="true">Yes</option>' in panel and '<option value="">Any</option>' in panel
    assert rows(text(client.get("/o/contact?q=Chan&filter.do_not_call=true"))) == [both["id"]]


def test_field_messages_start_with_a_capital_in_the_cell_and_the_bulk_report_and_are_translated(demo):
    deal = demo.opportunity(name="Capital")
    client = demo.client()
    url = f"/o/opportunity/{deal['id']}/cell/name"
    refused = text(client.post(url, data={"name": "", "version": deal["version"], "csrf_token": client.csrf}))
    alert = refused.split('role="alert"', 1)[1].split("</div>", 1)[0]
    assert "Is required" in alert and "is required" not in alert
    assert demo.get("opportunity", deal["id"])["name"] == "Capital"  # nothing written
    data = {"bulk_action": "edit", "bulk_field": "name", "name": "", "ids": [deal["id"]], "csrf_token": client.csrf}
    report = text(client.post("/o/opportunity/bulk?q=Capital", data=data, headers=HTMX))
    assert "Opportunity name: Is required" in report
    chinese = {"Accept-Language": "zh-CN"}
    translated = client.post(
        url, data={"name": "", "version": deal["version"], "csrf_token": client.csrf}, headers=chinese
    )
    assert "为必填项" in text(translated).split('role="alert"', 1)[1]


def test_the_page_around_the_rows_is_kept_per_user_and_input_and_carries_this_sessions_token(demo):
    """views.lists keeps the page around the results rendered (issue 10, item 11):
    the same page again is the same markup with the rows of now and the
    session's own CSRF token; another user, another URL or another language
    gets its own."""
    rep, manager = demo.client("sales_rep"), demo.client("sales_manager")
    first = text(rep.get("/o/opportunity?q=Kept"))
    added = demo.opportunity(name="Kept deal")
    second = text(rep.get("/o/opportunity?q=Kept"))
    assert added["id"] not in rows(first) and rows(second) == [added["id"]]  # the rows are never kept
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', second)[1]
    # this page's token in every form: save view, bulk actions, the top bar's
    assert set(re.findall(r'name="csrf_token" value="([^"]+)"', second)) == {token}
    saved = rep.post("/o/opportunity/views", data={"label": "Kept view", "query": "q=Kept", "csrf_token": token})
    assert saved.status_code == 303
    around = [
        re.sub(r'(csrf_token" value="|csrf-token" content="|CSRFToken": ")[^"]+', r"\1T", page)
        for page in (first, second)
    ]
    assert "\x00" not in second and around[0].split('id="list-results"')[0] == around[1].split('id="list-results"')[0]
    other = text(manager.get("/o/opportunity?q=Kept"))
    manager_token = re.search(r'<meta name="csrf-token" content="([^"]+)"', other)[1]
    assert set(re.findall(r'name="csrf_token" value="([^"]+)"', other)) == {manager_token}
    assert 'value="Kept"' in second and 'value="Other"' in text(rep.get("/o/opportunity?q=Other"))
    preferences = {"time_zone": "UTC", "csrf_token": rep.csrf}
    assert rep.post("/account/preferences", data={**preferences, "locale": "zh_CN"}).status_code == 302
    chinese = text(rep.get("/o/opportunity?q=Kept"))
    assert "保存视图" in chinese and rows(chinese) == [added["id"]]
    assert rep.post("/account/preferences", data={**preferences, "locale": "en"}).status_code == 302
