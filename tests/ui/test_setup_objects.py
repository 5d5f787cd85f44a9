"""The object manager (issue 11 item 1): objects and their fields are
created, edited, deleted and restored through the screens, every change
through the change pipeline; the pipeline's errors stand beside the control
that caused them and nothing is written; a type change is previewed first;
a sales rep gets 403."""

from __future__ import annotations

import re

import pytest

from metacrm.metadata.model import model_for
from metacrm.metadata.naming import slug, suggest_api_name
from metacrm.plugins.testing import BACKENDS
from tests.ui.list_demo import make_demo


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


@pytest.fixture(scope="module")
def admin(demo):
    return demo.client("admin")


def post(client, url, data, **headers):
    return client.post(url, data={"csrf_token": client.csrf, **data}, headers=headers)


def definitions(demo):
    return model_for(demo.instance, demo.binding).definitions


def field_doc(demo, obj, name):
    return definitions(demo).field(obj, name)


def error_beside(html: str, name: str) -> str:
    """The text of the role=alert inside the element with data-field=name."""
    start = html.index(f'data-field="{name}"')
    block = html[start : start + 4000]
    match = re.search(r'role="alert">([^<]*)<', block)
    assert match, f"no error beside {name}"
    return match.group(1)


def create_object(admin, api_name, **extra):
    data = {"label": api_name.title(), "api_name": api_name, "name_label": "Name", "name_type": "text", **extra}
    response = post(admin, "/setup/objects/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return response


# -- names -------------------------------------------------------------------------------------------


def test_api_names_are_suggested_from_latin_labels_only():
    assert slug("Vehicle type") == "vehicle_type"
    assert slug("Café 2") == "cafe_2"
    assert slug("车辆") == ""
    assert suggest_api_name("Order", kind="field") == "order_f"  # an SQL word
    assert suggest_api_name("Vehicle", {"vehicle"}, kind="object") == "vehicle_2"


def test_the_label_suggests_the_api_name_and_a_chinese_label_asks_for_one(admin):
    html = admin.get("/setup/objects/suggest-name?label=Fleet+car", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert 'value="fleet_car"' in html
    html = admin.get("/setup/objects/suggest-name?label_zh=车辆").get_data(as_text=True)
    assert 'value=""' in html and "type an API name yourself" in html
    kept = admin.get("/setup/objects/suggest-name?label=Other&api_name=mine&api_name_touched=1").get_data(as_text=True)
    assert 'value="mine"' in kept
    field = admin.get("/setup/objects/suggest-name?for=field&object=account&label=Name").get_data(as_text=True)
    assert 'value="name_2"' in field


# -- objects -----------------------------------------------------------------------------------------


def test_the_objects_list_shows_standard_and_custom_objects_with_counts(demo, admin):
    demo.account(name="Counted")
    html = admin.get("/setup/objects").get_data(as_text=True)
    assert "<h1" in html and 'data-setup-object="account"' in html
    row = html[html.index('data-setup-object="account"') :][:1500]
    assert "Package:" in row
    assert re.search(r'class="text-end">\d', row)


def test_an_admin_creates_an_object_with_both_labels_and_opens_its_records(demo, admin):
    response = create_object(
        admin, "vehicle", label="Vehicle", label_zh="车辆", plural_label="Vehicles", plural_label_zh="车辆", icon="star"
    )
    assert response.headers["Location"].endswith("/setup/objects/vehicle?done=created")
    document = definitions(demo).object("vehicle")
    assert document["translations"]["zh_CN"]["label"] == "车辆"
    assert document["name_field"] == "name" and document["icon"] == "star"
    page = admin.get("/setup/objects/vehicle").get_data(as_text=True)
    assert "Vehicle" in page and 'data-field-row="name"' in page
    assert 'href="/o/vehicle"' in admin.get("/").get_data(as_text=True)
    assert admin.get("/o/vehicle").status_code == 200
    assert "Custom" in admin.get("/setup/objects").get_data(as_text=True)


def test_an_auto_numbered_object_gets_its_format(demo, admin):
    create_object(admin, "ticket", name_type="auto_number", name_format="T-{0000}")
    assert field_doc(demo, "ticket", "name")["options"] == {"format": "T-{0000}"}


@pytest.mark.parametrize(
    ("api_name", "expected"),
    [("Bad Name", "does not match"), ("account", "already exists"), ("meta", "reserved")],
)
def test_a_bad_api_name_shows_beside_it_and_nothing_is_written(demo, admin, api_name, expected):
    before = len(definitions(demo).items)
    response = post(admin, "/setup/objects/new", {"label": "Thing", "api_name": api_name, "name_type": "text"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert expected in error_beside(html, "api_name")
    assert 'value="Thing"' in html  # what the admin typed stays
    assert len(definitions(demo).items) == before


def test_an_object_is_edited_deleted_and_restored(demo, admin):
    create_object(admin, "gadget")
    response = post(
        admin,
        "/setup/objects/gadget",
        {"label": "Gadget", "label_zh": "小工具", "plural_label": "Gadgets", "name_field": "name", "icon": "gear"},
    )
    assert response.status_code == 302
    assert definitions(demo).object("gadget")["translations"]["zh_CN"]["label"] == "小工具"
    bad = post(admin, "/setup/objects/gadget", {"label": "", "name_field": "name"})
    assert bad.status_code == 422 and error_beside(bad.get_data(as_text=True), "label")
    assert post(admin, "/setup/objects/gadget/delete", {}).status_code == 302
    assert definitions(demo).object("gadget") is None
    listed = admin.get("/setup/objects?deleted=1").get_data(as_text=True)
    assert 'data-setup-object="gadget"' in listed and "Restore" in listed
    assert post(admin, "/setup/objects/gadget/restore", {}).status_code == 302
    assert definitions(demo).object("gadget") is not None


def test_an_object_others_point_at_is_not_deleted_and_the_page_says_why(admin):
    response = post(admin, "/setup/objects/account/delete", {})
    assert response.status_code == 409
    assert "referenced by" in response.get_data(as_text=True)


# -- fields ------------------------------------------------------------------------------------------


def test_the_new_field_page_offers_every_field_type(admin):
    html = admin.get("/setup/objects/account/fields/new").get_data(as_text=True)
    for name in ("text", "currency", "picklist", "date", "lookup", "formula", "roll_up", "auto_number"):
        assert f'data-type="{name}"' in html


FIELD_CASES = [
    ("f_text", "text", {"options.max_length": "80", "options.min_length": "2"}, {"max_length": 80, "min_length": 2}),
    ("f_long", "long_text", {"options.max_length": "5000"}, {"max_length": 5000}),
    ("f_rich", "rich_text", {}, {}),
    ("f_email", "email", {}, {}),
    ("f_phone", "phone", {}, {}),
    ("f_url", "url", {}, {}),
    ("f_int", "integer", {"options.min": "0", "options.max": "10"}, {"min": 0, "max": 10}),
    ("f_dec", "decimal", {"options.precision": "10", "options.scale": "3"}, {"precision": 10, "scale": 3}),
    ("f_money", "currency", {"options.currency": "CNY", "options.scale": "2"}, {"currency": "CNY", "scale": 2}),
    ("f_pct", "percent", {"options.scale": "1"}, {"scale": 1}),
    ("f_bool", "boolean", {}, {}),
    ("f_date", "date", {}, {}),
    ("f_when", "datetime", {}, {}),
    ("f_tags", "tags", {}, {}),
    ("f_acct", "lookup", {"options.target": "account", "options.on_delete": "restrict"}, None),
    ("f_master", "master_detail", {"options.target": "account"}, None),
    ("f_many", "many_to_many", {"options.target": "contact"}, None),
    ("f_num", "auto_number", {"options.format": "G-{000}", "options.starting_number": "5"}, None),
    ("f_total", "formula", {"options.expression": "f_int * 2", "options.return_type": "number"}, None),
]


@pytest.mark.parametrize(("api_name", "type_name", "form", "options"), FIELD_CASES)
def test_each_field_type_round_trips_with_its_options(demo, admin, api_name, type_name, form, options):
    if definitions(demo).object("widget") is None:
        create_object(admin, "widget")
    if field_doc(demo, "widget", api_name) is None:
        data = {"type": type_name, "api_name": api_name, "label": api_name, "help": "Some help", **form}
        response = post(admin, f"/setup/objects/widget/fields/new?type={type_name}", data)
        assert response.status_code == 302, response.get_data(as_text=True)[:4000]
    document = field_doc(demo, "widget", api_name)
    assert document["type"] == type_name and document["help"] == "Some help"
    if options is not None:
        assert {k: v for k, v in document["options"].items() if k in options} == options
    for key, value in form.items():
        stored = document["options"][key.removeprefix("options.")]
        assert str(stored) == value
    # the edit page shows what is stored, and saving it unchanged keeps it
    page = admin.get(f"/setup/objects/widget/fields/{api_name}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for key, value in form.items():
        assert f'name="{key}"' in html and value in html
    resave = {"label": api_name, "help": "Some help", **form}
    if document.get("required"):
        resave["required"] = "1"
    response = post(admin, f"/setup/objects/widget/fields/{api_name}", resave)
    assert response.status_code == 302, response.get_data(as_text=True)[:4000]
    assert field_doc(demo, "widget", api_name)["options"] == document["options"]


def test_a_picklist_keeps_its_values_colours_order_and_translations(demo, admin):
    if definitions(demo).object("widget") is None:
        create_object(admin, "widget")
    data = {
        "type": "picklist",
        "api_name": "f_status",
        "label": "Status",
        "label_zh": "状态",
        "options.restricted": ["0", "1"],
        "pv.value": ["new", "", ""],
        "pv.label": ["New", "In progress", ""],
        "pv.label_zh": ["新建", "进行中", ""],
        "pv.color": ["#0d6efd", "", ""],
        "pv.active": ["1", "0", "1"],
        "default": "new",
    }
    response = post(admin, "/setup/objects/widget/fields/new?type=picklist", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:4000]
    document = field_doc(demo, "widget", "f_status")
    assert document["options"]["values"] == [
        {"value": "new", "label": "New", "color": "#0d6efd", "translations": {"zh_CN": "新建"}},
        {"value": "In progress", "label": "In progress", "active": False, "translations": {"zh_CN": "进行中"}},
    ]
    assert document["options"]["restricted"] is True
    assert document["default"] == "new"
    assert document["translations"] == {"zh_CN": {"label": "状态"}}
    # reorder: the order of the rows is the order of the values
    data.update({"pv.value": ["In progress", "new"], "pv.label": ["In progress", "New"], "pv.label_zh": ["", ""]})
    data.update({"pv.color": ["", "#0d6efd"], "pv.active": ["1", "1"]})
    response = post(admin, "/setup/objects/widget/fields/f_status", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:4000]
    assert [v["value"] for v in field_doc(demo, "widget", "f_status")["options"]["values"]] == ["In progress", "new"]
    # without JavaScript "Add a value" posts the form, which comes back with a row more
    more = post(admin, "/setup/objects/widget/fields/f_status", {**data, "_action": "add_value"})
    assert more.status_code == 200
    assert len(re.findall(r'data-field="options\.values\[\d+\]"', more.get_data(as_text=True))) == 3


def test_a_roll_up_chooses_its_child_then_its_relation(demo, admin):
    html = admin.get("/setup/objects/account/fields/new?type=roll_up&refresh=1&options.object=opportunity").get_data(
        as_text=True
    )
    options = html[html.index('data-field="options.relation"') :][:1500]
    assert '<option value="account"' in options
    data = {
        "type": "roll_up",
        "api_name": "open_amount",
        "label": "Open amount",
        "options.object": "opportunity",
        "options.relation": "account",
        "options.function": "sum",
        "options.field": "amount",
        "options.filter": 'stage != "closed_lost"',
    }
    response = post(admin, "/setup/objects/account/fields/new?type=roll_up", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:4000]
    assert field_doc(demo, "account", "open_amount")["options"]["function"] == "sum"


def test_a_bad_formula_shows_its_error_beside_the_expression_and_nothing_is_written(demo, admin):
    data = {
        "type": "formula",
        "api_name": "broken",
        "label": "Broken",
        "options.expression": "annual_revenue + ",
        "options.return_type": "number",
    }
    response = post(admin, "/setup/objects/account/fields/new?type=formula", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "line 1, column 17" in error_beside(html, "options.expression")
    assert "annual_revenue +</textarea>" in html
    assert field_doc(demo, "account", "broken") is None


def test_a_duplicate_field_name_shows_beside_the_api_name(demo, admin):
    response = post(
        admin, "/setup/objects/account/fields/new?type=text", {"type": "text", "api_name": "name", "label": "Again"}
    )
    assert response.status_code == 422
    assert "already has a field" in error_beside(response.get_data(as_text=True), "api_name")


def test_a_bad_option_shows_beside_its_control(admin):
    response = post(
        admin,
        "/setup/objects/account/fields/new?type=text",
        {"type": "text", "api_name": "short", "label": "Short", "options.max_length": "0"},
    )
    assert response.status_code == 422
    assert error_beside(response.get_data(as_text=True), "options.max_length")
    words = post(
        admin,
        "/setup/objects/account/fields/new?type=integer",
        {"type": "integer", "api_name": "n", "label": "N", "options.min": "many"},
    )
    assert words.status_code == 422 and "whole number" in error_beside(words.get_data(as_text=True), "options.min")


def test_a_field_is_deleted_and_restored(demo, admin):
    post(
        admin, "/setup/objects/account/fields/new?type=text", {"type": "text", "api_name": "nickname", "label": "Nick"}
    )
    assert post(admin, "/setup/objects/account/fields/nickname/delete", {}).status_code == 302
    assert field_doc(demo, "account", "nickname") is None
    page = admin.get("/setup/objects/account").get_data(as_text=True)
    assert "Deleted fields" in page and "Restore Nick" in page
    assert post(admin, "/setup/objects/account/fields/nickname/restore", {}).status_code == 302
    assert field_doc(demo, "account", "nickname") is not None


def test_a_type_change_is_previewed_with_counts_then_applied(demo, admin):
    post(admin, "/setup/objects/account/fields/new?type=text", {"type": "text", "api_name": "grade", "label": "Grade"})
    for value in ("gold", "gold", "silver", "odd one"):
        demo.account(grade=value)
    data = {
        "type": "picklist",
        "pv.value": ["gold", "silver"],
        "pv.label": ["Gold", "Silver"],
        "pv.label_zh": ["", ""],
        "pv.color": ["", ""],
        "pv.active": ["1", "1"],
        "options.restricted": ["0", "1"],
        "_action": "preview",
    }
    preview = post(admin, "/setup/objects/account/fields/grade/type", data)
    assert preview.status_code == 200, preview.get_data(as_text=True)[:4000]
    html = preview.get_data(as_text=True)
    assert 'data-preview-convertible="3"' in html and 'data-preview-unconvertible="1"' in html
    assert "odd one" in html and re.search(r'href="/o/account/\d+">#\d+', html)
    assert field_doc(demo, "account", "grade")["type"] == "text"  # a preview writes nothing
    refused = post(admin, "/setup/objects/account/fields/grade/type", {**data, "_action": "apply"})
    assert refused.status_code == 422 and field_doc(demo, "account", "grade")["type"] == "text"
    applied = post(
        admin, "/setup/objects/account/fields/grade/type", {**data, "_action": "apply", "clear_unconvertible": "1"}
    )
    assert applied.status_code == 302, applied.get_data(as_text=True)[:4000]
    assert field_doc(demo, "account", "grade")["type"] == "picklist"


def test_a_type_that_cannot_convert_is_not_offered(admin):
    response = admin.get("/setup/objects/account/fields/grade/type?type=date")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="date"' not in html and error_beside(html, "type")


def test_a_label_with_markup_stays_text(demo, admin):
    create_object(admin, "xss", label="<script>alert(1)</script>")
    html = admin.get("/setup/objects").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_sales_rep_gets_403_on_the_object_manager(demo):
    rep = demo.client("sales_rep")
    assert rep.get("/setup/objects").status_code == 403
    assert rep.get("/setup/objects/account/fields/new?type=text").status_code == 403
    response = post(rep, "/setup/objects/new", {"label": "X", "api_name": "x_rep", "name_type": "text"})
    assert response.status_code == 403
    assert definitions(demo).object("x_rep") is None
