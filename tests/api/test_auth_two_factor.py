"""TOTP two-factor authentication: enrol, confirm, sign in with codes the
app makes (pyotp here), single use of every code, recovery codes, disable,
a tenant requiring it per role, and the browser's second sign-in step."""

from __future__ import annotations

import time

import pyotp

from metacrm.ui.views import auth as views
from tests.conftest import PASSWORD
from tests.ui.test_sign_in import _csrf, _login


def _token_request(client, email="user@acme.test", tenant="acme", **extra):
    return client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD, "tenant": tenant, **extra})


def _enrol(client, headers) -> pyotp.TOTP:
    enrolment = client.post("/api/v1/auth/2fa/enrol", headers=headers)
    assert enrolment.status_code == 201 and enrolment.json["otpauth_uri"].startswith("otpauth://totp/")
    return pyotp.TOTP(enrolment.json["secret"])


def _enable(client, headers) -> tuple[pyotp.TOTP, list[str]]:
    totp = _enrol(client, headers)
    # The code of the previous step: still accepted, and leaves the current one unused.
    confirmed = client.post("/api/v1/auth/2fa/confirm", json={"code": totp.at(time.time() - 30)}, headers=headers)
    assert confirmed.status_code == 200, confirmed.json
    return totp, confirmed.json["recovery_codes"]


def _audit(client, world, action):
    headers = world.bearer("admin@acme.test", "acme")
    return client.get(f"/api/v1/audit?action={action}", headers=headers).json["data"]


def test_enrolment_is_not_in_force_until_confirmed_with_a_right_code(world, client):
    headers = world.bearer("user@acme.test", "acme")
    totp = _enrol(client, headers)
    assert client.get("/api/v1/auth/2fa", headers=headers).json == {
        "enabled": False,
        "pending_confirmation": True,
        "recovery_codes_left": 0,
        "required": False,
    }
    assert _token_request(client).status_code == 201  # no code needed yet
    wrong = client.post("/api/v1/auth/2fa/confirm", json={"code": "000000"}, headers=headers)
    assert wrong.status_code == 422 and "code" in wrong.json["error"]["details"]["fields"]
    assert client.post("/api/v1/auth/2fa/confirm", json={"code": totp.now()}, headers=headers).status_code == 200
    assert client.get("/api/v1/auth/2fa", headers=headers).json["enabled"] is True
    assert client.post("/api/v1/auth/2fa/enrol", headers=headers).status_code == 409


def test_sign_in_needs_the_code_and_each_code_works_once(world, client):
    totp, _ = _enable(client, world.bearer("user@acme.test", "acme"))
    missing = _token_request(client)
    assert missing.status_code == 401 and missing.json["error"]["code"] == "second_factor_required"
    assert _token_request(client, otp="123456" if totp.now() != "123456" else "654321").status_code == 401
    code = totp.now()
    assert _token_request(client, otp=code).status_code == 201
    assert _token_request(client, otp=code).status_code == 401  # replayed
    assert _token_request(client, otp=totp.at(time.time() + 30)).status_code == 201  # clock drift, one step
    failures = [e["details"]["reason"] for e in _audit(client, world, "auth.sign_in_failed")]
    assert failures == ["bad_second_factor", "bad_second_factor"]
    signed_in = [e for e in _audit(client, world, "auth.sign_in") if e["actor_email"] == "user@acme.test"]
    assert [e["details"]["method"] for e in signed_in] == ["password+totp", "password+totp"]


def test_a_recovery_code_signs_in_once(world, client):
    headers = world.bearer("user@acme.test", "acme")
    _, codes = _enable(client, headers)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert _token_request(client, otp=codes[0].upper()).status_code == 201
    assert _token_request(client, otp=codes[0]).status_code == 401
    assert client.get("/api/v1/auth/2fa", headers=headers).json["recovery_codes_left"] == 9


def test_disabling_needs_a_code_and_then_the_password_alone_signs_in(world, client):
    headers = world.bearer("user@acme.test", "acme")
    totp, _ = _enable(client, headers)
    assert client.post("/api/v1/auth/2fa/disable", json={"code": "000000"}, headers=headers).status_code == 422
    assert client.post("/api/v1/auth/2fa/disable", json={"code": totp.now()}, headers=headers).status_code == 204
    assert _token_request(client).status_code == 201
    assert [e["action"] for e in _audit(client, world, "auth.two_factor_disabled")] == ["auth.two_factor_disabled"]


def test_a_tenant_requires_it_per_role_and_a_member_must_enrol_before_anything_else(world, client):
    admin = world.bearer("admin@acme.test", "acme")
    user = world.bearer("user@acme.test", "acme")
    changed = client.patch("/api/v1/auth/settings", json={"two_factor_roles": ["admin"]}, headers=admin)
    assert changed.status_code == 200
    blocked = client.get("/api/v1/audit", headers=admin)
    assert blocked.status_code == 403 and blocked.json["error"]["code"] == "two_factor_required"
    assert client.get("/api/v1/me", headers=admin).status_code == 200
    assert client.get("/api/v1/auth/2fa", headers=admin).json["required"] is True
    assert client.get("/api/v1/meta/objects", headers=user).status_code == 200  # other roles unaffected
    totp, _ = _enable(client, admin)
    assert client.get("/api/v1/audit", headers=admin).status_code == 200
    refused = client.post("/api/v1/auth/2fa/disable", json={"code": totp.now()}, headers=admin)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "two_factor_required"
    bad = client.patch("/api/v1/auth/settings", json={"two_factor_roles": "admin"}, headers=admin)
    assert bad.status_code == 422 and set(bad.json["error"]["details"]["fields"]) == {"two_factor_roles"}


def test_the_browser_asks_for_the_code_in_a_second_step(world, app, client):
    totp, _ = _enable(client, world.bearer("user@acme.test", "acme"))
    browser = app.test_client()
    response = _login(browser, email="user@acme.test", next_url="/")
    assert response.status_code == 302 and "/login/code" in response.headers["Location"]
    assert browser.get("/").status_code == 302  # not signed in yet
    token = _csrf(browser, "/login/code")
    wrong = browser.post("/login/code?next=/", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401 and "Wrong code" in wrong.get_data(as_text=True)
    right = browser.post("/login/code?next=/", data={"code": totp.now(), "csrf_token": token})
    assert right.status_code == 302 and right.headers["Location"] == "/"
    assert browser.get("/").status_code == 200


def test_the_code_step_needs_the_password_first_and_expires(app, world, client, monkeypatch):
    browser = app.test_client()
    assert browser.get("/login/code").status_code == 302
    totp, _ = _enable(client, world.bearer("user@acme.test", "acme"))
    _login(browser, email="user@acme.test")
    monkeypatch.setattr(views, "SECOND_STEP_SECONDS", -1)
    late = browser.post("/login/code", data={"code": totp.now(), "csrf_token": _csrf(browser)})
    assert late.status_code == 302 and "/login/code" not in late.headers["Location"]
    assert browser.get("/").status_code == 302
