"""The kanban board (/o/<object>/board) on the server: a column per picklist
value with its count and sum, cards with the name and key fields, moves
saved through the record store (validation rules and access decide)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.conftest import BACKENDS
from tests.ui.list_demo import HIDDEN, make_demo


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    """The demo organisation, once for the module (tests/ui/list_demo.py)."""
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


def text(response) -> str:
    return response.get_data(as_text=True)


def column(html: str, value: str) -> str:
    """The markup of one column of the board."""
    return html.split(f'data-column="{value}"', 1)[1].split("</section>", 1)[0]


def cards(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="board-card card" data-record-id="(\d+)"', html)]


def test_a_column_per_stage_with_count_sum_and_cards(demo):
    a = demo.opportunity(name="Board <i>A</i>", stage="proposal", amount="1000.00")
    b = demo.opportunity(name="Board B", stage="proposal", amount="250.50")
    c = demo.opportunity(name="Board C", stage="negotiation", amount="10.00")
    html = text(demo.client().get("/o/opportunity/board?by=stage&sum=amount&q=Board"))
    assert ">Opportunities</h1>" in html
    for value in ("prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"):
        assert f'data-column="{value}"' in html
    proposal = column(html, "proposal")
    assert sorted(cards(proposal)) == sorted([a["id"], b["id"]]) and cards(column(html, "negotiation")) == [c["id"]]
    assert ">2</span>" in proposal and "1,250.50" in proposal  # count and sum (CNY)
    assert "Board &lt;i&gt;A&lt;/i&gt;" in html  # names stay text
    assert f'href="/o/opportunity/{a["id"]}"' in html
    assert HIDDEN not in html  # not a card field, nor a sum choice, for a rep
    assert "/o/opportunity?q=Board" in html  # the same records as a list


def test_the_list_links_to_the_board_and_the_board_follows_the_list_filters(demo):
    client = demo.client()
    assert "/o/opportunity/board?by=" in text(client.get("/o/opportunity"))
    demo.opportunity(name="Followed", stage="proposal")
    html = text(client.get("/o/opportunity/board?by=stage&q=nothing-like-this"))
    assert cards(html) == []


def test_moving_a_card_saves_the_stage_through_the_store(demo):
    deal = demo.opportunity(name="Mover", stage="proposal")
    client = demo.client()
    data = {"id": deal["id"], "version": deal["version"], "value": "negotiation", "csrf_token": client.csrf}
    response = client.post("/o/opportunity/board/move?by=stage", data=data)
    assert response.status_code == 200 and "Moved." in response.headers["HX-Trigger"]
    assert demo.get("opportunity", deal["id"])["stage"] == "negotiation"
    assert f'data-record-id="{deal["id"]}"' in text(response)


def test_a_move_a_rule_refuses_comes_back_with_the_reason_and_changes_nothing(demo):
    past = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    deal = demo.opportunity(name="Late", stage="closed_lost", close_date=past)
    client = demo.client()
    data = {"id": deal["id"], "version": deal["version"], "value": "proposal", "csrf_token": client.csrf}
    response = client.post("/o/opportunity/board/move?by=stage", data=data)
    assert response.status_code == 422
    html = text(response)
    assert 'data-field="stage"' in html and 'role="alert"' in html and "cannot close in the past" in html
    assert demo.get("opportunity", deal["id"])["stage"] == "closed_lost"


def test_a_refused_move_names_the_field_and_starts_with_a_capital(demo):
    deal = demo.opportunity(name="Blank stage", stage="proposal")
    client = demo.client()
    data = {"id": deal["id"], "version": deal["version"], "value": "", "csrf_token": client.csrf}
    response = client.post("/o/opportunity/board/move?by=stage", data=data)
    assert response.status_code == 422
    reason = text(response).split('role="alert">', 1)[1].split("<", 1)[0]
    assert reason == "Stage: Is required"
    assert demo.get("opportunity", deal["id"])["stage"] == "proposal"


def test_the_columns_scroll_inside_a_frame_with_arrow_buttons(demo):
    html = text(demo.client().get("/o/opportunity/board?by=stage"))
    frame = html.split('<div class="board-frame" data-board-frame>', 1)[1]
    assert frame.index('data-board-scroll="1"') < frame.index('id="board"')  # the buttons sit outside the swapped block
    assert 'aria-label="More columns"' in frame and 'aria-label="Earlier columns"' in frame


def test_moves_outside_the_users_scope_or_without_a_token_are_refused(demo):
    other = demo.opportunity(owner="sales_manager", name="Not the rep's")
    client = demo.client()
    data = {"id": other["id"], "version": other["version"], "value": "proposal", "csrf_token": client.csrf}
    assert client.post("/o/opportunity/board/move?by=stage", data=data).status_code == 404
    mine = demo.opportunity(name="No token")
    no_token = {"id": mine["id"], "version": mine["version"], "value": "proposal"}
    assert client.post("/o/opportunity/board/move?by=stage", data=no_token).status_code == 400
    reader = demo.client("read_only")
    data = {"id": mine["id"], "version": mine["version"], "value": "proposal", "csrf_token": reader.csrf}
    assert reader.post("/o/opportunity/board/move?by=stage", data=data).status_code == 403
    assert demo.get("opportunity", mine["id"])["stage"] == "prospecting"


def test_by_and_sum_must_name_readable_fields_of_the_right_kind(demo):
    client = demo.client()
    assert client.get("/o/opportunity/board?by=amount").status_code == 422
    assert client.get("/o/opportunity/board?by=stage&sum=name").status_code == 422
    html = text(client.get("/o/opportunity/board?by=forecast_category&sum="))
    assert 'data-column=""' in html  # not required: a column for records without a value
    assert 'class="board-sum"' not in html
