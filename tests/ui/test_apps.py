"""Apps and navigation (issue 11 item 7): crm_core's apps per role in the
shell's navigation and switcher, an admin's app through the pipeline (a
revision, refused beside the field when wrong), and the navigation's order
saved as ``nav_order`` / ``nav_hidden``."""

from __future__ import annotations

import re

import pytest

from metacrm.plugins.testing import BACKENDS
from tests.ui.list_demo import make_demo


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


def _nav(html: str) -> list[str]:
    navbar = html.split('aria-label="Objects"')[1].split("</ul>\n      <form")[0]
    return re.findall(r'data-object="([a-z_]+)"', navbar)


def _bar(html: str) -> list[str]:
    """The objects on the bar itself (not under "More")."""
    navbar = html.split('aria-label="Objects"')[1].split("dropdown-menu")[0]
    return re.findall(r'class="nav-link[^"]*"[^>]*data-object="([a-z_]+)"', navbar) or re.findall(
        r'data-object="([a-z_]+)"', navbar
    )


def _switcher(html: str) -> list[str]:
    if 'aria-label="Apps"' not in html:
        return []
    part = html.split('aria-label="Apps"')[1].split("</ul>")[0]
    return re.findall(r'class="dropdown-item[^"]*"[^>]*data-app="([a-z_]+)"', part)


def test_each_role_works_in_its_app_and_sees_no_object_it_may_not_read(demo):
    rep = demo.client("sales_rep").get("/").get_data(as_text=True)
    assert _bar(rep) == ["account", "contact", "lead", "opportunity", "activity", "product"]
    assert _switcher(rep) == []  # one app: no switcher

    agent = demo.client("service_agent").get("/").get_data(as_text=True)
    assert _bar(agent)[:4] == ["account", "contact", "case", "activity"]

    marketing = demo.client("marketing").get("/").get_data(as_text=True)
    assert _bar(marketing)[0] == "campaign"


def test_an_admin_switches_between_every_app_and_all_objects(demo):
    admin = demo.client("admin")
    home = admin.get("/").get_data(as_text=True)
    assert _switcher(home) == ["sales", "service", "marketing", "_all"]
    switched = admin.get("/apps/service")
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/o/account")
    page = admin.get("/").get_data(as_text=True)
    assert _bar(page)[:4] == ["account", "contact", "case", "activity"]
    assert 'data-app="service"' in page.split('id="app-switcher"')[1].split(">")[0]
    admin.get("/apps/_all")
    assert _nav(admin.get("/").get_data(as_text=True))[0] == "account"
    assert demo.client("sales_rep").get("/apps/service").status_code == 404  # not the rep's app


def test_an_admin_creates_an_app_for_a_role_through_the_pipeline(demo):
    admin = demo.client("admin")
    head = admin.get("/api/v1/meta/revisions").json["data"][0]["revision"]
    form = {
        "csrf_token": admin.csrf,
        "api_name": "field_sales",
        "label": "Field sales",
        "label_zh_CN": "外勤销售",
        "icon": "briefcase",
        "order": "5",
        "objects": ["opportunity", "account"],
        "roles": ["sales_rep"],
    }
    assert admin.post("/setup/apps/new", data=form).status_code == 302
    assert admin.get("/api/v1/meta/revisions").json["data"][0]["revision"] == head + 1
    assert 'data-app="field_sales"' in admin.get("/setup/apps").get_data(as_text=True)

    rep = demo.client("sales_rep")
    home = rep.get("/").get_data(as_text=True)
    assert _switcher(home) == ["field_sales", "sales", "_all"]  # order 5 comes first
    assert _bar(home) == ["opportunity", "account"]

    bad = admin.post("/setup/apps/field_sales", data={**form, "objects": ["opportunity", "no_such_object"]})
    assert bad.status_code == 422
    objects = bad.get_data(as_text=True).split('data-field="objects"')[1].split("</fieldset>")[0]
    assert 'role="alert"' in objects and "no_such_object" in objects

    assert admin.post("/setup/apps/field_sales/delete", data={"csrf_token": admin.csrf}).status_code == 302
    assert _switcher(rep.get("/").get_data(as_text=True)) == []


def test_an_app_label_with_markup_stays_text(demo):
    admin = demo.client("admin")
    form = {"csrf_token": admin.csrf, "api_name": "xss", "label": "<script>alert(1)</script>", "objects": ["account"]}
    assert admin.post("/setup/apps/new", data=form).status_code == 302
    page = admin.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    admin.post("/setup/apps/xss/delete", data={"csrf_token": admin.csrf})


def test_the_admin_reorders_and_hides_objects_of_the_navigation(demo):
    admin = demo.client("admin")
    admin.get("/apps/_all")
    order = ["product", "account", "contact", "lead", "opportunity", "activity", "case", "campaign"]
    response = admin.post("/setup/apps/order", data={"csrf_token": admin.csrf, "order": order, "hidden": ["campaign"]})
    assert response.status_code == 302
    product = admin.get("/api/v1/meta/objects/product").json
    assert product["nav_order"] == 10
    assert admin.get("/api/v1/meta/objects/campaign").json["nav_hidden"] is True
    nav = _nav(admin.get("/").get_data(as_text=True))
    assert nav[0] == "product" and "campaign" not in nav

    bad = admin.post("/setup/apps/order", data={"csrf_token": admin.csrf, "order": ["product", "nothing"]})
    assert bad.status_code == 422 and 'role="alert"' in bad.get_data(as_text=True)

    restore = ["account", "contact", "lead", "opportunity", "activity", "case", "campaign", "product"]
    admin.post("/setup/apps/order", data={"csrf_token": admin.csrf, "order": restore})


def test_a_sales_rep_gets_403_on_the_apps_screens(demo):
    rep = demo.client("sales_rep")
    assert rep.get("/setup/apps").status_code == 403
    assert rep.post("/setup/apps/order", data={"csrf_token": rep.csrf, "order": ["account"]}).status_code == 403
