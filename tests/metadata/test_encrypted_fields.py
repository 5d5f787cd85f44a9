"""Encrypted fields: AES-GCM ciphertexts at rest with a blind index for
exact matches, refused range filters, sorts and SQL rules, audit entries
without values, encryption turned on and off by the change pipeline, key
rotation (resumable, in batches) and tenant exports holding only ciphertexts."""

from __future__ import annotations

import zipfile

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from metacrm.access.guard import SystemGuard
from metacrm.app import build_instance
from metacrm.metadata import transfer
from metacrm.metadata.model import field_types, metadata_service, model_for, record_store
from metacrm.metadata.store import sealing
from metacrm.platform import crypto
from metacrm.platform.errors import ConfigError, Conflict, ValidationFailed
from metacrm.platform.tables import audit_log
from metacrm.plugins.testing import make_config
from tests.metadata.conftest import ACTOR, change, create_object, store, stored_column

K1 = "k1:" + crypto.generate_key()
K2 = "k2:" + crypto.generate_key()
FIELDS = [
    {"api_name": "ssn", "label": "SSN", "type": "text", "encrypted": True, "unique": True},
    {"api_name": "mail", "label": "Mail", "type": "email", "encrypted": True},
    {"api_name": "city", "label": "City", "type": "text"},
]
PEOPLE = [
    {"name": "Ann", "ssn": "123-45-6789", "mail": "Ann@Example.com", "city": "Oslo"},
    {"name": "Bob", "ssn": "987-65-4321", "mail": "bob@example.com", "city": "Rome"},
    {"name": "Cy", "ssn": None, "mail": None, "city": "Oslo"},
]
SECRETS = ("123-45-6789", "987-65-4321", "Ann@Example.com", "bob@example.com", "ann@example.com")


@pytest.fixture
def config(tmp_path, backend):
    return make_config(tmp_path, backend, ENCRYPTION_KEYS=[K1])


@pytest.fixture
def people(instance, tenant) -> list[dict]:
    create_object(instance, "person", FIELDS, search_fields=["name", "ssn"])
    return store(instance).bulk_create("person", [dict(p) for p in PEOPLE])


def _names(instance, **query) -> list[str]:
    return [r["name"] for r in store(instance).query("person", sort="name", **query).data]


def _everything_stored(instance) -> str:
    """The person table and the audit log as text: what a database dump would show."""
    binding = instance.db.bind("acme")
    table = model_for(instance, binding).object("person").table
    with binding.connect() as conn:
        rows = conn.execute(sa.select(table)).all() + conn.execute(sa.select(audit_log)).all()
    return repr(rows)


def test_values_are_ciphertexts_at_rest_and_clear_through_the_store(instance, people):
    stored = stored_column(instance, "o_person", "ssn")
    assert all(v.startswith("enc1:k1:") for v in stored.values() if v is not None)
    assert len(set(stored.values())) == 3  # random nonces: no two ciphertexts alike
    assert not any(secret in _everything_stored(instance) for secret in SECRETS)
    assert stored_column(instance, "o_person", "sys_bi_ssn")[people[2]["id"]] is None
    ann = store(instance).get("person", people[0]["id"])
    assert (ann["ssn"], ann["mail"]) == ("123-45-6789", "Ann@Example.com")


def test_a_ciphertext_is_bound_to_its_field(instance, people):
    ring = field_types(instance).keyring
    stored = stored_column(instance, "o_person", "ssn")[people[0]["id"]]
    assert ring.decrypt(stored, "person.ssn") == "123-45-6789"
    with pytest.raises(crypto.DecryptionFailed):
        ring.decrypt(stored, "person.mail")  # copied into another field, it does not open


def test_exact_matches_go_through_the_blind_index(instance, people):
    assert _names(instance, filters=[("ssn", "eq", "987-65-4321")]) == ["Bob"]
    assert _names(instance, filters=[("mail", "eq", "ANN@example.com")]) == ["Ann"]  # e-mail ignores case
    assert _names(instance, filters=[("ssn", "in", "123-45-6789,987-65-4321")]) == ["Ann", "Bob"]
    assert _names(instance, filters=[("ssn", "ne", "123-45-6789")]) == ["Bob", "Cy"]
    assert _names(instance, filters=[("ssn", "isnull", "true")]) == ["Cy"]
    assert _names(instance, filters=[("ssn", "eq", "123-45")]) == []  # no partial matches
    assert _names(instance, q="987-65-4321") == ["Bob"]  # search: the whole value only
    assert _names(instance, q="Ann") == ["Ann"]


@pytest.mark.parametrize("op", ["lt", "gte", "contains", "startswith"])
def test_range_and_partial_filters_are_refused_naming_the_field(instance, people, op):
    with pytest.raises(ValidationFailed) as caught:
        store(instance).query("person", filters=[("ssn", op, "5")])
    assert "ssn is encrypted" in caught.value.message
    assert "ssn" in caught.value.details["fields"]


