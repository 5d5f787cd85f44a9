"""Sign-in hardening: a password change and "sign out everywhere" end every
session and token, every sign-in and failure is audited, and the password
policy (length, common passwords) is each tenant's to choose."""

from __future__ import annotations

import pytest

from metacrm.platform import identity as identities
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.passwords import common_passwords
from tests.conftest import PASSWORD
from tests.ui.test_sign_in import _login

NEW_PASSWORD = "a fresh and long passphrase"


def _me(client, headers) -> int:
    return client.get("/api/v1/me", headers=headers).status_code


def _audit(client, world, tenant="acme", action=None) -> list[dict]:
    query = f"?action={action}" if action else ""
    return client.get(f"/api/v1/audit{query}", headers=world.bearer(f"admin@{tenant}.test", tenant)).json["data"]


# -- revocation ---------------------------------------------------------------


def test_a_password_change_revokes_the_users_api_tokens_in_every_tenant(world, instance, client):
    identities.create_user(instance, tenant="globex", email="user@acme.test", password="ignored-for-existing")
    acme, globex = world.bearer("user@acme.test", "acme"), world.bearer("user@acme.test", "globex")
    others = world.bearer("admin@acme.test", "acme")
    identities.set_password(instance, "user@acme.test", NEW_PASSWORD)
    assert _me(client, acme) == 401 and _me(client, globex) == 401
    assert _me(client, others) == 200  # nobody else's
    (entry,) = _audit(client, world, action="user.password_changed")
    assert entry["details"] == {"tokens_revoked": 2}


def test_changing_your_own_password_through_the_api_ends_every_session_and_token(world, app, client):
    browser = app.test_client()
    assert _login(browser, email="user@acme.test").status_code == 302
    headers, other = world.bearer("user@acme.test", "acme"), world.bearer("user@acme.test", "acme")
    wrong = client.post(
        "/api/v1/auth/password", json={"current_password": "not it", "new_password": NEW_PASSWORD}, headers=headers
    )
    assert wrong.status_code == 422 and set(wrong.json["error"]["details"]["fields"]) == {"current_password"}
    response = client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=headers
    )
    assert response.status_code == 204
    assert _me(client, headers) == 401 and _me(client, other) == 401
    assert browser.get("/").status_code == 302  # back to the sign-in form
    assert (
        client.post(
            "/api/v1/auth/token", json={"email": "user@acme.test", "password": NEW_PASSWORD, "tenant": "acme"}
        ).status_code
        == 201
    )


def test_sign_out_everywhere_revokes_all_sessions_and_tokens_of_the_user_only(world, app, client, instance):
    identities.create_user(instance, tenant="globex", email="user@acme.test", password="ignored-for-existing")
    browser = app.test_client()
    _login(browser, email="user@acme.test")
    assert browser.get("/").status_code == 200
    headers, globex = world.bearer("user@acme.test", "acme"), world.bearer("user@acme.test", "globex")
    admin = world.bearer("admin@acme.test", "acme")
    response = client.post("/api/v1/auth/sign-out-everywhere", headers=headers)
    assert response.status_code == 200 and response.json == {"tokens_revoked": 2}
    assert _me(client, headers) == 401 and _me(client, globex) == 401
    assert browser.get("/").status_code == 302
    assert _me(client, admin) == 200
    (entry,) = _audit(client, world, action="auth.signed_out_everywhere")
    assert entry["actor_email"] == "user@acme.test" and entry["details"] == {"tokens_revoked": 2}
    # Signing in again works as before.
    assert (
        client.post(
            "/api/v1/auth/token", json={"email": "user@acme.test", "password": PASSWORD, "tenant": "acme"}
        ).status_code
        == 201
    )


# -- audit of sign-ins ---------------------------------------------------------------


def _token_request(client, email, password, tenant="acme"):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password, "tenant": tenant})


