"""Browser sign-in: forms, CSRF, cookies, sign-out and session invalidation."""

from werkzeug.routing import AnyConverter, IntegerConverter

from metacrm.platform import identity as identities
from metacrm.platform.web import PUBLIC_ATTR
from tests.conftest import PASSWORD


def _csrf(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _login(client, email="admin@acme.test", tenant="acme", password=PASSWORD, next_url=None):
    token = _csrf(client)
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password, "tenant": tenant, "csrf_token": token})


def test_anonymous_pages_redirect_to_the_sign_in_form(client, world):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_sign_in_sets_a_hardened_session_cookie_and_shows_the_start_page(app, world):
    app.config["SESSION_COOKIE_SECURE"] = True
    client = app.test_client()
    response = _login(client)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_start_page_shows_user_tenant_and_audit_for_admins(client, world):
    _login(client)
    page = client.get("/").get_data(as_text=True)
    assert "admin@acme.test" in page and "Acme" in page and "auth.sign_in" in page


def test_form_post_without_csrf_token_is_rejected(client, world):
    response = client.post("/login", data={"email": "admin@acme.test", "password": PASSWORD, "tenant": "acme"})
    assert response.status_code == 400
    assert "forged" in response.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401


def test_session_requests_to_the_api_need_the_csrf_header(client, world):
    _login(client)
    assert client.post("/api/v1/auth/tokens", json={"name": "x"}).status_code == 400
    token = _csrf(client, "/")
    response = client.post("/api/v1/auth/tokens", json={"name": "x"}, headers={"X-CSRFToken": token})
    assert response.status_code == 201


def test_wrong_password_shows_the_form_again_with_a_message(client, world):
    response = _login(client, password="wrong")
    assert response.status_code == 401
    assert "Wrong e-mail address, password or organisation." in response.get_data(as_text=True)


def test_empty_fields_are_named_beside_the_field(client, world):
    response = _login(client, email="", password="")
    assert response.status_code == 422
    assert response.get_data(as_text=True).count("Required.") == 2


def test_next_parameter_cannot_redirect_off_site(client, world):
    response = _login(client, next_url="https://evil.example/")
    assert response.headers["Location"] == "/"
    client.post("/logout", data={"csrf_token": _csrf(client, "/")})
    response = _login(client, next_url="//evil.example/")
    assert response.headers["Location"] == "/"


def test_sign_out_ends_the_session(client, world):
    _login(client)
    response = client.post("/logout", data={"csrf_token": _csrf(client, "/")})
    assert response.status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_changing_the_password_ends_existing_sessions(client, world, instance):
    _login(client)
    assert client.get("/api/v1/me").status_code == 200
    identities.set_password(instance, "admin@acme.test", "a brand new password")
    assert client.get("/api/v1/me").status_code == 401


def test_tokens_can_be_created_and_revoked_from_the_start_page(client, world):
    _login(client)
    token = _csrf(client, "/")
    fragment = client.post("/tokens", data={"name": "zapier", "csrf_token": token}, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "zapier" in html and 'id="new-token"' in html and "<html" not in html
    token_id = identities.list_tokens(world.instance, world.identity("admin@acme.test", "acme"))[0]["id"]
    fragment = client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert "revoked" in fragment.get_data(as_text=True)


def _example_url(app, rule) -> str:
    """A URL that matches ``rule``, with a plausible value for each argument."""
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif isinstance(converter, IntegerConverter):
            values[name] = 1
        else:
            values[name] = "account"
    return app.url_map.bind("localhost").build(rule.endpoint, values, method=next(iter(rule.methods)))


def test_every_route_requires_a_signed_in_user_unless_marked_public(app, world):
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, PUBLIC_ATTR, False) or rule.endpoint == "static":
            continue
        url = _example_url(app, rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method, headers={"Accept": "application/json"})
            assert response.status_code == 401, f"{method} {rule.rule} ({url}) answered {response.status_code}"


def test_sign_out_everywhere_ends_other_browsers_and_tokens(app, world, instance):
    first, second = app.test_client(), app.test_client()
    _login(first)
    _login(second)
    token = world.token("admin@acme.test", "acme")
    page = first.get("/").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = first.post("/logout/everywhere", data={"csrf_token": csrf})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert first.get("/").status_code == 302 and second.get("/").status_code == 302
    assert identities.identity_from_token(instance, token) is None


def test_the_sign_in_errors_speak_of_the_organisation_in_both_languages(client, world):
    english = _login(client, tenant="nowhere").get_data(as_text=True)
    assert "Wrong e-mail address, password or organisation." in english and "or tenant" not in english
    token = _csrf(client)
    chinese = client.post(
        "/login",
        data={"email": "admin@acme.test", "password": "wrong", "tenant": "acme", "csrf_token": token},
        headers={"Accept-Language": "zh-CN"},
    ).get_data(as_text=True)
    assert "电子邮件、密码或组织有误。" in chinese and "租户" not in chinese
    empty = client.post("/login", data={"csrf_token": token}, headers={"Accept-Language": "zh-CN"})
    assert empty.status_code == 422 and empty.get_data(as_text=True).count("必填。") == 3
