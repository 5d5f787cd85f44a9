"""Approval processes as metadata: the definition kind ``approval_process``.

One process belongs to one object (its key is ``<object>.<api_name>``, as a
duplicate rule's) and says which records need whose approval::

    api_name: big_discount
    label: Large discount
    active: true
    entry_condition: discount > 20     # rule language; only such records may be submitted
    status_field: status               # optional: the engine writes these values to it
    status_values: {pending: Pending approval, approved: Approved, rejected: Rejected, recalled: Draft}
    unlocked_fields: [last_activity_at]   # optional: fields that may still change while it waits
    steps:                             # in order; each must be approved before the next opens
      - name: manager
        label: Owner's manager
        mode: one                      # one (the first approval decides) | all (every approver)
        condition: amount > 100000     # optional: the step is skipped when it does not hold
        approvers:
          - {type: owner_manager}      # the record owner's manager
          - {type: submitter_manager}  # the submitter's manager
          - {type: role, name: sales_director}
          - {type: team, name: finance}
          - {type: user, user: ada@example.com}   # by e-mail (packages) or id

Processes are edited through the generic definitions API
(``/api/v1/meta/objects/<object>/approval_processes``) and shipped by
metadata packages in ``objects/<object>/approval_processes.yaml``. The entry
and step conditions are type-checked against the object when a metadata
change commits (:func:`check_definitions`), with line:column errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from metacrm.metadata.definitions import DefinitionErrors, scoped_key
from metacrm.metadata.kinds import DefinitionKind, KindScope
from metacrm.metadata.physical import CompiledModel
from metacrm.platform.errors import ValidationFailed
from metacrm.rules.compile_python import compile_python
from metacrm.rules.context import RecordContext
from metacrm.rules.saving import Reads, Use, typecheck

KIND = "approval_process"
APPROVER_TYPES = ("owner_manager", "submitter_manager", "role", "team", "user")
MODES = ("one", "all")
STATUSES = ("pending", "approved", "rejected", "recalled")
CONDITION = Use("an approval condition")
NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}
# Field types a status value may be written to.
STATUS_TYPES = ("picklist", "text")

SCHEMA = {
    "type": "object",
    "required": ["api_name", "steps"],
    "additionalProperties": False,
    "properties": {
        "api_name": NAME,
        "label": {"type": "string", "maxLength": 255},
        "description": {"type": "string", "maxLength": 2000},
        "active": {"type": "boolean"},
        "entry_condition": {"type": "string", "maxLength": 10_000},
        "status_field": NAME,
        "unlocked_fields": {"type": "array", "items": NAME, "maxItems": 50, "uniqueItems": True},
        "status_values": {
            "type": "object",
            "additionalProperties": False,
            "properties": {status: {"type": "string", "maxLength": 255} for status in STATUSES},
        },
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": {
                "type": "object",
                "required": ["name", "approvers"],
                "additionalProperties": False,
                "properties": {
                    "name": NAME,
                    "label": {"type": "string", "maxLength": 255},
                    "mode": {"enum": list(MODES)},
                    "condition": {"type": "string", "maxLength": 10_000},
                    "approvers": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 20,
                        "items": {
                            "type": "object",
                            "required": ["type"],
                            "additionalProperties": False,
                            "properties": {
                                "type": {"enum": list(APPROVER_TYPES)},
                                "name": NAME,
                                "user": {"type": ["string", "integer"], "minLength": 1, "maxLength": 255},
                            },
                        },
                    },
                    "translations": {"type": "object"},
                },
            },
        },
        "translations": {"type": "object"},
    },
}


def check_process(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """Step names are unique; each approver names what its type needs; the
    unlocked fields exist; the status field exists and can hold text."""
    seen: set[str] = set()
    for index, step in enumerate(document.get("steps") or []):
        if step["name"] in seen:
            errors.add(f"steps.{index}.name", f"another step is named {step['name']!r}")
        seen.add(step["name"])
        for number, approver in enumerate(step["approvers"]):
            path = f"steps.{index}.approvers.{number}"
            kind = approver["type"]
            if kind in ("role", "team") and "name" not in approver:
                errors.add(f"{path}.name", f"a {kind} approver names the {kind}")
            if kind == "user" and "user" not in approver:
                errors.add(f"{path}.user", "a user approver names the user (e-mail address or id)")
    fields = {f["api_name"]: f for f in scope.state.fields(scope.object_api_name)}
    for index, name in enumerate(document.get("unlocked_fields") or []):
        if name not in fields:
            errors.add(f"unlocked_fields.{index}", f"no field {name!r} on {scope.object_api_name}")
    status_field = document.get("status_field")
    if status_field is not None:
        field = fields.get(status_field)
        if field is None:
            errors.add("status_field", f"no field {status_field!r} on {scope.object_api_name}")
        elif field.get("type") not in STATUS_TYPES:
            errors.add("status_field", f"{status_field} is a {field.get('type')} field; use a picklist or text field")
        elif not document.get("status_values"):
            errors.add("status_values", "say which value the status field takes when pending, approved, rejected")


APPROVAL_PROCESS = DefinitionKind(
    KIND,
    "approval process",
    schema=SCHEMA,
    check=check_process,
    object_scoped=True,
    collection="approval_processes",
    url="approval_processes",
)


def check_definitions(definitions, model: CompiledModel) -> list[tuple[str, str, str, str]]:
    """Every entry and step condition of the proposed processes, type-checked
    against its object (a field it reads deleted, a typo): ``(kind, key,
    path, message)`` per condition that does not check, the message
    starting with its line and column."""
    problems = []
    for definition in definitions.live(KIND):
        object_name = definition.key.split(".", 1)[0]
        if model.object(object_name) is None:
            continue
        document = definition.document
        texts = [("entry_condition", document.get("entry_condition"))]
        texts += [(f"steps.{i}.condition", step.get("condition")) for i, step in enumerate(document.get("steps") or [])]
        for path, text in texts:
            if not text:
                continue
            try:
                typecheck(model, object_name, text, CONDITION)
            except ValidationFailed as exc:
                problems.append((KIND, definition.key, path, exc.message))
    return problems


@dataclass(frozen=True)
class Condition:
    """A process's condition, checked and compiled: ``reads`` for the record
    evaluator, ``evaluate`` on a :class:`RecordContext`."""

    text: str
    reads: Reads
    evaluate: Callable[[RecordContext], Any]


def compile_condition(model: CompiledModel, object_name: str, text: str | None) -> Condition | None:
    """None for no condition (always holds)."""
    if not text:
        return None
    typed = typecheck(model, object_name, text, CONDITION)
    return Condition(text, Reads.of([typed]), compile_python(typed))


def approval_processes(model: CompiledModel, object_name: str, *, active_only: bool = True) -> list[dict]:
    """The object's approval processes (documents), in api_name order."""
    documents = sorted((d.document for d in model.definitions.scoped(KIND, object_name)), key=lambda d: d["api_name"])
    return [d for d in documents if d.get("active", True)] if active_only else documents


def approval_process(model: CompiledModel, object_name: str, api_name: str) -> dict | None:
    definition = model.definitions.get(KIND, scoped_key(object_name, api_name))
    return None if definition is None else definition.document


def label_of(document: dict, locale: str | None = None) -> str:
    """The process's (or a step's) label in ``locale``, else its label, else its name."""
    if locale:
        translated = (document.get("translations") or {}).get(locale, {}).get("label")
        if translated:
            return translated
    return document.get("label") or document.get("api_name") or document.get("name") or ""
