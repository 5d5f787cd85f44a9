"""Saving and deleting validation rules through the change pipeline: the
one way the REST API (``/api/v1/meta/objects/{object}/validation-rules``)
and the setup screens (``/setup/objects/<object>/validation-rules``) write
them.

A rule is checked against its JSON Schema and the live definitions, its
condition is type-checked (errors carry line, column and the member
``condition``), and it is stored as a new metadata revision. Depends on
:mod:`metacrm.metadata`, :mod:`metacrm.platform` and the rule language only.
"""

from __future__ import annotations

from metacrm.metadata.changes import MetadataService
from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.kinds import KindScope
from metacrm.metadata.physical import CompiledModel
from metacrm.platform.errors import Conflict, NotFound
from metacrm.rules.errors import RuleError
from metacrm.rules.saving import USES, condition_error, typecheck

KIND = "validation_rule"


def require_object(model: CompiledModel, object_name: str) -> None:
    if model.definitions.object(object_name) is None:
        raise NotFound(f"no object {object_name!r}")


def validation_rules(model: CompiledModel, object_name: str) -> list[dict]:
    """The object's validation rules (their documents), in api_name order."""
    require_object(model, object_name)
    return sorted((d.document for d in model.definitions.scoped(KIND, object_name)), key=lambda d: d["api_name"])


def validation_rule(model: CompiledModel, object_name: str, api_name: str) -> dict:
    """One validation rule's document (NotFound if there is none)."""
    require_object(model, object_name)
    definition = model.definitions.get(KIND, scoped_key(object_name, api_name))
    if definition is None:
        raise NotFound(f"no validation rule {api_name!r} on {object_name}")
    return definition.document


def save_validation_rule(
    service: MetadataService, model: CompiledModel, object_name: str, body: dict, *, creating: bool
) -> dict:
    """Check the document and its condition against the live model, then
    store it as a new revision. ``creating`` refuses an api_name in use (409)."""
    require_object(model, object_name)
    document = {"active": True, **body}
    service.kinds.get(KIND).validate(document, KindScope(model.definitions, object_name))
    if creating and model.definitions.get(KIND, scoped_key(object_name, document["api_name"])) is not None:
        raise Conflict(
            f"{object_name} already has a validation rule {document['api_name']!r}; PUT replaces it",
            details={"fields": {"api_name": ["already exists"]}},
        )
    try:
        typecheck(model, object_name, document["condition"], USES["validation"])
    except RuleError as exc:
        raise condition_error(exc, "condition") from None
    with service.change(f"save validation rule {object_name}.{document['api_name']}") as tx:
        tx.put_validation_rule(object_name, document)
    return document


def delete_validation_rule(service: MetadataService, object_name: str, api_name: str) -> None:
    """Delete a validation rule (a rollback of the revision brings it back)."""
    with service.change(f"delete validation rule {object_name}.{api_name}") as tx:
        tx.delete_scoped(KIND, object_name, api_name)
