"""A user of tenant A can never read or write tenant B."""

from metacrm.platform import audit
from tests.conftest import PASSWORD


def _login(client, email, tenant, password=PASSWORD):
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    return client.post("/login", data={"email": email, "password": password, "tenant": tenant, "csrf_token": token})


def test_token_of_tenant_a_only_ever_sees_tenant_a(client, world):
    headers = world.bearer("admin@acme.test", "acme")
    forged = {**headers, "X-Tenant": "globex", "X-Metacrm-Tenant": "globex"}
    me = client.get("/api/v1/me?tenant=globex", headers=forged)
    assert me.json["tenant"]["slug"] == "acme"
    entries = client.get("/api/v1/audit?tenant=globex", headers=forged).json["data"]
    assert all("globex" not in str(entry) for entry in entries)


def test_session_of_tenant_a_cannot_be_pointed_at_tenant_b(app, world):
    client = app.test_client()
    assert _login(client, "admin@acme.test", "acme").status_code == 302
    with client.session_transaction() as session:
        session["tenant"] = "globex"  # forged: the user is no member of globex
    response = client.get("/api/v1/me")
    assert response.status_code == 401


def test_sign_in_to_a_tenant_one_is_not_a_member_of_fails(app, world):
    client = app.test_client()
    response = _login(client, "admin@acme.test", "globex")
    assert response.status_code == 401
    assert client.get("/api/v1/me").status_code == 401


def test_audit_entries_stay_in_their_tenant(client, world, instance):
    with instance.db.bind("globex").begin() as conn:
        audit.record(conn, audit.Actor(email="x@globex.test"), "globex.secret")
    entries = client.get("/api/v1/audit?limit=500", headers=world.bearer("admin@acme.test", "acme")).json["data"]
    assert "globex.secret" not in {entry["action"] for entry in entries}
