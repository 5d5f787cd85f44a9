"""Users, passwords, throttling and tokens."""

import pytest
import sqlalchemy as sa

from metacrm.platform import identity as identities
from metacrm.platform.errors import Conflict, TooManyRequests, Unauthenticated, ValidationFailed
from metacrm.platform.tables import users
from tests.conftest import PASSWORD


def test_passwords_are_stored_as_argon2id_hashes(world, instance):
    with instance.db.platform_connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash).where(users.c.email == "user@acme.test")).scalar()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_sign_in_succeeds_only_with_password_and_membership(world, instance):
    identity = identities.authenticate(
        instance, email="USER@acme.test ", password=PASSWORD, tenant="acme", ip="1.1.1.1"
    )
    assert (identity.email, identity.tenant_slug, identity.is_admin) == ("user@acme.test", "acme", False)
    for email, password, tenant in [
        ("user@acme.test", "wrong password", "acme"),
        ("user@acme.test", PASSWORD, "globex"),
        ("nobody@acme.test", PASSWORD, "acme"),
        ("user@acme.test", PASSWORD, "no_such"),
    ]:
        with pytest.raises(Unauthenticated):
            identities.authenticate(instance, email=email, password=password, tenant=tenant, ip="1.1.1.2")


def test_repeated_failures_are_throttled_even_with_the_right_password(world, instance):
    limit = instance.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        with pytest.raises(Unauthenticated):
            identities.authenticate(instance, email="user@acme.test", password="nope", tenant="acme", ip="2.2.2.2")
    with pytest.raises(TooManyRequests) as info:
        identities.authenticate(instance, email="user@acme.test", password=PASSWORD, tenant="acme", ip="3.3.3.3")
    assert info.value.retry_after > 0
    # Another account is not locked by these failures.
    identities.authenticate(instance, email="admin@acme.test", password=PASSWORD, tenant="acme", ip="3.3.3.3")


def test_short_passwords_and_bad_emails_are_refused(instance):
    from metacrm.platform import tenancy

    tenancy.create_tenant(instance, "acme")
    with pytest.raises(ValidationFailed) as info:
        identities.create_user(instance, tenant="acme", email="a@acme.test", password="short")
    assert "password" in info.value.details["fields"]
    with pytest.raises(ValidationFailed) as info:
        identities.create_user(instance, tenant="acme", email="not-an-email", password=PASSWORD)
    assert "email" in info.value.details["fields"]


def test_one_login_can_belong_to_several_tenants(world, instance):
    identities.create_user(instance, tenant="globex", email="user@acme.test", password="ignored-for-existing")
    assert identities.tenants_of(instance, world.identity("user@acme.test", "acme").user_id) == ["acme", "globex"]
    with pytest.raises(Conflict):
        identities.create_user(instance, tenant="globex", email="user@acme.test", password=PASSWORD)


def test_tokens_are_stored_hashed_and_stop_working_when_revoked(world, instance):
    identity = world.identity("user@acme.test", "acme")
    token_id, token = identities.create_token(instance, identity, "ci")
    with instance.db.platform_connect() as conn:
        stored = conn.execute(sa.text("SELECT 1")).scalar()  # platform reachable
    assert stored == 1
    listed = identities.list_tokens(instance, identity)
    assert all(token not in str(row) for row in listed)
    assert identities.identity_from_token(instance, token).user_id == identity.user_id
    identities.revoke_token(instance, identity, token_id)
    assert identities.identity_from_token(instance, token) is None


def test_a_user_cannot_revoke_someone_elses_token(world, instance):
    from metacrm.platform.errors import NotFound

    admin = world.identity("admin@acme.test", "acme")
    token_id, _ = identities.create_token(instance, admin, "admin's")
    with pytest.raises(NotFound):
        identities.revoke_token(instance, world.identity("user@acme.test", "acme"), token_id)


def test_a_user_chooses_language_and_time_zone_and_bad_choices_name_the_field(world, instance):
    user_id = identities.user_id_of(instance, "user@acme.test")
    identities.set_preferences(instance, user_id, locale="zh_CN", time_zone="Asia/Shanghai")
    identity = identities.identity_for(instance, user_id, "acme")
    assert (identity.locale, identity.time_zone) == ("zh_CN", "Asia/Shanghai")
    with pytest.raises(ValidationFailed) as refused:
        identities.set_preferences(instance, user_id, locale="klingon", time_zone="Mars/Olympus")
    assert set(refused.value.details["fields"]) == {"locale", "time_zone"}
    identity = identities.identity_for(instance, user_id, "acme")
    assert (identity.locale, identity.time_zone) == ("zh_CN", "Asia/Shanghai")  # nothing half-written
