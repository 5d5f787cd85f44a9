"""The demo organisation for the list and board tests: one per test module
(creating it takes seconds), its users signed in through the real form, and
records seeded through the record store as the system. ``probability`` of
opportunities is hidden from sales reps, so every test can check that a
hidden field shows nowhere.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from metacrm.app import build_instance, create_app
from metacrm.cli import CLI_ACTOR, DEMO_TENANT, create_demo_tenant
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import record_store
from metacrm.platform import identity as identities
from tests.conftest import PASSWORD, drop_namespaces, make_config

ADMIN = "admin@demo.example.com"
HIDDEN = "probability"
REP_ACCESS = {
    "create": True,
    "read": "own",
    "update": "own",
    "delete": "own",
    "export": False,
    "import": False,
    "fields": {HIDDEN: "hidden"},
}
_names = itertools.count(1)


def email_of(role: str) -> str:
    return ADMIN if role == "admin" else f"{role.replace('_', '.')}@demo.example.com"


def csrf_of(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


@dataclass
class Demo:
    instance: object
    app: object
    users: dict[str, int] = field(default_factory=dict)

    @property
    def binding(self):
        return self.instance.db.bind(DEMO_TENANT)

    def client(self, role: str = "sales_rep"):
        """A test client signed in as the demo user of ``role``; ``client.csrf`` is its token."""
        client = self.app.test_client()
        token = csrf_of(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login", data={"email": email_of(role), "password": PASSWORD, "tenant": DEMO_TENANT, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        client.csrf = csrf_of(client.get("/").get_data(as_text=True))
        return client

    def store(self):
        return record_store(self.instance, self.binding, SystemGuard(), CLI_ACTOR)

    def create(self, object_name: str, owner: str = "sales_rep", **values) -> dict:
        return self.store().create(object_name, values, owner_id=self.users[owner])

    def account(self, owner: str = "sales_rep", **values) -> dict:
        return self.create("account", owner, name=values.pop("name", f"Account {next(_names)}"), **values)

    def opportunity(self, owner: str = "sales_rep", **values) -> dict:
        defaults = {
            "name": f"Deal {next(_names)}",
            "stage": "prospecting",
            "close_date": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
        }
        return self.create("opportunity", owner, **{**defaults, **values})

    def get(self, object_name: str, record_id: int) -> dict:
        return self.store().get(object_name, record_id)


def demo_of(instance, app) -> Demo:
    """A :class:`Demo` of an instance whose demo organisation exists (the browser tests' live app)."""
    demo = Demo(instance, app)
    demo.users = {
        ("admin" if row["email"] == ADMIN else row["email"].split("@")[0].replace(".", "_")): row["id"]
        for row in identities.list_users(instance, DEMO_TENANT)
    }
    return demo


def hide_from_reps(demo: Demo) -> None:
    """Hide ``HIDDEN`` from sales reps, as an admin does through the access API."""
    admin = identities.identity_for(demo.instance, demo.users["admin"], DEMO_TENANT)
    bearer = {"Authorization": f"Bearer {identities.create_token(demo.instance, admin, 'tests')[1]}"}
    response = demo.app.test_client().put(
        "/api/v1/access/roles/sales_rep/objects/opportunity", json=REP_ACCESS, headers=bearer
    )
    assert response.status_code == 200, response.json


def make_demo(tmp_path, backend: str):
    """The demo organisation on a fresh instance; yields a :class:`Demo`."""
    instance = build_instance(make_config(tmp_path, backend, DEFAULT_TENANT=DEMO_TENANT))
    instance.upgrade_platform()
    try:
        create_demo_tenant(instance, admin_email=ADMIN, password=PASSWORD, records=False, package_names=["crm_core"])
        demo = demo_of(instance, create_app(instance=instance))
        hide_from_reps(demo)
        yield demo
    finally:
        drop_namespaces(instance)
        instance.dispose()
