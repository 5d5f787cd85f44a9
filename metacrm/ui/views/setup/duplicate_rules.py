"""Duplicate rules of an object (``/setup/objects/<object>/duplicate-rules``).

A duplicate rule says when two records are likely the same (every
condition holds: equal text, the same e-mail address or phone number, or
names alike above a threshold) and whether a save that matches is warned
about (the user may save anyway) or blocked. The list switches rules on
and off; the form edits the label, the action and up to five conditions.
The screens are :class:`~metacrm.ui.views.setup.object_definitions.ObjectDefinitionScreen`'s;
every change goes through the change pipeline the definitions API uses
(kind ``duplicate_rule``, :mod:`metacrm.data.duplicates.rules`): one
transaction, a revision, an audit entry.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.data.duplicates import rules
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins import context
from metacrm.ui.i18n import label_of
from metacrm.ui.views.setup.object_definitions import (
    ObjectDefinitionScreen,
    second_language_text,
    set_second_language_text,
    set_text_members,
)

MAX_CONDITIONS = 5  # the kind's schema allows five
METHOD_LABELS = {
    "exact": lazy_gettext("Same text"),
    "email": lazy_gettext("Same e-mail address"),
    "phone": lazy_gettext("Same phone number"),
    "fuzzy": lazy_gettext("Similar name"),
}
ACTION_LABELS = {
    "warn": lazy_gettext("Warn (the user may save anyway)"),
    "block": lazy_gettext("Block the save"),
}


def _text_fields(obj: CompiledObject) -> list[tuple[str, str]]:
    """The fields a condition may compare: the text-like ones."""
    return [
        (name, label_of(field.definition, "label", name))
        for name, field in obj.fields.items()
        if field.definition.get("type") in rules.TEXT_TYPES
    ]


class DuplicateRules(ObjectDefinitionScreen):
    kind = rules.KIND
    segment = "duplicate-rules"
    list_endpoint = "setup_duplicate_rules"
    endpoint = "setup_duplicate_rule"
    templates = "setup/duplicate_rules"
    item_name, items_name = "rule", "rules"
    noun = "duplicate rule"
    rule_member = "conditions"
    blank = {"active": True, "action": "warn"}

    def form_document(self, form, existing: dict | None) -> dict:
        """The rule as the form posts it, over what the form does not edit (description, other translations)."""
        document = dict(existing or {})
        if existing is None:
            document["api_name"] = form.get("api_name", "").strip()
        set_text_members(document, form, ("label",))
        document["action"] = form.get("action") or "warn"
        document["active"] = "1" in form.getlist("active")
        conditions = []
        for index in range(MAX_CONDITIONS):
            field = form.get(f"conditions.{index}.field", "").strip()
            if not field:
                continue  # an empty row is no condition
            condition: dict = {"field": field, "method": form.get(f"conditions.{index}.method") or "exact"}
            threshold = form.get(f"conditions.{index}.threshold", "").strip()
            if condition["method"] == "fuzzy" and threshold:
                condition["threshold"] = int(threshold) if threshold.isdigit() else threshold
            conditions.append(condition)
        document["conditions"] = conditions
        set_second_language_text(document, "label", form.get("label_zh_CN", "").strip())
        return document

    def find(self, object_name: str, item: str) -> dict | None:
        return rules.duplicate_rule(context.model(), object_name, item)

    def documents(self, object_name: str) -> list[dict]:
        return rules.duplicate_rules(context.model(), object_name, active_only=False)

    def check(self, object_name: str, document: dict) -> None:
        if not document["conditions"]:
            raise ValidationFailed(
                "a duplicate rule needs at least one condition",
                details={"fields": {"conditions": [_("Choose at least one field to compare.")]}},
            )

    def form_context(self, obj: CompiledObject, document: dict) -> dict:
        conditions = list(document.get("conditions") or [])
        rows = conditions + [{}] * (MAX_CONDITIONS - len(conditions))
        return {
            "rows": rows[:MAX_CONDITIONS],
            "field_options": _text_fields(obj),
            "method_options": list(METHOD_LABELS.items()),
            "action_options": list(ACTION_LABELS.items()),
            "second_label": second_language_text(document, "label"),
        }

    def row_context(self, obj: CompiledObject) -> dict:
        return {"field_labels": dict(_text_fields(obj)), "method_labels": METHOD_LABELS, "action_labels": ACTION_LABELS}

    def saved_message(self, name: str) -> str:
        return _("Duplicate rule %(name)s saved.", name=name)

    def deleted_message(self, name: str) -> str:
        return _("Duplicate rule %(name)s deleted.", name=name)


DuplicateRules().register()
