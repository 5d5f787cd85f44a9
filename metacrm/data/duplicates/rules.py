"""Duplicate rules as metadata: the definition kind ``duplicate_rule``.

One rule belongs to one object (its key is ``<object>.<api_name>``, as a
validation rule's) and says when two records of it are likely the same::

    api_name: same_email
    label: Same e-mail
    action: warn            # warn (the user may save anyway) | block
    active: true
    conditions:             # all must hold
      - {field: email, method: email}
      - {field: name, method: fuzzy, threshold: 90}

Methods: ``exact`` (equal, ignoring case and surrounding spaces), ``email``
(normalised address), ``phone`` (digits only, the last ten compared, so
``+1 (555) 123-4567`` is ``555.123.4567``) and ``fuzzy`` (names compared by
rapidfuzz's token sort ratio after dropping case, punctuation and legal
suffixes such as Inc, Ltd, GmbH or 有限公司; ``threshold`` 50-100, default 90).

Rules are edited through the generic definitions API
(``/api/v1/meta/objects/<object>/duplicate_rules``) and shipped by metadata
packages in ``objects/<object>/duplicate_rules.yaml``.
"""

from __future__ import annotations

from metacrm.metadata.definitions import DefinitionErrors, scoped_key
from metacrm.metadata.kinds import DefinitionKind, KindScope
from metacrm.metadata.physical import CompiledModel

KIND = "duplicate_rule"
METHODS = ("exact", "email", "phone", "fuzzy")
ACTIONS = ("warn", "block")
DEFAULT_THRESHOLD = 90
# Field types whose values the methods compare (as text).
TEXT_TYPES = ("text", "email", "phone", "url", "long_text", "auto_number")

SCHEMA = {
    "type": "object",
    "required": ["api_name", "conditions"],
    "additionalProperties": False,
    "properties": {
        "api_name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "label": {"type": "string", "maxLength": 255},
        "description": {"type": "string", "maxLength": 2000},
        "active": {"type": "boolean"},
        "action": {"enum": list(ACTIONS)},
        "conditions": {
            "type": "array",
            "minItems": 1,
            "maxItems": 5,
            "items": {
                "type": "object",
                "required": ["field", "method"],
                "additionalProperties": False,
                "properties": {
                    "field": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
                    "method": {"enum": list(METHODS)},
                    "threshold": {"type": "number", "minimum": 50, "maximum": 100},
                },
            },
        },
        "translations": {"type": "object"},
    },
}


def check_rule(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """Each condition names a text field of the object."""
    fields = {f["api_name"]: f for f in scope.state.fields(scope.object_api_name)}
    for index, condition in enumerate(document.get("conditions") or []):
        field = fields.get(condition["field"])
        if field is None:
            errors.add(f"conditions.{index}.field", f"no field {condition['field']!r} on {scope.object_api_name}")
        elif field.get("type") not in TEXT_TYPES:
            errors.add(
                f"conditions.{index}.field",
                f"{condition['field']} is a {field.get('type')} field; duplicate rules compare text fields "
                f"({', '.join(TEXT_TYPES)})",
            )
        if "threshold" in condition and condition["method"] != "fuzzy":
            errors.add(f"conditions.{index}.threshold", "a threshold applies to the fuzzy method only")


DUPLICATE_RULE = DefinitionKind(
    KIND,
    "duplicate rule",
    schema=SCHEMA,
    check=check_rule,
    object_scoped=True,
    collection="duplicate_rules",
    url="duplicate_rules",
)


def duplicate_rules(model: CompiledModel, object_name: str, *, active_only: bool = True) -> list[dict]:
    """The object's duplicate rules (documents), in api_name order."""
    documents = sorted((d.document for d in model.definitions.scoped(KIND, object_name)), key=lambda d: d["api_name"])
    return [d for d in documents if d.get("active", True)] if active_only else documents


def duplicate_rule(model: CompiledModel, object_name: str, api_name: str) -> dict | None:
    definition = model.definitions.get(KIND, scoped_key(object_name, api_name))
    return None if definition is None else definition.document
