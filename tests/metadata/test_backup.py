"""Backups (issue 15, item 7): ``metacrm backup`` writes a verified archive
with the tenant's members, keeps N days, runs nightly; ``metacrm restore``
brings the tenant back under its own or a new slug with its users able to
sign in; no secret is in an archive in clear; damaged files and id clashes
are refused before anything is written."""

from __future__ import annotations

import os
import struct
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from metacrm.app import build_instance
from metacrm.cli import main
from metacrm.metadata import backup
from metacrm.platform import identity as identities
from metacrm.platform import settings as tenant_settings
from metacrm.platform import tenancy, twofactor
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import BadRequest, Conflict
from metacrm.platform.tables import users
from tests.conftest import PASSWORD, drop_namespaces, make_config
from tests.metadata.test_transfer import build_source, snapshot

OIDC_SECRET = "oidc-secret-never-in-a-backup"


def _populate(instance) -> dict[str, int]:
    """Tenant ``src`` with data, two members (one an admin with two-factor
    enrolled) and settings, one of them secret."""
    build_source(instance)
    admin = identities.create_user(
        instance, tenant="src", email="boss@src.test", password=PASSWORD, is_admin=True, role="admin"
    )
    rep = identities.create_user(instance, tenant="src", email="rep@src.test", password=PASSWORD, role="sales_rep")
    tenant_settings.update_tenant_settings(
        instance, "src", {"currency": "USD", "default_time_zone": "Asia/Shanghai", "oidc_client_secret": OIDC_SECRET}
    )
    enrolment = twofactor.enrol(instance, admin, "boss@src.test")
    return {"admin": admin, "rep": rep, "totp_secret": enrolment["secret"]}


def _signs_in(instance, email: str, tenant: str) -> bool:
    identity = identities.authenticate(instance, email=email, password=PASSWORD, tenant=tenant, ip="127.0.0.1")
    return identity.tenant_slug == tenant


def test_a_backup_restores_under_a_new_slug_with_its_members_able_to_sign_in(instance, tmp_path):
    people = _populate(instance)
    result = backup.backup_tenant(instance, "src", tmp_path / "backups")

    assert result.path.parent == tmp_path / "backups" / "src" and result.members == 2
    assert result.path.with_name(result.path.name + ".sha256").read_text().split()[0] == result.sha256
    assert not list((tmp_path / "backups" / "src").glob(".*"))  # nothing half-written left
    raw = b"".join(zipfile.ZipFile(result.path).read(n) for n in zipfile.ZipFile(result.path).namelist())
    assert OIDC_SECRET.encode() not in raw and people["totp_secret"].encode() not in raw
    assert PASSWORD.encode() not in raw

    binding = backup.restore_tenant(instance, result.path, "copy")
    assert binding.slug == "copy"
    before, after = snapshot(instance, "src"), snapshot(instance, "copy")
    for tables in (before, after):
        tables.pop("audit_log")
    assert after == before
    assert _signs_in(instance, "rep@src.test", "copy")
    members = {u["email"]: u for u in identities.list_users(instance, "copy")}
    assert set(members) == {"boss@src.test", "rep@src.test"}
    restored = tenant_settings.tenant_settings_of(instance, binding.tenant_id)
    assert restored["currency"] == "USD" and restored["default_time_zone"] == "Asia/Shanghai"
    assert restored["oidc_client_secret"] == ""  # withheld: the admin sets it again


def test_a_backup_restores_on_a_fresh_instance_with_the_same_logins(instance, tmp_path):
    people = _populate(instance)
    result = backup.backup_tenant(instance, "src", tmp_path / "backups")
    other = build_instance(make_config(tmp_path / "other", "sqlite"), load_entry_points=False)
    try:
        other.upgrade_platform()
        backup.restore_tenant(other, result.path)
        assert _signs_in(other, "boss@src.test", "src")
        with other.db.platform_connect() as conn:
            ids = dict(conn.execute(sa.select(users.c.email, users.c.id)).all())
        assert ids == {"boss@src.test": people["admin"], "rep@src.test": people["rep"]}
        # A login created after the restore gets a fresh id.
        new = identities.create_user(other, tenant="src", email="new@src.test", password=PASSWORD)
        assert new > max(people["admin"], people["rep"])
    finally:
        drop_namespaces(other)
        other.dispose()


def test_restoring_onto_the_live_slug_is_refused_and_changes_nothing(instance, tmp_path):
    _populate(instance)
    result = backup.backup_tenant(instance, "src", tmp_path / "b")
    before = snapshot(instance, "src")
    with pytest.raises(Conflict, match="already exists"):
        backup.restore_tenant(instance, result.path)
    assert snapshot(instance, "src") == before


def test_a_restore_that_would_renumber_users_is_refused_before_anything_is_written(instance, tmp_path):
    _populate(instance)
    result = backup.backup_tenant(instance, "src", tmp_path / "b")
    other = build_instance(make_config(tmp_path / "other", "sqlite"), load_entry_points=False)
    try:
        other.upgrade_platform()
        tenancy.create_tenant(other, "else", "Elsewhere")
        identities.create_user(other, tenant="else", email="someone@else.test", password=PASSWORD)  # id 1
        identities.create_user(other, tenant="else", email="third@else.test", password=PASSWORD)
        identities.create_user(other, tenant="else", email="rep@src.test", password=PASSWORD)  # id 3, not 2
        with pytest.raises(Conflict, match="cannot keep their ids") as refused:
            backup.restore_tenant(other, result.path)
        assert "user id 1 (boss@src.test) belongs to someone@else.test" in str(refused.value)
        assert "rep@src.test is user 3 here, 2 in the backup" in str(refused.value)
        assert [t["slug"] for t in tenancy.list_tenants(other)] == ["else"]
    finally:
        drop_namespaces(other)
        other.dispose()


