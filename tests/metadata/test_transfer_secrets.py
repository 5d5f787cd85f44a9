"""Secrets never leave a tenant in clear (issue 15): the export writes the
columns plugins name through ``tenant_secret_columns`` (webhook signing
secrets) as null and lists them; import leaves them out and says how to set
them again."""

from __future__ import annotations

import json
import zipfile

import sqlalchemy as sa

from metacrm.metadata import transfer
from metacrm.platform import tenancy
from metacrm.platform.tables import audit_log
from metacrm.rules.automation.outbox import webhook_secret
from metacrm.rules.automation.tables import automation_secrets


def test_webhook_secrets_are_withheld_from_the_export_and_asked_for_again_on_import(instance, tmp_path):
    source = tenancy.create_tenant(instance, "src")
    with source.begin() as conn:
        secret = webhook_secret(conn, "deal.notify")
    assert secret.startswith("whsec_")

    manifest = transfer.export_tenant(instance, "src", tmp_path / "src.zip")
    withheld = manifest["withheld_secrets"]["automation_secrets"]
    assert withheld["columns"] == ["secret"] and withheld["rows"] == 1 and "webhook-secret" in withheld["restore"]
    with zipfile.ZipFile(tmp_path / "src.zip") as archive:
        for name in archive.namelist():
            assert secret.encode() not in archive.read(name), name
        rows = [json.loads(line) for line in archive.read("tables/automation_secrets.jsonl").splitlines()]
    assert rows == [{"rule": "deal.notify", "secret": None, "created_at": rows[0]["created_at"]}]

    said: list[str] = []
    copy = transfer.import_tenant(instance, tmp_path / "src.zip", "copy", progress=said.append)
    assert any("secrets not in the export: automation_secrets" in line for line in said)
    with copy.begin() as conn:
        assert conn.execute(sa.select(automation_secrets)).all() == []  # no secret may be empty: the row waits
        entry = conn.execute(sa.select(audit_log.c.details).where(audit_log.c.action == "tenant.imported")).scalar_one()
        assert entry["secrets_to_set_again"]["automation_secrets"]["rows"] == 1
        fresh = webhook_secret(conn, "deal.notify")  # the next delivery makes a new one
    assert fresh.startswith("whsec_") and fresh != secret
    with source.connect() as conn:  # the source keeps its own
        assert conn.execute(sa.select(automation_secrets.c.secret)).scalar_one() == secret
