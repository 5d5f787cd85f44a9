"""What the import tests share: a tenant with objects ``company`` (a name,
a unique code, a picklist with labels in two languages, numbers, dates, a
field the marketing role may not see and one it may only read) and
``person`` (a lookup to company), users of three roles, and helpers to
post files."""

from __future__ import annotations

import io

from metacrm.platform import identity as identities
from tests.metadata.conftest import AcmeWorld

META = "/api/v1/meta"
DATA = "/api/v1/data"

INDUSTRY = [
    {"value": "tech", "label": "Technology", "translations": {"zh_CN": "科技"}},
    {"value": "retail", "label": "Retail", "translations": {"zh_CN": "零售"}},
]
COMPANY_FIELDS = [
    {"api_name": "code", "label": "Code", "type": "text", "unique": True, "translations": {"zh_CN": {"label": "编号"}}},
    {
        "api_name": "industry",
        "label": "Industry",
        "type": "picklist",
        "options": {"values": INDUSTRY},
        "translations": {"zh_CN": {"label": "行业"}},
    },
    {"api_name": "employees", "label": "Employees", "type": "integer", "translations": {"zh_CN": {"label": "员工数"}}},
    {"api_name": "founded", "label": "Founded", "type": "date"},
    {"api_name": "secret", "label": "Secret", "type": "text"},
    {"api_name": "rating", "label": "Rating", "type": "integer"},
]
PERSON_FIELDS = [
    {"api_name": "company", "label": "Company", "type": "lookup", "options": {"target": "company"}},
    {"api_name": "email", "label": "Email", "type": "email"},
]


class ImportWorld(AcmeWorld):
    def __init__(self, instance, app):
        super().__init__(instance, app)
        for email, role in (("mark@acme.test", "marketing"), ("rep@acme.test", "sales_rep")):
            identities.create_user(instance, tenant="acme", email=email, password=self.password, role=role)
        self.client = app.test_client()
        self.admin = self.bearer("admin@acme.test", "acme")
        for api_name, fields in (("company", COMPANY_FIELDS), ("person", PERSON_FIELDS)):
            body = {"api_name": api_name, "label": api_name.title(), "fields": fields}
            response = self.client.post(f"{META}/objects", json=body, headers=self.admin)
            assert response.status_code == 201, response.json
        entry = {
            "create": True,
            "read": "all",
            "update": "all",
            "delete": "none",
            "export": True,
            "import": True,
            "fields": {"secret": "hidden", "rating": "read"},
        }
        response = self.client.put("/api/v1/access/roles/marketing/objects/company", json=entry, headers=self.admin)
        assert response.status_code == 200, response.json
        self.marketing = self.bearer("mark@acme.test", "acme")
        self.rep = self.bearer("rep@acme.test", "acme")

    def post(self, object_name: str, content: bytes | str, name: str = "data.csv", headers=None, **form):
        if isinstance(content, str):
            content = content.encode()
        data = {"file": (io.BytesIO(content), name), **{k: str(v) for k, v in form.items()}}
        return self.client.post(
            f"{DATA}/{object_name}/import",
            data=data,
            headers=headers or self.admin,
            content_type="multipart/form-data",
        )

    def records(self, object_name: str, headers=None) -> list[dict]:
        response = self.client.get(f"{DATA}/{object_name}?limit=200&sort=id", headers=headers or self.admin)
        assert response.status_code == 200, response.json
        return response.json["data"]

    def create(self, object_name: str, **values) -> dict:
        response = self.client.post(f"{DATA}/{object_name}", json=values, headers=self.admin)
        assert response.status_code == 201, response.json
        return response.json
