"""What the record page's and the timeline's server-side tests share: a
crm_core tenant with two sales reps and an admin, signed-in clients, and a
way to hide a field from a role."""

from __future__ import annotations

import html

from metacrm_crm_core.plugin import PACKAGE_DIR

from metacrm.access.changes import AccessChanges
from metacrm.access.members import provision_member
from metacrm.access.policy import policy_for
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.conftest import PASSWORD


class Crm:
    """A tenant with crm_core, a sales rep ``rep`` (owns the records made
    through :meth:`create`), another rep ``other`` and an admin, and a client per user."""

    def __init__(self, app, tenant):
        self.app = app
        self.tenant = tenant
        self.instance = tenant.instance
        admin_id = identities.create_user(
            self.instance, tenant="crm", email="boss@crm.test", password=PASSWORD, is_admin=True, role="admin"
        )
        provision_member(self.instance, tenant.binding, admin_id, actor=audit.SYSTEM)
        self.rep_id, self.other_id = tenant.users
        self.admin_id = admin_id

    @classmethod
    def make(cls, app, package_tenant) -> Crm:
        return cls(app, package_tenant(PACKAGE_DIR, slug="crm", users=("rep", "other"), role="sales_rep"))

    def create(self, object_name: str, **values) -> dict:
        return self.tenant.store().create(object_name, values)

    def client(self, user: str = "rep"):
        client = self.app.test_client()
        email = {"rep": "rep@crm.test", "other": "other@crm.test", "admin": "boss@crm.test"}[user]
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "tenant": "crm", "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    def hide(self, role: str, object_name: str, field: str) -> None:
        """Hide a field from a role (through the access layer, as an admin does)."""
        changes = AccessChanges(
            self.instance,
            self.tenant.binding,
            audit.SYSTEM,
            held=frozenset({"admin"}),
            policy=policy_for(self.instance, self.tenant.binding),
        )
        entry = {"create": True, "read": "own", "update": "own", "delete": "own", "fields": {field: "hidden"}}
        with changes.change(f"hide {field}") as change:
            change.put_object_access(role, object_name, entry)


def csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))
