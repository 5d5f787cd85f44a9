"""The marketing definition kinds: ``segment`` (per object, package file
``objects/<object>/segments.yaml``), ``email_template`` and ``web_form``
(tenant-wide, ``email_templates.yaml`` and ``web_forms.yaml``).

A segment's condition is type-checked against the whole proposed model at
the end of the change (:func:`check_definitions`), like list-view filters,
so an error names its line and column.
"""

from __future__ import annotations

from metacrm.metadata.definitions import DefinitionErrors, schema_for
from metacrm.metadata.kinds import DefinitionKind, KindScope
from metacrm.platform.errors import ValidationFailed
from metacrm.rules.errors import RuleError
from metacrm.rules.merge_fields import check_template
from metacrm.rules.saving import LIST_VIEW_FILTER, typecheck

# Field types a person can type a value into on a public form.
COMPUTED_TYPES = frozenset({"formula", "roll_up", "auto_number"})


def check_email_template(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """Subject and body parse as merge-field templates, in every language."""
    texts = [("subject", document["subject"]), ("html", document["html"])]
    for language, translated in (document.get("translations") or {}).items():
        texts += [
            (f"translations.{language}.{key}", translated[key]) for key in ("subject", "html") if key in translated
        ]
    for path, text in texts:
        try:
            check_template(text, path=path)
        except ValidationFailed as error:
            errors.add(path, error.message.removeprefix(f"{path}: "))


def check_web_form(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """The object exists; each asked field exists, once, and takes input;
    each fixed value names a field of the object."""
    object_name = document["object"]
    if scope.state.object(object_name) is None:
        errors.add("object", f"no object {object_name!r}")
        return
    seen: set[str] = set()
    for i, item in enumerate(document["fields"]):
        field = scope.state.field(object_name, item["field"])
        if field is None:
            errors.add(f"fields[{i}].field", f"no field {item['field']!r} on {object_name}")
        elif field.get("type") in COMPUTED_TYPES:
            errors.add(f"fields[{i}].field", f"{item['field']} is computed and cannot be filled in")
        elif item["field"] in seen:
            errors.add(f"fields[{i}].field", f"{item['field']} is asked twice")
        seen.add(item["field"])
    for name in document.get("values") or {}:
        if scope.state.field(object_name, name) is None:
            errors.add(f"values.{name}", f"no field {name!r} on {object_name}")


def check_definitions(definitions, model) -> list[tuple[str, str, str, str]]:
    """Every segment's condition, type-checked as a list filter on its object
    (fields of the object only, boolean, compiles to SQL)."""
    problems = []
    for definition in definitions.live("segment"):
        object_name = definition.key.split(".", 1)[0]
        if model.object(object_name) is None:
            continue
        try:
            typecheck(model, object_name, definition.document.get("condition"), LIST_VIEW_FILTER)
        except (RuleError, ValidationFailed) as error:
            problems.append(("segment", definition.key, "condition", error.message))
    return problems


def _check_segment_object(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    if scope.state.object(scope.object_api_name) is None:
        errors.add("object", f"no object {scope.object_api_name!r}")


SEGMENT = DefinitionKind(
    "segment",
    "segment",
    schema=schema_for("segment", "metacrm.data.marketing"),
    check=_check_segment_object,
    object_scoped=True,
    collection="segments",
    url="segments",
)
EMAIL_TEMPLATE = DefinitionKind(
    "email_template",
    "e-mail template",
    schema=schema_for("email_template", "metacrm.data.marketing"),
    check=check_email_template,
    collection="email_templates",
)
WEB_FORM = DefinitionKind(
    "web_form",
    "web form",
    schema=schema_for("web_form", "metacrm.data.marketing"),
    check=check_web_form,
    collection="web_forms",
)
KINDS = (SEGMENT, EMAIL_TEMPLATE, WEB_FORM)
