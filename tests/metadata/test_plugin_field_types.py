"""A plugin can add a relation-like field type: the record store, the DDL
and the compiled model ask a type what it is (a reference, a link table, a
self-numbering value), never its name, so a plugin's lookup-like and
many-to-many-like types work end to end with no change to them."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pytest
import sqlalchemy as sa

from metacrm.access.guard import SystemGuard
from metacrm.app import build_instance
from metacrm.metadata.fieldtypes import FieldType, Widgets
from metacrm.metadata.fieldtypes.builtin import ManyToManyType
from metacrm.metadata.fieldtypes.common import options_schema, record_id_type
from metacrm.metadata.fieldtypes.relations import RecordIdField
from metacrm.metadata.model import metadata_service, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.hooks import hookimpl
from tests.conftest import drop_namespaces


class ParentType(FieldType):
    """Lookup-like, written from the bare contract: one record id in a
    column, children deleted with their parent."""

    name = "parent"
    label = "Parent"
    is_reference = True
    widgets = Widgets("widgets/lookup.html")
    options_schema = options_schema({"target": {"type": "string"}}, required=["target"])

    @property
    def on_delete(self) -> str:
        return "cascade"

    def column_type(self) -> sa.types.TypeEngine:
        return record_id_type()

    def marshmallow_field(self) -> ma.fields.Field:
        return RecordIdField(strict=False, allow_none=True)


class WatchersType(ManyToManyType):
    """Many-to-many-like with a value of its own: the watchers' ids only."""

    name = "watchers"
    label = "Watchers"

    def dump_links(self, linked: list[tuple[int, str | None]]) -> Any:
        return [target_id for target_id, _name in linked]


class RelationTypes:
    @hookimpl
    def register_field_types(self):
        return [ParentType, WatchersType]


@pytest.fixture
def plugged(config):
    instance = build_instance(config, load_entry_points=False)
    instance.pm.register(RelationTypes())
    instance.upgrade_platform()
    yield instance
    drop_namespaces(instance)
    instance.dispose()


def test_a_plugin_adds_relation_like_types_that_work_through_the_store(plugged):
    tenancy.create_tenant(plugged, "acme", "Acme")
    binding = plugged.db.bind("acme")
    with metadata_service(plugged, binding, audit.SYSTEM).change("people and tasks") as tx:
        tx.create_object({"api_name": "person", "label": "Person"}, [])
        tx.create_object(
            {"api_name": "task", "label": "Task"},
            [
                {"api_name": "owner_person", "label": "Person", "type": "parent", "options": {"target": "person"}},
                {"api_name": "watched_by", "label": "Watched by", "type": "watchers", "options": {"target": "person"}},
            ],
        )
    store = record_store(plugged, binding, SystemGuard(), audit.SYSTEM)
    ann, bob = (store.create("person", {"name": name})["id"] for name in ("Ann", "Bob"))

    task = store.create("task", {"name": "write", "owner_person": ann, "watched_by": [bob, ann]})
    assert task["owner_person"] == {"id": ann, "name": "Ann"}  # a lookup: read with the target's name
    assert task["watched_by"] == [ann, bob]  # the type's own dump of its links
    other = store.create("task", {"name": "read", "owner_person": bob, "watched_by": [bob]})

    def names(page) -> list[str]:
        return sorted(record["name"] for record in page.data)

    assert names(store.query("task", filters=[("watched_by", "contains", ann)])) == ["write"]
    assert names(store.query("task", filters=[("owner_person", "eq", bob)])) == ["read"]
    assert names(store.related("task", task["id"], "watched_by")) == ["Ann", "Bob"]
    assert names(store.related("person", ann, "task.owner_person")) == ["write"]

    with pytest.raises(ValidationFailed) as refused:
        store.create("task", {"name": "x", "owner_person": 999, "watched_by": [998]})
    assert refused.value.details["fields"] == {"owner_person": ["no person 999"], "watched_by": ["no person 998"]}

    store.update("task", other["id"], {"watched_by": [ann]})
    assert store.get("task", other["id"])["watched_by"] == [ann]

    store.delete("person", ann)  # the parent's on-delete rule: its tasks go with it
    assert names(store.query("task")) == ["read"]
    assert store.get("task", other["id"])["watched_by"] == []  # links to a deleted record are not shown
    store.purge("person", [ann])
    store.purge("task", [task["id"]])
    assert store.get("task", other["id"])["watched_by"] == []