@pytest.mark.parametrize("damage", ["flip", "truncate", "export_only"])
def test_a_damaged_backup_is_refused_and_leaves_no_tenant(instance, tmp_path, damage):
    _populate(instance)
    result = backup.backup_tenant(instance, "src", tmp_path / "b")
    path = tmp_path / "damaged.zip"
    data = result.path.read_bytes()
    if damage == "flip":
        # A byte inside a member's compressed data: the CRC (or inflation) check fails.
        info = zipfile.ZipFile(result.path).getinfo("audit.jsonl")
        name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
        middle = info.header_offset + 30 + name_length + extra_length + info.compress_size // 2
        data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        path.write_bytes(data)
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:  # a plain export is not a backup: no members, no logins
        from metacrm.metadata import transfer

        transfer.export_tenant(instance, "src", path)
    with pytest.raises(BadRequest):
        backup.restore_tenant(instance, path, "fromdamaged")
    assert "fromdamaged" not in [t["slug"] for t in tenancy.list_tenants(instance)]


def test_a_checksum_file_that_does_not_match_is_refused(instance, tmp_path):
    _populate(instance)
    result = backup.backup_tenant(instance, "src", tmp_path / "b")
    sidecar = result.path.with_name(result.path.name + ".sha256")
    sidecar.write_text("0" * 64 + "  x.zip\n")
    with pytest.raises(BadRequest, match="checksum"):
        backup.verify_backup(result.path)


def test_old_backups_are_removed_but_never_the_newest(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    now = utcnow()
    names = []
    for days in (40, 20, 3):
        stamp = (now - timedelta(days=days)).strftime(backup.STAMP)
        path = folder / f"src-{stamp}.zip"
        path.write_bytes(b"x")
        path.with_name(path.name + ".sha256").write_text("x")
        names.append(path)
    (folder / "notes.txt").write_text("mine")
    removed = backup.prune_backups(tmp_path, "src", keep_days=14)
    assert removed == names[:2]
    assert sorted(p.name for p in folder.iterdir()) == sorted([names[2].name, names[2].name + ".sha256", "notes.txt"])
    # However old, the only backup left stays.
    assert backup.prune_backups(tmp_path, "src", keep_days=0) == []


def test_the_nightly_job_backs_up_every_tenant_when_a_directory_is_set(instance, tmp_path):
    _populate(instance)
    tenancy.create_tenant(instance, "second", "Second")
    assert "backup.nightly" in {spec.name for specs in instance.hook.register_jobs() for spec in specs}
    instance.config["BACKUP_DIR"] = ""
    backup._nightly(instance)  # no directory: nothing to do
    instance.config["BACKUP_DIR"] = str(tmp_path / "nightly")
    backup._nightly(instance)
    assert {p.name for p in (tmp_path / "nightly").iterdir()} == {"src", "second"}


def test_cli_backs_up_checks_and_restores(tmp_path, backend, monkeypatch):
    config = make_config(tmp_path, backend)
    for key in ("DATA_DIR", "DATABASE_URL", "PLATFORM_SCHEMA", "TENANT_SCHEMA_PREFIX", "SECRET_KEY"):
        if key in config:
            monkeypatch.setenv(f"METACRM_{key}", str(config[key]))
    instance = build_instance(config, load_entry_points=False)
    try:
        instance.upgrade_platform()
        _populate(instance)
        runner = CliRunner()
        out = runner.invoke(main, ["backup", "--tenant", "src", "--dir", str(tmp_path / "b")], catch_exceptions=False)
        assert out.exit_code == 0, out.output
        path = Path(out.output.strip().splitlines()[-1].split("\t")[0])
        assert path.exists() and os.stat(path.parent).st_mode & 0o077 == 0
        checked = runner.invoke(main, ["restore", str(path), "--check"], catch_exceptions=False)
        assert checked.exit_code == 0 and "a sound backup of src (2 member(s)" in checked.output
        restored = runner.invoke(main, ["restore", str(path), "--slug", "again"], catch_exceptions=False)
        assert restored.exit_code == 0, restored.output
        assert "restored tenant again" in restored.output and "set again: oidc_client_secret" in restored.output
        assert _signs_in(instance, "boss@src.test", "again")
        refused = runner.invoke(main, ["restore", str(path), "--slug", "again"])
        assert refused.exit_code == 1 and "already exists" in refused.output
        # Back under its own slug once the damaged original is dropped.
        wrong = runner.invoke(main, ["tenant", "drop", "src", "--confirm", "scr"])
        assert wrong.exit_code != 0 and "type the slug" in wrong.output
        dropped = runner.invoke(main, ["tenant", "drop", "src", "--confirm", "src"], catch_exceptions=False)
        assert dropped.exit_code == 0, dropped.output
        assert "src" not in [t["slug"] for t in tenancy.list_tenants(instance)]
        back = runner.invoke(main, ["restore", str(path)], catch_exceptions=False)
        assert back.exit_code == 0, back.output
        assert _signs_in(instance, "rep@src.test", "src")
    finally:
        drop_namespaces(instance)
        instance.dispose()
