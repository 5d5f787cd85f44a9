"""Retention: what stayed in the recycle bin too long is purged for good,
what is younger stays restorable."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from metacrm.access.guard import SystemGuard
from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types, model_for
from metacrm.metadata.recycle import RETENTION_GUARD, purge_recycle_bin
from metacrm.metadata.store import RecordStore
from metacrm.metadata.tables import meta_definitions
from metacrm.platform import audit, tenancy
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import Forbidden
from metacrm.platform.jobs import JobQueue


def _setup(instance):
    binding = tenancy.create_tenant(instance, "acme")
    service = MetadataService(binding, field_types(instance), audit.SYSTEM)
    with service.change("setup") as tx:
        tx.create_object(
            {"api_name": "vehicle", "label": "Vehicle"},
            [
                {"api_name": "plate", "label": "Plate", "type": "text"},
                {"api_name": "colour", "label": "Colour", "type": "text"},
            ],
        )
    store = RecordStore(binding, model_for(instance, binding), SystemGuard(), audit.SYSTEM, field_types(instance))
    old, young, live = (store.create("vehicle", {"name": n, "plate": n})["id"] for n in ("old", "young", "live"))
    store.delete("vehicle", old)
    store.delete("vehicle", young)
    with service.change("delete colour") as tx:
        tx.delete_field("vehicle", "colour")
    return binding, service, (old, young, live)


def _age(binding, record_id, days):
    table = sa.Table("o_vehicle", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("deleted_at", sa.DateTime))
    with binding.begin() as conn:
        conn.execute(table.update().where(table.c.id == record_id).values(deleted_at=utcnow() - timedelta(days=days)))


def test_purge_removes_only_what_is_older_than_the_retention_period(instance):
    binding, service, (old, young, live) = _setup(instance)
    _age(binding, old, 20)
    purged = purge_recycle_bin(instance, binding)
    assert purged == ["1 vehicle record(s)"]
    store = RecordStore(binding, model_for(instance, binding), SystemGuard(), audit.SYSTEM, field_types(instance))
    assert [r["id"] for r in store.query("vehicle", deleted=True).data] == [young]
    assert store.restore("vehicle", young)["name"] == "young"
    # the field deleted today stays, column and all
    with binding.connect() as conn:
        assert "colour" in {c["name"] for c in sa.inspect(conn).get_columns("o_vehicle", schema=binding.schema)}


def test_a_field_past_retention_is_dropped_with_its_column(instance):
    binding, service, _ids = _setup(instance)
    with binding.begin() as conn:
        conn.execute(
            meta_definitions.update()
            .where(meta_definitions.c.key == "vehicle.colour")
            .values(deleted_at=utcnow() - timedelta(days=30))
        )
    assert "field vehicle.colour" in purge_recycle_bin(instance, binding)
    with binding.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("o_vehicle", schema=binding.schema)}
        assert "colour" not in columns and "plate" in columns
        assert (
            conn.execute(sa.select(meta_definitions.c.key).where(meta_definitions.c.key == "vehicle.colour")).first()
            is None
        )


def test_the_nightly_job_purges_every_tenant(instance):
    binding, _service, (old, _young, _live) = _setup(instance)
    _age(binding, old, 20)
    JobQueue(instance).run_now("recycle.purge")
    store = RecordStore(binding, model_for(instance, binding), SystemGuard(), audit.SYSTEM, field_types(instance))
    assert old not in [r["id"] for r in store.query("vehicle", deleted=True).data]


def test_the_retention_guard_may_only_purge(instance):
    binding, _service, (_old, young, live) = _setup(instance)
    store = RecordStore(binding, model_for(instance, binding), RETENTION_GUARD, audit.SYSTEM, field_types(instance))
    for attempt in (
        lambda: store.create("vehicle", {"name": "new"}),
        lambda: store.update("vehicle", live, {"plate": "X"}),
        lambda: store.query("vehicle"),
        lambda: store.restore("vehicle", young),
    ):
        with pytest.raises(Forbidden) as caught:
            attempt()
        assert caught.value.message.startswith("retention may only delete records, not ")
    assert not RETENTION_GUARD.may_manage_metadata()
    assert RETENTION_GUARD.writable_fields(store.model.object("vehicle")) == set()
    assert RETENTION_GUARD.user_globals().id is None