def test_every_sign_in_and_failure_is_audited_without_telling_which_part_was_wrong(world, client, instance):
    assert _token_request(client, "user@acme.test", PASSWORD).status_code == 201
    assert _token_request(client, "user@acme.test", "wrong password").status_code == 401
    assert _token_request(client, "nobody@acme.test", PASSWORD).status_code == 401
    assert _token_request(client, "admin@globex.test", PASSWORD).status_code == 401  # a login, not a member
    entries = [e for e in reversed(_audit(client, world)) if e["action"].startswith("auth.sign_in")]
    assert [(e["action"], e["actor_email"], e["details"]) for e in entries[:4]] == [
        ("auth.sign_in", "user@acme.test", {"method": "password"}),
        ("auth.sign_in_failed", "user@acme.test", {"reason": "bad_credentials"}),
        ("auth.sign_in_failed", "nobody@acme.test", {"reason": "bad_credentials"}),
        ("auth.sign_in_failed", "admin@globex.test", {"reason": "bad_credentials"}),
    ]


def test_a_throttled_sign_in_is_audited(world, client, instance):
    for _ in range(instance.config["LOGIN_MAX_FAILURES"]):
        _token_request(client, "user@acme.test", "nope")
    assert _token_request(client, "user@acme.test", PASSWORD).status_code == 429
    (latest, *_) = _audit(client, world, action="auth.sign_in_failed")
    assert latest["details"] == {"reason": "throttled"} and latest["actor_email"] == "user@acme.test"


# -- password policy -----------------------------------------------------------------


def test_the_default_policy_wants_ten_characters_and_refuses_common_passwords(world, instance):
    assert "password123" in common_passwords() and len(common_passwords()) == 10_000
    for password, reason in [("nine char", "at least 10 characters"), ("Password123", "too common")]:
        with pytest.raises(ValidationFailed) as info:
            identities.create_user(instance, tenant="acme", email="new@acme.test", password=password)
        assert info.value.status == 422 and reason in info.value.details["fields"]["password"][0]
    identities.create_user(instance, tenant="acme", email="new@acme.test", password="ten chars!")


def test_a_new_password_is_checked_and_the_field_named(world, client):
    headers = world.bearer("user@acme.test", "acme")
    response = client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "qwertyuiop"}, headers=headers
    )
    assert response.status_code == 422
    assert list(response.json["error"]["details"]["fields"]) == ["new_password"]
    assert _me(client, headers) == 200  # nothing changed, nothing revoked


def test_admins_set_the_tenants_policy_and_the_strictest_tenant_of_a_login_counts(world, client, instance):
    admin = world.bearer("admin@acme.test", "acme")
    assert client.get("/api/v1/auth/settings", headers=admin).json == {
        "password_min_length": 10,
        "password_refuse_common": True,
        "two_factor_roles": [],
        "fiscal_year_start": 1,
        "oidc_issuer": "",
        "oidc_client_id": "",
        "oidc_client_secret_set": False,
        "default_locale": "en",
        "default_time_zone": "UTC",
        "currency": "CNY",
    }
    user = world.bearer("user@acme.test", "acme")
    assert client.patch("/api/v1/auth/settings", json={"password_min_length": 12}, headers=user).status_code == 403
    bad = client.patch("/api/v1/auth/settings", json={"password_min_length": 4, "colour": "red"}, headers=admin).json[
        "error"
    ]
    assert set(bad["details"]["fields"]) == {"password_min_length", "colour"}
    response = client.patch(
        "/api/v1/auth/settings", json={"password_min_length": 16, "password_refuse_common": False}, headers=admin
    )
    assert response.status_code == 200 and response.json["password_min_length"] == 16
    with pytest.raises(ValidationFailed, match="at least 16 characters"):
        identities.create_user(instance, tenant="acme", email="new@acme.test", password="fifteen chars!!")
    # user@globex.test joins acme too: acme's stricter policy now binds their password.
    identities.create_user(instance, tenant="acme", email="user@globex.test", password="ignored-for-existing")
    with pytest.raises(ValidationFailed, match="at least 16 characters"):
        identities.set_password(instance, "user@globex.test", "fifteen chars!!")
    identities.set_password(instance, "user@globex.test", "sixteen chars!!!")
    # Globex keeps the default.
    identities.create_user(instance, tenant="globex", email="new@globex.test", password="ten chars!")
    assert _audit(client, world, action="tenant.settings_changed")[0]["details"] == {
        "password_min_length": 16,
        "password_refuse_common": False,
    }
