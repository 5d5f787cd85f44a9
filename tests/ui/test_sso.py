"""Single sign-on through a tenant's OpenID Connect provider: a local fake
provider (discovery, keys, token endpoint) signs ID tokens as a real one
would; the browser goes there and back, and every check of the ID token
(signature, nonce, verified e-mail, membership) holds."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID, CLIENT_SECRET = "metacrm-acme", "s3cret-of-the-client"


class FakeProvider:
    """Answers discovery, JWKS and the token endpoint; the ID token says
    whatever ``claims`` holds (plus iss, aud, times), signed with ``key``."""

    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.signing_key = self.key
        self.claims: dict = {}
        self.token_requests: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, document, status=200):
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path == "/.well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": provider.issuer,
                            "authorization_endpoint": provider.issuer + "/authorize",
                            "token_endpoint": provider.issuer + "/token",
                            "jwks_uri": provider.issuer + "/jwks",
                        }
                    )
                elif self.path == "/jwks":
                    self._json({"keys": [provider.key.as_dict(private=False)]})
                else:
                    self._json({}, 404)

            def do_POST(self):  # noqa: N802
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                basic = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
                provider.token_requests.append({"form": form, "basic": basic})
                if basic != f"{CLIENT_ID}:{CLIENT_SECRET}" or form.get("code") != ["the-code"]:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                now = int(time.time())
                claims = {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "u-1", "iat": now, "exp": now + 300}
                token = jwt.encode({"alg": "RS256", "kid": "k1"}, {**claims, **provider.claims}, provider.signing_key)
                self._json({"access_token": "at", "token_type": "Bearer", "id_token": token})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider(world, client, monkeypatch):
    monkeypatch.setitem(world.instance.config, "OUTBOUND_ALLOW", ["127.0.0.1/32"])
    fake = FakeProvider()
    settings = {"oidc_issuer": fake.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET}
    response = client.patch("/api/v1/auth/settings", json=settings, headers=world.bearer("admin@acme.test", "acme"))
    assert response.status_code == 200
    yield fake
    fake.close()


def _go_to_provider(browser, provider) -> dict:
    """Start single sign-on; the provider 'signs the user in' and will put
    the request's nonce in the ID token. Returns the callback parameters."""
    response = browser.get("/login/sso?tenant=acme&next=/")
    assert response.status_code == 302
    url = urllib.parse.urlsplit(response.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == provider.issuer + "/authorize"
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query["client_id"] == CLIENT_ID and query["scope"] == "openid email" and query["response_type"] == "code"
    provider.claims.setdefault("nonce", query["nonce"])
    return {"code": "the-code", "state": query["state"]}


def _callback(browser, params):
    return browser.get("/login/sso/callback?" + urllib.parse.urlencode(params))


def _audit(client, world, action):
    headers = world.bearer("admin@acme.test", "acme")
    return client.get(f"/api/v1/audit?action={action}", headers=headers).json["data"]


def test_a_member_signs_in_through_the_identity_provider(provider, app, client, world):
    provider.claims.update(email="user@acme.test", email_verified=True)
    browser = app.test_client()
    response = _callback(browser, _go_to_provider(browser, provider))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "user@acme.test" in browser.get("/").get_data(as_text=True)
    (request,) = provider.token_requests
    assert request["form"]["redirect_uri"] == ["http://localhost/login/sso/callback"]
    (entry, *_) = _audit(client, world, "auth.sign_in")
    assert entry["actor_email"] == "user@acme.test" and entry["details"] == {"method": "oidc"}
    shown = client.get("/api/v1/auth/settings", headers=world.bearer("admin@acme.test", "acme")).json
    assert shown["oidc_client_secret_set"] is True and CLIENT_SECRET not in json.dumps(shown)
    assert CLIENT_SECRET not in json.dumps(_audit(client, world, "tenant.settings_changed"))


@pytest.mark.parametrize(
    "claims,reason",
    [
        ({"email": "user@acme.test", "email_verified": False}, "email_verified"),
        ({"email": "user@acme.test", "email_verified": True, "nonce": "replayed"}, "nonce"),
        ({"email": "admin@globex.test", "email_verified": True}, "not a member"),
    ],
)
def test_an_id_token_that_does_not_check_out_signs_nobody_in(provider, app, client, world, claims, reason):
    provider.claims.update(claims)
    browser = app.test_client()
    response = _callback(browser, _go_to_provider(browser, provider))
    assert response.status_code == 401 and reason in response.get_data(as_text=True)
    assert browser.get("/").status_code == 302
    assert _audit(client, world, "auth.sign_in_failed")


def test_a_token_signed_with_another_key_or_a_forged_state_is_refused(provider, app):
    provider.claims.update(email="user@acme.test", email_verified=True)
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    browser = app.test_client()
    params = _go_to_provider(browser, provider)
    assert _callback(browser, params).status_code == 401
    browser = app.test_client()
    params = _go_to_provider(browser, provider)
    response = _callback(browser, {**params, "state": "forged"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert browser.get("/").status_code == 302


def test_a_provider_on_an_internal_address_needs_the_allow_list(provider, app, world, monkeypatch):
    monkeypatch.setitem(world.instance.config, "OUTBOUND_ALLOW", [])
    response = app.test_client().get("/login/sso?tenant=acme")
    assert response.status_code == 502 and "not in OUTBOUND_ALLOW" in response.get_data(as_text=True)


def test_a_tenant_without_single_sign_on_says_so(app, world):
    assert app.test_client().get("/login/sso?tenant=globex").status_code == 404


def test_totp_is_still_asked_after_single_sign_on(provider, app, client, world):
    import pyotp

    headers = world.bearer("user@acme.test", "acme")
    totp = pyotp.TOTP(client.post("/api/v1/auth/2fa/enrol", headers=headers).json["secret"])
    client.post("/api/v1/auth/2fa/confirm", json={"code": totp.at(time.time() - 30)}, headers=headers)
    provider.claims.update(email="user@acme.test", email_verified=True)
    browser = app.test_client()
    response = _callback(browser, _go_to_provider(browser, provider))
    assert response.status_code == 302 and "/login/code" in response.headers["Location"]
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    done = browser.post(response.headers["Location"], data={"code": totp.now(), "csrf_token": csrf})
    assert done.status_code == 302 and browser.get("/").status_code == 200
    (entry, *_) = _audit(client, world, "auth.sign_in")
    assert entry["details"] == {"method": "oidc+totp"}
