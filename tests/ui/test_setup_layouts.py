"""The layout editor and the list-view editor of setup (issue 11 items 2
and 3): a saved layout moves a field on the record page and in the form, a
bad condition is refused with its line and column beside the field and
nothing is written, the buttons' moves work without JavaScript, the
preview follows the working layout; list views are created, edited,
deleted, and a user's personal view is promoted to a shared one; a sales
rep gets 403 everywhere."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from metacrm.plugins.testing import BACKENDS
from metacrm.ui import saved_views
from tests.ui.list_demo import make_demo


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


@pytest.fixture(scope="module")
def admin(demo):
    return demo.client("admin")


def _layout(demo, object_name="opportunity", name="default") -> dict:
    admin = demo.client("admin")
    response = admin.get(f"/api/v1/meta/objects/{object_name}/layouts/{name}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _revision(admin) -> int:
    return admin.get("/api/v1/meta/revisions").json["data"][0]["revision"]


def _form(layout: dict, csrf: str, **extra) -> MultiDict:
    """What the editor posts for ``layout`` (its members in document order)."""
    form = MultiDict([("csrf_token", csrf), ("label", layout["label"])])
    form.add("label_zh", ((layout.get("translations") or {}).get("zh_CN") or {}).get("label", ""))
    for number, section in enumerate(layout["sections"]):
        key = f"s{number}"
        form.add("item", f"section:{key}")
        form.add(f"section.{key}.label", section.get("label", ""))
        form.add(f"section.{key}.label_zh", (section.get("translations") or {}).get("zh_CN", ""))
        form.add(f"section.{key}.columns", str(section.get("columns", 2)))
        form.add(f"section.{key}.collapsed", "0")
        for name in section["fields"]:
            form.add("item", f"field:{name}")
        for kind, text in (section.get("rules") or {}).items():
            form.add(f"section.{key}.rule.{kind}", text)
    form.add("item", "related")
    for related in layout.get("related_lists") or []:
        key = f"{related['object']}.{related['field']}"
        form.add("item", f"related:{key}")
        form.add(f"related.{key}.label", related.get("label", ""))
        form.add(f"related.{key}.label_zh", (related.get("translations") or {}).get("zh_CN", ""))
        form.add(f"related.{key}.columns", ",".join(related.get("columns") or []))
    for name, kinds in (layout.get("field_rules") or {}).items():
        for kind, text in kinds.items():
            form.add(f"rule.{name}.{kind}", text)
    for key, value in extra.items():
        form.add(key, value)
    return form


def _moved(layout: dict, name: str, to_section: int, at: int = 0) -> dict:
    moved = {**layout, "sections": [dict(s, fields=[f for f in s["fields"] if f != name]) for s in layout["sections"]]}
    moved["sections"][to_section]["fields"].insert(at, name)
    return moved


def test_the_editor_shows_the_layout_its_palette_and_a_preview(demo, admin):
    page = admin.get("/setup/objects/opportunity/layouts")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1" in html and "Opportunity information" in html
    assert 'data-item="field:amount"' in html and 'data-sortable="fields"' in html
    assert "sortable-1.15.7.min.js" in html and "setup_layouts.js" in html
    preview = admin.post(
        "/setup/objects/opportunity/layouts/default/preview",
        data=_form(_moved(_layout(demo), "amount", 0), admin.csrf, preview_mode="page"),
        headers={"X-CSRFToken": admin.csrf, "HX-Request": "true"},
    ).get_data(as_text=True)
    first = preview.split("preview-section")[1].split("preview-section")[0] if "preview-section" in preview else ""
    assert 'data-field="amount"' in first
    form_preview = admin.post(
        "/setup/objects/opportunity/layouts/default/preview",
        data=_form(_layout(demo), admin.csrf, preview_mode="form"),
        headers={"X-CSRFToken": admin.csrf, "HX-Request": "true"},
    ).get_data(as_text=True)
    assert "<fieldset disabled" in form_preview and 'id="pv-amount"' in form_preview


def test_saving_a_layout_moves_a_field_on_the_record_page_and_in_the_form(demo, admin):
    deal = demo.opportunity(owner="admin", amount="1200")
    before = _revision(admin)
    layout = _moved(_layout(demo), "amount", 0, 1)
    response = admin.post("/setup/objects/opportunity/layouts/default", data=_form(layout, admin.csrf))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert _revision(admin) == before + 1
    stored = _layout(demo)
    assert stored["sections"][0]["fields"][:2] == ["name", "amount"]
    assert "amount" not in stored["sections"][1]["fields"]
    assert stored["related_lists"] == layout["related_lists"]
    assert "Layout saved" in admin.get(response.headers["Location"]).get_data(as_text=True)
    page = admin.get(f"/o/opportunity/{deal['id']}").get_data(as_text=True)
    first_section = page.split("record-section")[1]
    assert 'data-field="amount"' in first_section.split("</details>")[0]
    form = admin.get(f"/o/opportunity/{deal['id']}/edit").get_data(as_text=True)
    first_card = form.split('id="section-1"')[1].split("</section>")[0]
    assert 'name="amount"' in first_card


def test_a_bad_condition_shows_line_and_column_beside_the_field_and_nothing_is_written(demo, admin):
    before, stored = _revision(admin), _layout(demo)
    form = _form(stored, admin.csrf)
    form.add("rule.amount.visible", "stage = ")
    form.add("section.s0.label", "")  # a typed change that must survive the refusal
    form.setlist("section.s0.label", ["Renamed section"])
    response = admin.post("/setup/objects/opportunity/layouts/default", data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    beside = html.split('data-field="field_rules.amount.visible"')[1].split("</div></div>")[0]
    assert 'role="alert"' in beside and "Line 1, column" in beside
    assert 'value="Renamed section"' in html and 'value="stage = "' in html
    assert _revision(admin) == before and _layout(demo) == stored


def test_a_condition_saves_and_the_record_page_follows_it(demo, admin):
    deal = demo.opportunity(owner="admin", stage="prospecting", next_step="Call back")
    form = _form(_layout(demo), admin.csrf)
    form.add("rule.next_step.visible", "stage = 'closed_won'")
    assert admin.post("/setup/objects/opportunity/layouts/default", data=form).status_code == 303
    assert _layout(demo)["field_rules"]["next_step"] == {"visible": "stage = 'closed_won'"}
    page = admin.get(f"/o/opportunity/{deal['id']}").get_data(as_text=True)
    assert 'data-field="next_step"' not in page
    cleared = _form(_layout(demo), admin.csrf)
    cleared.setlist("rule.next_step.visible", [""])
    assert admin.post("/setup/objects/opportunity/layouts/default", data=cleared).status_code == 303
    assert "next_step" not in (_layout(demo).get("field_rules") or {})


def test_the_buttons_move_without_javascript_and_write_nothing(demo, admin):
    before, stored = _revision(admin), _layout(demo)
    form = _form(stored, admin.csrf, action="down:field:name")
    html = admin.post("/setup/objects/opportunity/layouts/default", data=form).get_data(as_text=True)
    first = html.split('data-item="section:s0"')[1].split('data-item="section:s1"')[0]
    assert first.index('data-item="field:name"') > first.index(
        f'data-item="field:{stored["sections"][0]["fields"][1]}"'
    )
    up = _form(stored, admin.csrf, action="up:section:s1")
    html = admin.post("/setup/objects/opportunity/layouts/default", data=up).get_data(as_text=True)
    assert html.index('data-item="section:s1"') < html.index('data-item="section:s0"')
    added = admin.post(
        "/setup/objects/opportunity/layouts/default", data=_form(stored, admin.csrf, action="add_section")
    ).get_data(as_text=True)
    assert 'data-item="section:n1"' in added
    assert _revision(admin) == before


def test_a_layout_refused_by_the_pipeline_names_the_section(demo, admin):
    stored = _layout(demo)
    form = _form(stored, admin.csrf)
    form.setlist("section.s0.label", ["x" * 121])
    response = admin.post("/setup/objects/opportunity/layouts/default", data=form)
    assert response.status_code == 422
    assert 'role="alert"' in response.get_data(as_text=True)
    assert _layout(demo) == stored


def test_a_sales_rep_gets_403(demo):
    rep = demo.client("sales_rep")
    assert rep.get("/setup/objects/opportunity/layouts").status_code == 403
    assert rep.get("/setup/objects/opportunity/list-views").status_code == 403
    response = rep.post("/setup/objects/opportunity/layouts/default", data={"csrf_token": rep.csrf})
    assert response.status_code == 403


# -- list views --------------------------------------------------------------------------------------


def _view(demo, name, object_name="opportunity"):
    return demo.client("admin").get(f"/api/v1/meta/objects/{object_name}/list-views/{name}")


def test_the_list_views_screen_lists_the_shared_views(admin):
    page = admin.get("/setup/objects/opportunity/list-views")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "All opportunities" in html and "<h1" in html


def test_a_list_view_is_created_edited_and_deleted(demo, admin):
    before = _revision(admin)
    data = MultiDict(
        [
            ("csrf_token", admin.csrf),
            ("api_name", "big_deals"),
            ("label", "Big deals"),
            ("label_zh", "大单"),
            ("columns", "name"),
            ("columns", "amount"),
            ("columns", "stage"),
            ("sort_field", "amount"),
            ("sort_direction", "desc"),
            ("filter", "amount > 10000"),
            ("board_by", "stage"),
            ("board_sum", "amount"),
            ("is_default", "0"),
        ]
    )
    response = admin.post("/setup/objects/opportunity/list-views/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    view = _view(demo, "big_deals").json
    assert view["columns"] == ["name", "amount", "stage"] and view["sort"] == "-amount"
    assert view["filter"] == "amount > 10000" and view["board"] == {"by": "stage", "sum": "amount"}
    assert view["translations"] == {"zh_CN": {"label": "大单"}}
    assert _revision(admin) == before + 1
    board = admin.get("/o/opportunity/board?view=big_deals").get_data(as_text=True)
    assert board.count('data-column="') >= 2
    data.setlist("label", ["Biggest deals"])
    data.setlist("is_default", ["1"])
    assert admin.post("/setup/objects/opportunity/list-views/big_deals", data=data).status_code == 303
    assert _view(demo, "big_deals").json["label"] == "Biggest deals"
    assert _view(demo, "big_deals").json["default"] is True
    listing = admin.get("/o/opportunity").get_data(as_text=True)
    assert "Biggest deals" in listing
    deleted = admin.post("/setup/objects/opportunity/list-views/big_deals/delete", data={"csrf_token": admin.csrf})
    assert deleted.status_code == 303
    assert _view(demo, "big_deals").status_code == 404


def test_a_bad_filter_is_refused_beside_it_and_nothing_is_written(demo, admin):
    before = _revision(admin)
    data = {
        "csrf_token": admin.csrf,
        "api_name": "broken",
        "label": "Broken",
        "columns": ["name"],
        "filter": "amount >",
        "sort_field": "",
    }
    response = admin.post("/setup/objects/opportunity/list-views/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    beside = html.split('data-field="filter"')[1]
    assert "Line 1, column" in beside.split("</div>\n</div>")[0] or "Line 1, column" in beside[:3000]
    assert 'value="Broken"' in html
    assert _revision(admin) == before and _view(demo, "broken").status_code == 404


def test_a_personal_view_is_promoted_to_a_shared_one(demo, admin):
    rep_id = demo.users["sales_rep"]
    personal = saved_views.save_view(
        demo.binding,
        rep_id,
        "opportunity",
        "My hot deals",
        "view=open&sort=-amount&fields=name,amount&where=amount+>+5",
    )
    page = admin.get("/setup/objects/opportunity/list-views").get_data(as_text=True)
    assert "My hot deals" in page
    response = admin.post(
        f"/setup/objects/opportunity/list-views/promote/{personal.id}", data={"csrf_token": admin.csrf}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    view = _view(demo, "my_hot_deals").json
    assert view["label"] == "My hot deals" and view["columns"] == ["name", "amount"]
    assert view["sort"] == "-amount" and view["filter"] == "amount > 5"
    assert view["filters"] == {"stage": ["prospecting", "qualification", "proposal", "negotiation"]}
    # The personal view stays the user's (docs/decisions.md).
    assert [v.id for v in saved_views.views_of(demo.binding, rep_id, "opportunity")] == [personal.id]


def test_a_section_condition_applies_to_its_fields_and_a_bad_one_is_shown_on_the_section(demo, admin):
    deal = demo.opportunity(owner="admin", stage="prospecting", description="Secret plan")
    stored = _layout(demo)
    at = next(i for i, s in enumerate(stored["sections"]) if s["fields"] == ["description"])
    bad = _form(stored, admin.csrf)
    bad.add(f"section.s{at}.rule.visible", "stage = = 'x'")
    response = admin.post("/setup/objects/opportunity/layouts/default", data=bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    beside = html.split(f'data-field="section.s{at}.rules.visible"')[1].split("</div></div>")[0]
    assert "Line 1, column" in beside
    assert _layout(demo) == stored
    good = _form(stored, admin.csrf)
    good.add(f"section.s{at}.rule.visible", "stage = 'closed_won'")
    assert admin.post("/setup/objects/opportunity/layouts/default", data=good).status_code == 303
    assert _layout(demo)["sections"][at]["rules"] == {"visible": "stage = 'closed_won'"}
    page = admin.get(f"/o/opportunity/{deal['id']}").get_data(as_text=True)
    assert "Secret plan" not in page
    won = demo.opportunity(owner="admin", stage="closed_won", description="Open plan")
    assert "Open plan" in admin.get(f"/o/opportunity/{won['id']}").get_data(as_text=True)
    cleared = _form(_layout(demo), admin.csrf)
    cleared.setlist(f"section.s{at}.rule.visible", [""])
    assert admin.post("/setup/objects/opportunity/layouts/default", data=cleared).status_code == 303
    assert "rules" not in _layout(demo)["sections"][at]
