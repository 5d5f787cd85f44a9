"""The PostgreSQL settings docs/scaling.md relies on (issue 16, item 5):
prepared statements off for PgBouncer in transaction mode, pooled
connections recycled after a while."""

from __future__ import annotations

import pytest

from metacrm.platform.config import load_config
from metacrm.platform.database import Database
from metacrm.plugins.testing import PG_URL, make_config


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (METACRM_TEST_DATABASE_URL)")
@pytest.mark.parametrize("prepared", [True, False])
def test_prepared_statements_and_recycling_follow_the_settings(tmp_path, prepared):
    config = make_config(
        tmp_path, "postgresql", DATABASE_PREPARED_STATEMENTS=prepared, DATABASE_POOL_RECYCLE_SECONDS=600
    )
    db = Database({**config, "DATA_DIR": str(tmp_path)})
    try:
        with db.engine.connect() as conn:
            threshold = conn.connection.driver_connection.prepare_threshold
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert (threshold is None) is (not prepared)
        assert db.engine.pool._recycle == 600
    finally:
        db.dispose()


def test_the_defaults_keep_psycopg_and_the_pool_as_they_are():
    from metacrm.platform.config import DEFAULTS

    assert DEFAULTS["DATABASE_PREPARED_STATEMENTS"] is True and DEFAULTS["DATABASE_POOL_RECYCLE_SECONDS"] == 0
    assert DEFAULTS["TENANT_CACHE_SIZE"] == 200


def test_forgetting_a_models_tables_drops_their_compiled_statements(tmp_path):
    import sqlalchemy as sa

    db = Database(load_config(make_config(tmp_path, "sqlite")))
    try:
        kept, dropped = sa.MetaData(), sa.MetaData()
        for metadata in (kept, dropped):
            sa.Table("thing", metadata, sa.Column("id", sa.Integer, primary_key=True))
        with db.engine.connect() as conn:
            for metadata in (kept, dropped):
                metadata.create_all(conn)
                conn.execute(sa.select(metadata.tables["thing"]).where(metadata.tables["thing"].c.id == 1)).all()
        cached = len(db.engine._compiled_cache)
        db.forget_tables(dropped)
        assert len(db.engine._compiled_cache) == cached - 1
        db.forget_tables(sa.MetaData())
        assert len(db.engine._compiled_cache) == cached - 1
    finally:
        db.dispose()
