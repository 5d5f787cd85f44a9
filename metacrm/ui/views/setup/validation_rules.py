"""Validation rules of an object, with live checking
(``/setup/objects/<object>/validation-rules``).

A validation rule is a condition that must NOT hold when a record is saved:
when it does, the save is refused with the rule's message beside its field
(or at the top of the form). The list switches rules on and off; the form
edits the api name, the message in both languages, the field it is shown
beside, the condition in the rule editor (checked by the server as the
admin types) and whether it is active. The screens are
:class:`~metacrm.ui.views.setup.object_definitions.ObjectDefinitionScreen`'s;
every change goes through :mod:`metacrm.rules.validation_rules`, the change
pipeline the REST API uses: one transaction, a revision, an audit entry.
"""

from __future__ import annotations

from flask_babel import gettext as _

from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import MetacrmError
from metacrm.plugins import context
from metacrm.rules import validation_rules as rules
from metacrm.ui.i18n import label_of
from metacrm.ui.views.setup.object_definitions import (
    ObjectDefinitionScreen,
    rule_field_errors,
    second_language_text,
    set_second_language_text,
    set_text_members,
)


def _field_options(obj: CompiledObject) -> list[tuple[str, str]]:
    return [(name, label_of(field.definition, "label", name)) for name, field in obj.fields.items()]


class ValidationRules(ObjectDefinitionScreen):
    kind = rules.KIND
    segment = "validation-rules"
    list_endpoint = "setup_validation_rules"
    endpoint = "setup_validation_rule"
    templates = "setup/validation_rules"
    item_name, items_name = "rule", "rules"
    noun = "validation rule"
    rule_member = "condition"

    def form_document(self, form, existing: dict | None) -> dict:
        """The rule as the form posts it, over what the form does not edit (label, other translations)."""
        document = dict(existing or {})
        if existing is None:
            document["api_name"] = form.get("api_name", "").strip()
        document["message"] = form.get("message", "").strip()
        document["condition"] = form.get("condition", "").strip()
        document["field"] = form.get("field") or None
        document["active"] = "1" in form.getlist("active")
        set_text_members(document, form, ("label", "description"))
        set_second_language_text(document, "message", form.get("message_zh_CN", "").strip())
        return document

    def documents(self, object_name: str) -> list[dict]:
        return rules.validation_rules(context.model(), object_name)

    def document(self, object_name: str, item: str) -> dict:
        return rules.validation_rule(context.model(), object_name, item)

    def save(self, object_name: str, document: dict, *, creating: bool) -> None:
        service, model = context.metadata_service(), context.model()
        rules.save_validation_rule(service, model, object_name, document, creating=creating)

    def delete(self, object_name: str, item: str) -> None:
        rules.delete_validation_rule(context.metadata_service(), object_name, item)

    def field_errors(self, exc: MetacrmError) -> dict[str, list[str]]:
        return rule_field_errors(exc, self.rule_member)

    def form_context(self, obj: CompiledObject, document: dict) -> dict:
        return {"field_options": _field_options(obj), "second_message": second_language_text(document, "message")}

    def row_context(self, obj: CompiledObject) -> dict:
        return {"field_labels": dict(_field_options(obj))}

    def saved_message(self, name: str) -> str:
        return _("Validation rule %(name)s saved.", name=name)

    def deleted_message(self, name: str) -> str:
        return _("Validation rule %(name)s deleted.", name=name)


ValidationRules().register()
