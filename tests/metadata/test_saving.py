"""The save pipeline: steps run in order around every create, update and
delete, may change values and refuse rows, write in the same transaction,
and defer their after-commit work until the outermost commit."""

from __future__ import annotations

import pytest

from metacrm.access.guard import SystemGuard
from metacrm.metadata.model import field_types, model_for, record_store, save_steps
from metacrm.metadata.saving import MAX_DEPTH
from metacrm.metadata.store import RecordStore
from metacrm.platform.errors import Conflict, ValidationFailed
from tests.metadata.conftest import ACTOR, create_object

FIELDS = [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "rating", "label": "Rating", "type": "integer"},
    {"api_name": "note", "label": "Note", "type": "text"},
]


class Recorder:
    """A step that logs every call and can fill, refuse and write."""

    def __init__(self, order: int, log: list):
        self.order = order
        self.log = log

    def before_write(self, ctx, saves):
        for save in saves:
            self.log.append((self.order, "before", ctx.action, save.index, sorted(save.changed())))
            if save.action == "create" and "name" not in save.values:
                save.values["name"] = "filled by a step"
            if save.values.get("rating") == 13:
                save.error("rating", "13 is unlucky")

    def after_write(self, ctx, saves):
        for save in saves:
            self.log.append((self.order, "after", ctx.action, save.record_id))

    def after_commit(self, ctx, saves):
        self.log.append((self.order, "commit", ctx.action, [s.record_id for s in saves]))


def make_store(instance, tenant, steps) -> RecordStore:
    return RecordStore(tenant, model_for(instance, tenant), SystemGuard(), ACTOR, field_types(instance), steps=steps)


@pytest.fixture
def thing(instance, tenant):
    create_object(instance, "thing", FIELDS)
    return tenant


def test_steps_run_in_order_and_may_fill_values(instance, thing):
    log = []
    store = make_store(instance, thing, (Recorder(100, log), Recorder(200, log)))
    record = store.create("thing", {"rating": 3})
    assert record["name"] == "filled by a step"  # before the required check
    assert [entry[:3] for entry in log] == [
        (100, "before", "create"),
        (200, "before", "create"),
        (100, "after", "create"),
        (200, "after", "create"),
        (100, "commit", "create"),
        (200, "commit", "create"),
    ]
    log.clear()
    store.update("thing", record["id"], {"rating": 4, "note": "x"})
    assert log[0] == (100, "before", "update", 0, ["note", "rating"])
    log.clear()
    store.delete("thing", record["id"])
    assert [entry[1:3] for entry in log] == [("before", "delete")] * 2 + [("after", "delete")] * 2 + [
        ("commit", "delete")
    ] * 2


def test_a_refused_row_writes_nothing_and_runs_no_after_steps(instance, thing):
    log = []
    store = make_store(instance, thing, (Recorder(100, log),))
    with pytest.raises(ValidationFailed) as refused:
        store.bulk_create("thing", [{"name": "a", "rating": 1}, {"name": "b", "rating": 13}])
    assert refused.value.details["rows"] == {"1": {"fields": {"rating": ["13 is unlucky"]}}}
    assert store.query("thing").data == []
    assert [entry[1] for entry in log] == ["before", "before"]


class Failing:
    order = 500

    def after_write(self, ctx, saves):
        raise Conflict("an after-write step failed")


def test_an_after_write_failure_rolls_the_save_back_and_skips_after_commit(instance, thing):
    log = []
    store = make_store(instance, thing, (Recorder(100, log), Failing()))
    with pytest.raises(Conflict):
        store.create("thing", {"name": "a"})
    assert store.query("thing").data == []
    assert "commit" not in [entry[1] for entry in log]


class Cascade:
    """After each write of a thing, writes another thing in the same transaction."""

    order = 600

    def __init__(self):
        self.commits = 0

    def after_write(self, ctx, saves):
        if ctx.action == "create":
            ctx.nested().create("thing", {"name": f"child at depth {ctx.depth + 1}"})

    def after_commit(self, ctx, saves):
        self.commits += 1


def test_nested_saves_share_the_transaction_and_stop_at_the_depth_limit(instance, thing):
    cascade = Cascade()
    store = make_store(instance, thing, (cascade,))
    with pytest.raises(Conflict) as loop:
        store.create("thing", {"name": "root"})
    assert f"more than {MAX_DEPTH} deep" in loop.value.message
    assert store.query("thing").data == []  # the whole chain rolled back
    assert cascade.commits == 0


class OneChild:
    order = 600

    def __init__(self):
        self.commits = []

    def after_write(self, ctx, saves):
        if ctx.depth == 0 and ctx.action == "create":
            ctx.nested().create("thing", {"name": "child"})

    def after_commit(self, ctx, saves):
        self.commits.append(ctx.depth)


def test_after_commit_of_nested_saves_runs_once_the_outer_save_commits(instance, thing):
    step = OneChild()
    store = make_store(instance, thing, (step,))
    store.create("thing", {"name": "root"})
    assert sorted(r["name"] for r in store.query("thing").data) == ["child", "root"]
    assert sorted(step.commits) == [0, 1]


def test_record_store_factory_carries_the_instance_steps(instance, thing):
    store = record_store(instance, thing, SystemGuard(), ACTOR)
    assert store.steps == save_steps(instance, store.model)
    orders = [step.order for step in store.steps]
    assert orders == sorted(orders)
