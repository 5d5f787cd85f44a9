"""A form's draft evaluated before saving (metacrm.rules.drafts): the
layouts' conditions and the default values, with the save steps' own rules,
nothing written."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from metacrm.rules.drafts import FieldState, draft_state
from tests.rules.saving_world import SaveWorld


@pytest.fixture
def world(instance) -> SaveWorld:
    world = SaveWorld(instance)
    with world.change() as tx:
        tx.update_field("deal", "size", {"default_expression": 'IF(amount > 1000, "big", "small")'})
        tx.update_field("deal", "close_date", {"default_expression": "TODAY() + 30"})
        tx.update_field("deal", "discount", {"default_expression": "IF(account.rating > 3, 10, 0)"})
        tx.put_layout(
            "deal",
            {
                "api_name": "default",
                "label": "Deal",
                "sections": [{"label": "Deal", "fields": ["name", "amount", "stage", "discount"]}],
                "field_rules": {
                    "discount": {"visible": "stage = 'won'", "read_only": "amount > 5000"},
                    "approved": {"required": "amount > 100"},
                },
            },
        )
    return world


def test_conditions_and_defaults_of_a_new_draft(world):
    store = world.store()
    good = store.create("account", {"name": "Good", "rating": 5})["id"]
    state = draft_state(
        store,
        "deal",
        {"amount": "9000", "stage": "won", "account": good},
        defaults_for=["size", "close_date", "discount"],
    )
    assert state.of("discount") == FieldState(visible=True, required=False, read_only=True)
    assert state.of("approved") == FieldState(visible=True, required=True, read_only=False)
    assert state.of("name") == FieldState()
    assert state.defaults["size"] == "big" and state.defaults["discount"] == 10
    assert state.defaults["close_date"] == (date.today() + timedelta(days=30)).isoformat()
    assert world.count() == 0  # nothing written


def test_a_draft_still_being_typed_and_a_stored_record(world):
    store = world.store()
    state = draft_state(store, "deal", {"amount": "12,x", "stage": "open"}, defaults_for=["size"])
    assert not state.of("discount").visible and state.defaults["size"] == "small"  # unparsable: null
    deal = store.create("deal", {"name": "a", "amount": 50, "stage": "won"})
    state = draft_state(store, "deal", {"amount": "7000"}, record_id=deal["id"], defaults_for=["size"])
    assert state.of("discount") == FieldState(visible=True, required=False, read_only=True)  # stage as stored
    assert state.defaults == {}  # defaults are for new records