def test_sorting_on_an_encrypted_field_is_refused(instance, people):
    with pytest.raises(ValidationFailed) as caught:
        store(instance).query("person", sort="-ssn")
    assert caught.value.details == {"fields": {"ssn": ["is encrypted"]}}


def test_unique_holds_through_the_blind_index(instance, people):
    with pytest.raises(Conflict) as caught:
        store(instance).create("person", {"name": "Dup", "ssn": "123-45-6789"})
    assert caught.value.details == {"fields": {"ssn": ["must be unique"]}}


def test_updates_reseal_and_the_audit_log_shows_only_that_a_value_changed(instance, people):
    ann = people[0]
    before = stored_column(instance, "o_person", "ssn")[ann["id"]]
    updated = store(instance).update("person", ann["id"], {"ssn": "111-11-1111", "city": "Bergen"})
    assert updated["ssn"] == "111-11-1111" and updated["version"] == 2
    assert stored_column(instance, "o_person", "ssn")[ann["id"]] not in (before, "111-11-1111")
    assert _names(instance, filters=[("ssn", "eq", "111-11-1111")]) == ["Ann"]
    store(instance).update("person", ann["id"], {"city": "Oslo"})  # the encrypted value untouched
    assert store(instance).get("person", ann["id"])["ssn"] == "111-11-1111"
    with instance.db.bind("acme").connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.details).where(audit_log.c.record_id == str(ann["id"]))
        )
        details = {action: d for action, d in rows if action in ("record.created", "record.updated")}
    assert details["record.created"]["values"]["ssn"] == "changed"
    assert "111-11-1111" not in _everything_stored(instance)


def test_rules_see_clear_values_but_sql_cannot_read_them(instance, people):
    with change(instance) as tx:  # a validation rule runs in Python on the clear value
        tx.put_validation_rule(
            "person",
            {"api_name": "ssn_shape", "condition": "LEN(ssn) <> 11", "message": "an SSN has 11 characters"},
        )
    binding = instance.db.bind("acme")
    with pytest.raises(ValidationFailed, match="an SSN has 11 characters"):
        record_store(instance, binding, SystemGuard(), ACTOR).update("person", people[1]["id"], {"ssn": "12"})
    formula = {
        "api_name": "ssn_tail",
        "label": "SSN tail",
        "type": "formula",
        "options": {"expression": "RIGHT(ssn, 4)", "return_type": "text"},
    }
    service = metadata_service(instance, binding, ACTOR)  # with the rules' definition checks
    with pytest.raises(ValidationFailed, match="person.ssn is encrypted"), service.change("formula") as tx:
        tx.add_field("person", formula)


def test_a_roll_up_cannot_filter_on_an_encrypted_child_field(instance, people):
    create_object(instance, "club")
    with change(instance) as tx:
        tx.add_field("person", {"api_name": "club", "label": "Club", "type": "lookup", "options": {"target": "club"}})
    roll_up = {
        "api_name": "members_with_ssn",
        "label": "Members with an SSN",
        "type": "roll_up",
        "options": {"object": "person", "relation": "club", "function": "count", "filter": 'ssn = "1"'},
    }
    service = metadata_service(instance, instance.db.bind("acme"), ACTOR)
    with pytest.raises(ValidationFailed, match="person.ssn is encrypted"), service.change("roll-up") as tx:
        tx.add_field("club", roll_up)


def test_what_cannot_be_encrypted_is_refused_at_definition_time(instance, people):
    with pytest.raises(ValidationFailed) as caught, change(instance) as tx:
        tx.add_field("person", {"api_name": "age", "label": "Age", "type": "integer", "encrypted": True})
    assert "cannot be encrypted" in caught.value.details["fields"]["encrypted"][0]
    with pytest.raises(ValidationFailed, match="name_field"), change(instance) as tx:
        tx.update_object("person", {"name_field": "ssn"})
    with pytest.raises(ValidationFailed, match="separate steps"), change(instance) as tx:
        tx.update_field("person", "ssn", {"type": "long_text", "encrypted": False})


def test_turning_encryption_on_and_off_converts_stored_values(instance, people):
    with change(instance) as tx:
        tx.update_field("person", "city", {"encrypted": True})
    cities = stored_column(instance, "o_person", "city")
    assert all(v.startswith("enc1:k1:") for v in cities.values())
    assert _names(instance, filters=[("city", "eq", "Oslo")]) == ["Ann", "Cy"]
    with change(instance) as tx:
        tx.update_field("person", "ssn", {"encrypted": False})
    assert stored_column(instance, "o_person", "ssn")[people[0]["id"]] == "123-45-6789"
    assert _names(instance, filters=[("ssn", "startswith", "987")]) == ["Bob"]
    with pytest.raises(Conflict):  # still unique, now on the clear column
        store(instance).create("person", {"name": "Dup", "ssn": "987-65-4321"})
    with pytest.raises(Conflict, match="values of 4 characters; max_length 3 is too short"), change(instance) as tx:
        tx.update_field("person", "city", {"options": {"max_length": 3}})


