"""The rule language's definition kinds: validation rules and automation
rules, registered through the ``register_definition_kinds`` hook
(:mod:`metacrm.rules.plugin`).

Their checks look at the document's shape and the fields it names; the
condition or statement itself is parsed and type-checked by the rule
language at the end of the change (the ``check_definitions`` hook), where
the whole proposed model is known.
"""

from __future__ import annotations

from metacrm.metadata.definitions import DefinitionErrors, schema_for
from metacrm.metadata.kinds import DefinitionKind, KindScope


def check_validation_rule(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """The field the message is shown beside exists."""
    fields = {f["api_name"] for f in scope.state.fields(scope.object_api_name)}
    if document.get("field") and document["field"] not in fields:
        errors.add("field", f"no field {document['field']!r} on {scope.object_api_name}")


VALIDATION_RULE = DefinitionKind(
    "validation_rule",
    "validation rule",
    schema=schema_for("validation_rule", "metacrm.rules"),
    check=check_validation_rule,
    object_scoped=True,
    collection="validation_rules",
)
AUTOMATION = DefinitionKind(
    "automation",
    "automation",
    schema=schema_for("automation", "metacrm.rules"),
    object_scoped=True,
    collection="automations",
    document_label="automation rule",
)
KINDS = (VALIDATION_RULE, AUTOMATION)
