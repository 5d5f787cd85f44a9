"""Every field type names a display, an input and a filter macro
(``FieldType.widgets``), and those macros render safely: labels and values
are user data and stay text, there is no inline script or style (strict
CSP), and the markup contract of UI.md §3 holds (data-field, <label for>
each control, errors as role="alert" inside the field's element)."""

from __future__ import annotations

import re

import pytest

from metacrm.metadata.fieldtypes import FieldType, FieldTypeRegistry, Widgets, builtin_registry
from metacrm.rules.fieldtypes import FormulaType, RollUpType

EVIL = "<script>alert(1)</script>"
PICK_VALUES = [{"value": "open", "label": EVIL}, {"value": "won", "label": "Won"}]

OPTIONS = {
    "picklist": {"values": PICK_VALUES},
    "multi_picklist": {"values": PICK_VALUES},
    "lookup": {"target": "account"},
    "master_detail": {"target": "account"},
    "many_to_many": {"target": "account"},
    "auto_number": {"format": "N-{0000}"},
    "formula": {"expression": "name", "return_type": "text"},
    "roll_up": {"object": "deal", "relation": "account", "function": "count"},
}
# A value as the record store dumps it, carrying markup wherever the type holds text.
VALUES = {
    "integer": 7,
    "decimal": "1.50",
    "currency": "2.00",
    "percent": "12.5000",
    "boolean": True,
    "date": "2026-12-03",
    "datetime": "2026-12-03T09:30:00+00:00",
    "picklist": "open",
    "multi_picklist": ["open", "won"],
    "tags": [EVIL, "b"],
    "lookup": {"id": 3, "name": EVIL},
    "master_detail": {"id": 3, "name": EVIL},
    "many_to_many": [{"id": 3, "name": EVIL}],
    "url": "https://example.test/?q=" + EVIL,
    "roll_up": 4,
}
TYPES = [*builtin_registry(), FormulaType, RollUpType]


@pytest.fixture
def widgets(app):
    """The macros as the screens call them: the app's Jinja environment (its
    translations and formatting filters) in a request (English, UTC, CNY)."""
    with app.test_request_context():
        yield app.jinja_env.get_template("widgets/field.html").module


def bound(cls: type[FieldType]) -> FieldType:
    definition = {"api_name": "f_x", "label": EVIL, "type": cls.name, "required": True}
    definition["options"] = OPTIONS.get(cls.name, {})
    return cls(definition)


def assert_safe(html: str) -> None:
    assert "<script" not in html
    assert not re.search(r"\sstyle=|\son[a-z]+=", html)
    assert "javascript:" not in html


@pytest.mark.parametrize("cls", TYPES, ids=lambda cls: cls.name)
def test_every_type_renders_its_three_macros_safely(widgets, cls):
    field = bound(cls)
    value = VALUES.get(cls.name, EVIL)

    shown = str(widgets.display(field, value))
    assert_safe(shown)
    if cls.name not in ("integer", "decimal", "currency", "percent", "boolean", "date", "datetime", "roll_up"):
        assert "&lt;script&gt;" in shown or cls.name == "rich_text", shown  # the value, as text

    form = str(widgets.input(field, value, errors=[EVIL]))
    assert_safe(form)
    assert 'data-field="f_x"' in form
    assert re.search(r'<label for="f-f_x"[^>]*>&lt;script&gt;', form), form
    assert re.search(r'<(input|select|textarea|output)[^>]* id="f-f_x"', form), form
    assert re.search(r'data-field="f_x".*role="alert"><p class="mb-0">&lt;script&gt;.*</div>\s*$', form, re.S), form
    if not cls.read_only:
        assert 'name="f_x"' in form
    if cls.name not in ("boolean", "picklist", "multi_picklist", "many_to_many") and not cls.read_only:
        assert " required" in form
    read_only = str(widgets.input(field, value, readonly=True))
    assert " required" not in read_only and re.search(r" (readonly|disabled)|<output", read_only), read_only

    filtered = str(widgets.filter(field, {"eq": EVIL, "contains": EVIL, "gte": EVIL}))
    assert_safe(filtered)
    assert 'data-field="f_x"' in filtered and 'name="filter.f_x' in filtered
    for control_id in re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', filtered):
        assert f'<label for="{control_id}">' in filtered


