"""The token endpoint, /me, token management and the error contract."""

import pytest

from tests.conftest import PASSWORD


def _token_request(client, **body):
    return client.post("/api/v1/auth/token", json=body)


def test_password_exchange_returns_a_token_that_identifies_user_and_tenant(world, client):
    response = _token_request(client, email="user@acme.test", password=PASSWORD, tenant="acme")
    assert response.status_code == 201
    token = response.json["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json["user"]["email"] == "user@acme.test"
    assert me.json["tenant"]["slug"] == "acme"


def test_wrong_password_is_401_and_repeated_failures_are_429(world, client, instance):
    for _ in range(instance.config["LOGIN_MAX_FAILURES"]):
        response = _token_request(client, email="user@acme.test", password="nope", tenant="acme")
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthenticated"
    response = _token_request(client, email="user@acme.test", password=PASSWORD, tenant="acme")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_missing_fields_are_named(client, world):
    response = _token_request(client, email="user@acme.test", password=5)
    assert response.status_code == 422
    assert set(response.json["error"]["details"]["fields"]) == {"password", "tenant"}


@pytest.mark.parametrize(
    "body,content_type",
    [("not json", "application/json"), ("[1,2]", "application/json"), ("email=x", "application/x-www-form-urlencoded")],
)
def test_malformed_bodies_get_400_json(client, world, body, content_type):
    response = client.post("/api/v1/auth/token", data=body, content_type=content_type)
    assert response.status_code == 400
    assert set(response.json["error"]) == {"code", "message", "details"}


def test_api_without_credentials_is_401_json(client, world):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"


def test_garbage_and_revoked_tokens_are_401(client, world):
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer mcrm_forged"}).status_code == 401
    headers = world.bearer("user@acme.test", "acme")
    tokens = client.get("/api/v1/auth/tokens", headers=headers).json["data"]
    client.delete(f"/api/v1/auth/tokens/{tokens[0]['id']}", headers=headers)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_tokens_can_be_created_listed_and_revoked_through_the_api(client, world):
    headers = world.bearer("user@acme.test", "acme")
    created = client.post("/api/v1/auth/tokens", json={"name": "erp"}, headers=headers)
    assert created.status_code == 201
    listed = client.get("/api/v1/auth/tokens", headers=headers).json["data"]
    assert {t["name"] for t in listed} == {"test", "erp"}
    assert all("token_hash" not in t for t in listed)
    assert client.delete(f"/api/v1/auth/tokens/{created.json['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/auth/tokens/{created.json['id']}", headers=headers).status_code == 404


def test_unknown_routes_are_404_json(client, world):
    response = client.get("/api/v1/nothing-here", headers=world.bearer("user@acme.test", "acme"))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_oversized_bodies_are_413(world, instance, config):
    from metacrm.app import create_app

    app = create_app(instance=instance)
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = app.test_client().post("/api/v1/auth/token", data="x" * 5000, content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


def test_unexpected_errors_are_logged_with_a_request_id_and_never_leak_a_traceback(app, world, caplog):
    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/api/v1/boom", headers=world.bearer("user@acme.test", "acme"))
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body
    request_id = response.headers["X-Request-Id"]
    assert request_id in response.json["error"]["message"]
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_audit_log_is_for_admins_and_records_sign_ins(client, world):
    _token_request(client, email="user@acme.test", password="bad", tenant="acme")
    _token_request(client, email="user@acme.test", password=PASSWORD, tenant="acme")
    assert client.get("/api/v1/audit", headers=world.bearer("user@acme.test", "acme")).status_code == 403
    entries = client.get("/api/v1/audit", headers=world.bearer("admin@acme.test", "acme")).json["data"]
    actions = [entry["action"] for entry in entries]
    assert {"auth.sign_in", "auth.sign_in_failed", "auth.token_created"} <= set(actions)
    failed = next(e for e in entries if e["action"] == "auth.sign_in_failed")
    assert failed["actor_email"] == "user@acme.test" and failed["ip"]
