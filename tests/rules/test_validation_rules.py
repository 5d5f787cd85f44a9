"""Validation rules in the save pipeline: a condition that holds refuses the
save with its message, per row for bulk calls, with prior values, lookups
and $User; conditions are type-checked whenever metadata changes and
compiled once per revision."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import yaml

from metacrm.metadata.model import model_for
from metacrm.platform import audit
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins.packages import apply_package, load_package
from metacrm.rules import saving
from tests.rules.saving_world import ACTOR, SaveWorld


@pytest.fixture
def world(instance) -> SaveWorld:
    return SaveWorld(instance)


def _refused(call, *args, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        call(*args, **kwargs)
    return caught.value.details


def test_a_rule_that_holds_refuses_the_save_under_its_field(world):
    world.rule("amount > 1000 and not BLANKVALUE(approved, FALSE)", "big deals need approval", field="amount")
    store = world.store()
    assert store.create("deal", {"name": "small", "amount": 500})["amount"] == 500
    details = _refused(store.create, "deal", {"name": "big", "amount": 5000})
    assert details == {"fields": {"amount": ["big deals need approval"]}}
    assert store.create("deal", {"name": "approved", "amount": 5000, "approved": True})["approved"] is True
    assert world.count() == 2


def test_a_rule_without_field_reports_on_the_record(world):
    world.rule('ISPICKVAL(stage, "won") and ISBLANK(close_date)', "a won deal needs a close date")
    details = _refused(world.store().create, "deal", {"name": "x", "stage": "won"})
    assert details["fields"] == {"$": ["a won deal needs a close date"]}


def test_every_failing_rule_and_field_error_is_reported_together(world):
    world.rule("amount < 0", "no negative amounts", field="amount", api_name="positive")
    world.rule("LEN(name) < 3", "name too short", field="name", api_name="long_name")
    details = _refused(world.store().create, "deal", {"name": "ab", "amount": -5, "close_date": "nope"})
    fields = details["fields"]
    assert fields["amount"] == ["no negative amounts"]
    assert fields["name"] == ["name too short"]
    assert "close_date" in fields


def test_bulk_calls_report_per_row_and_write_nothing(world):
    world.rule("amount > 1000", "too big", field="amount")
    store = world.store()
    rows = [{"name": "a", "amount": 10}, {"name": "b", "amount": 2000}, {"name": "c"}, {"name": "d", "amount": 3000}]
    details = _refused(store.bulk_create, "deal", rows)
    assert details == {"rows": {"1": {"fields": {"amount": ["too big"]}}, "3": {"fields": {"amount": ["too big"]}}}}
    assert world.count() == 0
    ids = [r["id"] for r in store.bulk_create("deal", [rows[0], rows[2]])]
    details = _refused(store.bulk_update, "deal", [{"id": ids[0], "amount": 5}, {"id": ids[1], "amount": 5000}])
    assert list(details["rows"]) == ["1"]
    assert store.get("deal", ids[0])["amount"] == 10  # the valid row was not written either


def test_ischanged_and_priorvalue_see_the_stored_record(world):
    world.rule('ISCHANGED(stage) and ISPICKVAL(PRIORVALUE(stage), "lost")', "a lost deal stays lost", field="stage")
    world.rule("not ISNEW() and amount < PRIORVALUE(amount)", "amounts only grow", api_name="grow")
    store = world.store()
    deal = store.create("deal", {"name": "d", "stage": "lost", "amount": 100})  # ISNEW: nothing changed before
    assert store.update("deal", deal["id"], {"name": "renamed"})["name"] == "renamed"  # stage unchanged
    assert _refused(store.update, "deal", deal["id"], {"stage": "open"})["fields"] == {
        "stage": ["a lost deal stays lost"]
    }
    assert _refused(store.update, "deal", deal["id"], {"amount": 50})["fields"] == {"$": ["amounts only grow"]}
    assert store.update("deal", deal["id"], {"amount": 150})["amount"] == 150


def test_isnew_only_on_create(world):
    world.rule("ISNEW() and ISBLANK(amount)", "give an amount when creating", field="amount")
    store = world.store()
    _refused(store.create, "deal", {"name": "x"})
    deal = store.create("deal", {"name": "x", "amount": 1})
    assert store.update("deal", deal["id"], {"amount": None})["amount"] is None


def test_lookups_are_read_in_one_query_per_call(world):
    world.rule(
        'ISPICKVAL(account.industry, "retail") and amount > account.rating', "over the account's limit", field="amount"
    )
    store = world.store()
    tech, retail = (
        r["id"]
        for r in store.bulk_create(
            "account", [{"name": "T", "industry": "tech"}, {"name": "R", "industry": "retail", "rating": 100}]
        )
    )
    account_table = world.model().object("account").table.name
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if account_table in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        rows = [{"name": f"d{i}", "account": (tech, retail)[i % 2], "amount": 50} for i in range(20)]
        rows.append({"name": "over", "account": retail, "amount": 500})
        details = _refused(store.bulk_create, "deal", rows)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert details == {"rows": {"20": {"fields": {"amount": ["over the account's limit"]}}}}
    # One read of the accounts for the rule (the store checks references with one more).
    assert len([s for s in statements if "industry" in s]) == 1
    assert store.create("deal", {"name": "ok", "account": retail, "amount": 100})["account"]["id"] == retail


def test_a_lookup_to_a_deleted_record_reads_as_null(world):
    world.rule('ISPICKVAL(account.industry, "retail")', "no retail deals", field="account")
    store = world.store()
    retail = store.create("account", {"name": "R", "industry": "retail"})["id"]
    deal = store.create("deal", {"name": "before"})
    _refused(store.update, "deal", deal["id"], {"account": retail})
    with world.binding.begin() as conn:  # in the recycle bin, as the store's delete would leave it
        table = world.model().object("account").table
        conn.execute(table.update().where(table.c.id == retail).values(deleted_at=sa.func.current_timestamp()))
    details = _refused(store.update, "deal", deal["id"], {"account": retail})
    assert details["fields"] == {"account": [f"no account {retail}"]}  # the reference check, not the rule


def test_user_globals_come_from_the_caller(world):
    world.rule('$User.Email = "bot@acme.test" and amount > 10', "bots may not sell big", field="amount")
    world.rule("owner_id != $User.Id", "only for yourself", api_name="own")
    store = world.store()
    _refused(store.create, "deal", {"name": "x", "amount": 20})
    other = world.store(actor=audit.Actor(user_id=8, email="ann@acme.test"))
    assert other.create("deal", {"name": "x", "amount": 20})["owner_id"] == 8


def test_inactive_rules_do_not_run_and_deleted_ones_stop(world):
    world.rule("amount > 1", "too big", field="amount", active=False)
    store = world.store()
    assert store.create("deal", {"name": "x", "amount": 5})
    world.rule("amount > 1", "too big", field="amount")
    _refused(world.store().create, "deal", {"name": "x", "amount": 5})
    with world.change() as tx:
        tx.delete_scoped("validation_rule", "deal", "rule")
    assert world.store().create("deal", {"name": "x", "amount": 5})


def test_a_bad_condition_is_refused_with_line_column_and_suggestion(world):
    with pytest.raises(ValidationFailed) as caught:
        world.rule("amont > 1", "x")
    error = caught.value.details["errors"][0]
    assert error["path"] == "validation_rule:deal.rule.condition"
    assert error["message"].startswith("line 1, column 1: unknown field 'amont' on deal; did you mean 'amount'?")
    with pytest.raises(ValidationFailed) as caught:
        world.rule("amount +\n  > 1", "x")
    assert caught.value.details["errors"][0]["message"].startswith("line 2, column 3:")
    with pytest.raises(ValidationFailed) as caught:
        world.rule("amount + 1", "x")
    assert "expected a condition (BOOLEAN) but the expression is NUMBER" in caught.value.message
    with pytest.raises(ValidationFailed) as caught:
        world.rule("amount > 1", "x", field="amout")
    assert caught.value.details["fields"] == {"field": ["no field 'amout' on deal"]}
    assert world.model().definitions.scoped("validation_rule", "deal") == []


def test_deleting_a_field_a_rule_reads_is_refused(world):
    world.rule("discount > 50", "too generous", field="discount")
    with pytest.raises(ValidationFailed) as caught, world.change() as tx:
        tx.delete_field("deal", "discount")
    assert caught.value.details["errors"][0]["path"] == "validation_rule:deal.rule.condition"
    assert world.model().object("deal").fields.get("discount") is not None


def test_rules_are_compiled_once_per_revision(world, monkeypatch):
    world.rule("amount > 1000", "too big", field="amount")
    calls = []
    original = saving.typecheck
    monkeypatch.setattr(saving, "typecheck", lambda *a, **k: calls.append(a[2]) or original(*a, **k))
    store = world.store()
    store.bulk_create("deal", [{"name": f"d{i}", "amount": i} for i in range(50)])
    store.bulk_create("deal", [{"name": f"e{i}", "amount": i} for i in range(50)])
    assert calls == ["amount > 1000"]
    model = world.model()
    assert saving.object_rules(model, "deal") is saving.object_rules(model, "deal")
    world.rule("amount > 2000", "too big", field="amount")  # a new revision compiles anew
    calls.clear()  # (the metadata change type-checked it too)
    _refused(world.store().create, "deal", {"name": "x", "amount": 3000})
    assert calls == ["amount > 2000"]


def test_validation_rules_install_with_a_package(world, instance, tmp_path):
    folder = tmp_path / "pkg"
    (folder / "objects" / "deal").mkdir(parents=True)
    (folder / "package.yaml").write_text(yaml.safe_dump({"name": "rules_pkg", "version": "1.0"}))
    (folder / "objects" / "deal" / "object.yaml").write_text(yaml.safe_dump({"api_name": "deal", "label": "Deal"}))
    rules = [
        {"api_name": "no_giveaways", "condition": "discount >= 100", "message": "no giveaways", "field": "discount"}
    ]
    (folder / "objects" / "deal" / "validation_rules.yaml").write_text(yaml.safe_dump(rules))
    result = apply_package(instance, world.binding, load_package(folder), ACTOR)
    assert result["created"] == 1
    assert apply_package(instance, world.binding, load_package(folder), ACTOR)["revision"] is None  # idempotent
    definitions = model_for(instance, world.binding).definitions
    assert [d.document for d in definitions.scoped("validation_rule", "deal")] == rules
    assert _refused(world.store().create, "deal", {"name": "x", "discount": 100})["fields"] == {
        "discount": ["no giveaways"]
    }


def test_rules_read_formula_fields_as_this_save_leaves_them(world):
    with world.change() as tx:
        formula = {"expression": "amount * (100 - BLANKVALUE(discount, 0)) / 100", "return_type": "currency"}
        tx.add_field("deal", {"api_name": "net", "label": "Net", "type": "formula", "options": formula})
    world.rule("net > 1000", "the net amount is over the limit", field="discount")
    store = world.store()
    assert store.create("deal", {"name": "a", "amount": 2000, "discount": 60})["net"] == 800
    deal = store.create("deal", {"name": "b", "amount": 1000})
    details = _refused(store.update, "deal", deal["id"], {"amount": 1500})
    assert details["fields"] == {"discount": ["the net amount is over the limit"]}
    assert store.update("deal", deal["id"], {"amount": 1500, "discount": 50})["net"] == 750


def test_rules_read_roll_ups_as_stored(world):
    with world.change() as tx:
        options = {"object": "deal", "relation": "account", "function": "count"}
        tx.add_field("account", {"api_name": "deals", "label": "Deals", "type": "roll_up", "options": options})
        tx.put_validation_rule(
            "account",
            {
                "api_name": "fixed",
                "condition": "deals > 1 and ISCHANGED(industry)",
                "message": "has deals",
                "field": "industry",
            },
        )
    store = world.store()
    account = store.create("account", {"name": "A", "industry": "tech"})
    store.update("account", account["id"], {"industry": "retail"})
    store.bulk_create("deal", [{"name": "x", "account": account["id"]}, {"name": "y", "account": account["id"]}])
    details = _refused(store.update, "account", account["id"], {"industry": "tech"})
    assert details["fields"] == {"industry": ["has deals"]}
    assert store.update("account", account["id"], {"rating": 3})["rating"] == 3
