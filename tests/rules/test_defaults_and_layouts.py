"""Default-value expressions (order 100) and layout conditions (order 200)
in the save pipeline, the checks of both when metadata changes, and the
order the steps run in."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from metacrm.platform.errors import ValidationFailed
from tests.rules.saving_world import SaveWorld

LAYOUT_FIELDS = ["name", "amount", "stage", "discount", "close_date"]


@pytest.fixture
def world(instance) -> SaveWorld:
    return SaveWorld(instance)


def _refused(call, *args, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        call(*args, **kwargs)
    return caught.value.details


def _default(world: SaveWorld, field: str, expression: str | None, **extra) -> None:
    with world.change() as tx:
        tx.update_field("deal", field, {"default_expression": expression, **extra})


def _layout(world: SaveWorld, field_rules: dict, api_name: str = "default") -> None:
    with world.change() as tx:
        tx.put_layout(
            "deal",
            {
                "api_name": api_name,
                "label": api_name.title(),
                "sections": [{"label": "Deal", "fields": LAYOUT_FIELDS}],
                "field_rules": field_rules,
            },
        )


# -- default values ------------------------------------------------------------------------------


def test_a_default_expression_fills_fields_the_caller_did_not_send(world):
    _default(world, "size", 'IF(amount > 1000, "big", "small")')
    _default(world, "close_date", "TODAY() + 30")
    store = world.store()
    big = store.create("deal", {"name": "a", "amount": 5000})
    assert big["size"] == "big"
    assert big["close_date"] == (date.today() + timedelta(days=30)).isoformat()
    assert store.create("deal", {"name": "b", "amount": 5})["size"] == "small"
    assert store.create("deal", {"name": "c", "amount": 5000, "size": None})["size"] is None  # sent: kept
    assert store.create("deal", {"name": "d", "amount": 5000, "size": "small"})["size"] == "small"
    rows = store.bulk_create("deal", [{"name": "e", "amount": 2000}, {"name": "f"}])
    assert [r["size"] for r in rows] == ["big", "small"]  # null amount: the condition is false


def test_defaults_apply_on_create_only(world):
    store = world.store()
    deal = store.create("deal", {"name": "a", "amount": 5000})
    _default(world, "size", '"big"')
    store = world.store()
    assert store.update("deal", deal["id"], {"amount": 1})["size"] is None


def test_a_default_may_read_lookups_and_the_user(world):
    _default(world, "discount", "IF(account.rating > 3, 10, 0)")
    _default(world, "approved", '$User.Email = "bot@acme.test"')
    store = world.store()
    good = store.create("account", {"name": "Good", "rating": 5})["id"]
    deal = store.create("deal", {"name": "a", "account": good})
    assert deal["discount"] == 10 and deal["approved"] is True
    assert store.create("deal", {"name": "b"})["discount"] == 0


def test_a_default_value_the_field_refuses_is_a_row_error(world):
    _default(world, "stage", 'IF(amount > 10, "huge", "open")')
    store = world.store()
    assert store.create("deal", {"name": "a", "amount": 1})["stage"] == "open"
    details = _refused(store.bulk_create, "deal", [{"name": "a", "amount": 1}, {"name": "b", "amount": 50}])
    assert list(details["rows"]) == ["1"]
    assert "huge" in details["rows"]["1"]["fields"]["stage"][0]
    assert world.count() == 1


def test_default_expressions_are_checked_against_the_field_type(world):
    with pytest.raises(ValidationFailed) as caught:
        _default(world, "amount", '"a lot"')
    error = caught.value.details["errors"][0]
    assert error["path"] == "field:deal.amount.default_expression"
    assert "the default value is TEXT but amount is a currency field (NUMBER)" in error["message"]
    assert error["message"].startswith("line 1, column 1:")
    with pytest.raises(ValidationFailed) as caught:
        _default(world, "amount", "amout * 2")
    assert "did you mean 'amount'?" in caught.value.details["errors"][0]["message"]
    with pytest.raises(ValidationFailed) as caught:
        _default(world, "amount", "ISCHANGED(amount)")
    assert "ISCHANGED" in caught.value.message
    with pytest.raises(ValidationFailed) as caught, world.change() as tx:
        tx.add_field(
            "deal", {"api_name": "qty", "label": "Qty", "type": "integer", "default": 1, "default_expression": "2"}
        )
    assert caught.value.details["fields"] == {
        "default_expression": ["give either default or default_expression, not both"]
    }


# -- layout conditions -----------------------------------------------------------------------------


def test_required_when_a_condition_holds(world):
    _layout(world, {"close_date": {"required": 'ISPICKVAL(stage, "won")'}})
    store = world.store()
    assert store.create("deal", {"name": "a", "stage": "open"})
    assert _refused(store.create, "deal", {"name": "b", "stage": "won"})["fields"] == {"close_date": ["is required"]}
    deal = store.create("deal", {"name": "c", "stage": "won", "close_date": "2026-05-01"})
    assert _refused(store.update, "deal", deal["id"], {"close_date": None})["fields"] == {"close_date": ["is required"]}
    open_deal = store.create("deal", {"name": "d", "stage": "open"})
    details = _refused(store.update, "deal", open_deal["id"], {"stage": "won"})  # the record as it will be stored
    assert details["fields"] == {"close_date": ["is required"]}


def test_read_only_when_a_condition_holds(world):
    _layout(world, {"amount": {"read_only": 'ISPICKVAL(stage, "lost")'}})
    store = world.store()
    deal = store.create("deal", {"name": "a", "stage": "open", "amount": 10})
    assert store.update("deal", deal["id"], {"stage": "lost"})["stage"] == "lost"
    assert store.update("deal", deal["id"], {"name": "renamed", "amount": 10})["name"] == "renamed"  # unchanged
    details = _refused(store.update, "deal", deal["id"], {"amount": 20})
    assert details["fields"] == {"amount": ['is read-only (layout default: read-only when ISPICKVAL(stage, "lost"))']}
    assert store.update("deal", deal["id"], {"stage": "open", "amount": 20})["amount"] == 20  # reopened in one save
    _refused(store.create, "deal", {"name": "b", "stage": "lost", "amount": 5})


def test_a_hidden_field_cannot_be_set_and_is_never_required(world):
    _layout(world, {"discount": {"visible": "amount > 1000", "required": "amount > 0"}})
    store = world.store()
    details = _refused(store.create, "deal", {"name": "a", "amount": 10, "discount": 5})
    assert details["fields"] == {
        "discount": ["is hidden (layout default: visible when amount > 1000) and cannot be set"]
    }
    assert store.create("deal", {"name": "b", "amount": 10})["discount"] is None  # hidden: not required
    assert store.create("deal", {"name": "c", "amount": 10, "discount": None})  # sending it empty is fine
    assert _refused(store.create, "deal", {"name": "d", "amount": 5000})["fields"] == {"discount": ["is required"]}
    deal = store.create("deal", {"name": "e", "amount": 5000, "discount": 7})
    # Hiding it again keeps the stored value; it just cannot be changed while hidden.
    assert store.update("deal", deal["id"], {"amount": 5})["discount"] == 7
    _refused(store.update, "deal", deal["id"], {"discount": 8})


def test_conditions_of_every_layout_apply_and_may_read_lookups(world):
    _layout(world, {"amount": {"required": 'ISPICKVAL(account.industry, "retail")'}}, api_name="default")
    _layout(world, {"discount": {"read_only": "account.rating < 3"}}, api_name="sales")
    store = world.store()
    retail = store.create("account", {"name": "R", "industry": "retail", "rating": 1})["id"]
    details = _refused(store.bulk_create, "deal", [{"name": "a", "account": retail, "discount": 5}, {"name": "b"}])
    fields = details["rows"]["0"]["fields"]
    assert list(details["rows"]) == ["0"]
    assert fields["amount"] == ["is required"]
    assert fields["discount"] == ["is read-only (layout sales: read-only when account.rating < 3)"]
    assert world.count() == 0


def test_layout_conditions_are_checked_when_the_layout_is_saved(world):
    with pytest.raises(ValidationFailed) as caught:
        _layout(world, {"discount": {"visible": "amont > 1"}})
    error = caught.value.details["errors"][0]
    assert error["path"] == "layout:deal.default.field_rules.discount.visible"
    assert "did you mean 'amount'?" in error["message"]
    with pytest.raises(ValidationFailed) as caught:
        _layout(world, {"discount": {"required": "amount"}})
    assert "expected a condition (BOOLEAN)" in caught.value.message
    with pytest.raises(ValidationFailed) as caught:
        _layout(world, {"discont": {"required": "amount > 1"}})
    assert caught.value.details["fields"] == {"field_rules.discont": ["no field 'discont' on deal"]}
    with pytest.raises(ValidationFailed) as caught:
        _layout(world, {"discount": {"hidden": "amount > 1"}})
    assert "field_rules.discount" in caught.value.details["fields"]


# -- the order of execution --------------------------------------------------------------------------


def test_defaults_run_before_layout_conditions_and_validation_rules(world):
    _default(world, "discount", "IF(amount > 1000, 15, 0)")
    _layout(world, {"close_date": {"required": "discount > 10"}})
    world.rule(
        "discount > 10 and not BLANKVALUE(approved, FALSE)", "a discount above 10% needs approval", field="discount"
    )
    store = world.store()
    assert store.create("deal", {"name": "small", "amount": 10})["discount"] == 0
    details = _refused(store.create, "deal", {"name": "big", "amount": 5000})
    assert details["fields"] == {
        "close_date": ["is required"],
        "discount": ["a discount above 10% needs approval"],
    }
    deal = store.create("deal", {"name": "big", "amount": 5000, "approved": True, "close_date": "2026-06-30"})
    assert deal["discount"] == 15