def test_displays_format_the_dumped_value(widgets):
    def shown(type_name: str, value, **options) -> str:
        cls = builtin_registry().get(type_name)
        return str(widgets.display(cls({"api_name": "x", "type": type_name, "options": options}), value)).strip()

    assert shown("boolean", False) == "No" and shown("boolean", None) == ""
    assert ">Won<" in shown("picklist", "won", values=PICK_VALUES)
    assert 'href="/o/account/3"' in shown("lookup", {"id": 3, "name": "Acme"}, target="account")
    assert ">Acme<" in shown("lookup", {"id": 3, "name": "Acme"}, target="account")
    assert shown("currency", "1234.5", currency="EUR").endswith(">€1,234.50</span>")
    assert ">CN¥2.00<" in shown("currency", "2.00")  # no currency of its own: the tenant's (CNY)
    assert ">12.5%<" in shown("percent", "12.5000") and ">1,234.50<" in shown("decimal", "1234.5", scale=2)
    assert ">3 Dec 2026<" in shown("date", "2026-12-03") or ">Dec 3, 2026<" in shown("date", "2026-12-03")
    assert 'datetime="2026-12-03T09:30:00+00:00">' in shown("datetime", "2026-12-03T09:30:00+00:00")
    assert "<a" not in shown("url", "javascript:alert(1)")
    assert "<b>bold</b>" in shown("rich_text", "<b>bold</b><script>x()</script>")


def test_inputs_are_the_right_controls(widgets):
    registry = builtin_registry()

    def control(type_name: str, **options) -> str:
        field = registry.get(type_name)({"api_name": "x", "type": type_name, "options": options})
        return str(widgets.input(field, None))

    assert 'type="email"' in control("email") and 'type="tel"' in control("phone")
    assert 'type="url"' in control("url") and 'type="date"' in control("date")
    assert 'type="datetime-local"' in control("datetime") and "<textarea" in control("long_text")
    assert 'type="number"' in control("integer") and 'step="0.01"' in control("decimal", scale=2)
    assert 'type="checkbox"' in control("boolean") and "<select" in control("picklist", values=PICK_VALUES)
    assert "<select multiple" in control("multi_picklist", values=PICK_VALUES)
    assert 'data-lookup="account"' in control("lookup", target="account")
    assert "readonly" in control("auto_number", format="N-{0}")


def test_a_type_names_its_macros_with_widgets():
    class Loose(FieldType):
        name = "loose"
        label = "Loose"
        widgets = "widgets/text.html"

    with pytest.raises(ValueError, match="widgets must be a Widgets"):
        FieldTypeRegistry([Loose])

    class Plain(FieldType):
        name = "plain"
        label = "Plain"

    assert FieldTypeRegistry([Plain]).get("plain").widgets == Widgets("widgets/text.html")  # shown as text


def test_displays_follow_the_language(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        widgets = app.jinja_env.get_template("widgets/field.html").module
        registry = builtin_registry()

        def shown(type_name: str, value, **options) -> str:
            field = registry.get(type_name)({"api_name": "x", "type": type_name, "options": options})
            return str(widgets.display(field, value))

        assert ">¥1,234.50<" in shown("currency", "1234.5") and shown("boolean", True) == "是"
        assert ">2026年12月3日<" in shown("date", "2026-12-03")
        values = [{"value": "won", "label": "Won", "translations": {"zh_CN": "赢单"}}]
        assert ">赢单<" in shown("picklist", "won", values=values)