def test_rolling_back_to_a_revision_before_encryption_opens_the_values(instance, people):
    service = metadata_service(instance, instance.db.bind("acme"), ACTOR)
    before = service.revisions(limit=1)[0]["revision"]
    with change(instance) as tx:
        tx.update_field("person", "city", {"encrypted": True})
    assert stored_column(instance, "o_person", "city")[people[0]["id"]].startswith("enc1:")
    service.rollback(before)
    assert stored_column(instance, "o_person", "city")[people[0]["id"]] == "Oslo"
    assert _names(instance, filters=[("city", "startswith", "Os")]) == ["Ann", "Cy"]


def test_rotation_reencrypts_in_resumable_batches(instance, people, config):
    # The operator appends a new key; the old one still decrypts.
    rotated = build_instance({**config, "ENCRYPTION_KEYS": [K1, K2]}, load_entry_points=False)
    try:
        binding = rotated.db.bind("acme")
        ring = field_types(rotated).keyring
        assert ring.current_id == "k2"
        created = store(rotated).create("person", {"name": "Dee", "ssn": "555-55-5555"})
        assert stored_column(rotated, "o_person", "ssn")[created["id"]].startswith("enc1:k2:")
        assert _names(rotated, filters=[("ssn", "eq", "123-45-6789")]) == ["Ann"]  # found under the old key too
        done = sealing.rotate(binding, model_for(rotated, binding), ring, batch_size=1)
        assert done == {"person.ssn": 2, "person.mail": 2}
        assert sealing.rotate(binding, model_for(rotated, binding), ring) == {"person.ssn": 0, "person.mail": 0}
        stored = stored_column(rotated, "o_person", "ssn").values()
        assert all(v.startswith("enc1:k2:") for v in stored if v is not None)
    finally:
        rotated.dispose()
    # Retired: k1 no longer needed.
    retired = build_instance({**config, "ENCRYPTION_KEYS": [K2]}, load_entry_points=False)
    try:
        assert _names(retired, filters=[("ssn", "eq", "123-45-6789")]) == ["Ann"]
        assert store(retired).get("person", people[1]["id"])["mail"] == "bob@example.com"
    finally:
        retired.dispose()


def test_a_missing_key_is_an_operators_error_naming_it(instance, people, config):
    other = build_instance({**config, "ENCRYPTION_KEYS": [K2]}, load_entry_points=False)
    try:
        with pytest.raises(crypto.DecryptionFailed, match="key 'k1'"):
            store(other).get("person", people[0]["id"])
    finally:
        other.dispose()


def test_keys_rotate_command(instance, people, config, backend):
    if backend != "sqlite":
        pytest.skip("the command is the same on both databases; rotate() is tested on both")
    runner = CliRunner()
    env = {"METACRM_ENCRYPTION_KEYS": f"{K1},{K2}"}
    result = runner.invoke(
        __import__("metacrm.cli", fromlist=["main"]).main,
        ["keys", "rotate", "--data-dir", config["DATA_DIR"], "--batch-size", "1"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "done: 4 value(s) re-encrypted under key k2" in result.output
    assert all(v.startswith("enc1:k2:") for v in stored_column(instance, "o_person", "ssn").values() if v)


def test_a_tenant_export_holds_ciphertexts_never_clear_values(instance, people, tmp_path):
    path = tmp_path / "acme.zip"
    transfer.export_tenant(instance, "acme", str(path))
    with zipfile.ZipFile(path) as archive:
        text = "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
    assert "enc1:k1:" in text
    assert not any(secret in text for secret in SECRETS)
    # Imported under another name, with the same keys, the values read and match again.
    transfer.import_tenant(instance, str(path), "copy")
    assert store(instance, "copy").get("person", people[0]["id"])["ssn"] == "123-45-6789"
    found = store(instance, "copy").query("person", filters=[("mail", "eq", "bob@example.com")]).data
    assert [r["name"] for r in found] == ["Bob"]


def test_key_configuration_is_checked():
    with pytest.raises(ConfigError, match="32 bytes"):
        crypto.KeyRing.parse(["k1:c2hvcnQ"])
    with pytest.raises(ConfigError, match="appears twice"):
        crypto.KeyRing.parse([K1, K1])
    with pytest.raises(ConfigError, match="id:key"):
        crypto.KeyRing.parse(["no-colon"])
