"""The definition kind ``conversion``: how a record of one object becomes
records of others (a lead becomes an account, a contact and an opportunity).

A conversion belongs to its source object (key ``<object>.<api_name>``,
package file ``objects/<object>/conversions.yaml``, routes
``/api/v1/meta/objects/<object>/conversions``)::

    api_name: standard
    label: Convert lead
    mark: {status: converted}       # values the source gets when converted
    stamp: converted_at             # a date/datetime field of the source: when
    targets:                        # created (or chosen) in this order
      - object: account
        link: converted_account     # the source's lookup that records it
        existing: true              # the user may choose an existing record
        optional: false             # the user may leave it out
        fields: {name: company}     # target field: source field
        references: {}              # target lookup: an earlier target's object
        form: [name]                # what the screen asks for a new one (default:
                                    # the name and required fields without a default)
    related:                        # records pointing at the source follow it
      - object: activity
        field: lead                 # their lookup to the source (kept)
        set: {contact: contact}     # their lookup: the target filling it (when empty)

Everything is checked when saved against the live definitions: the objects
and fields exist, a mapped value fits its target field (a picklist's values
are the target's values too), links and references point the right way
(errors name the document path, ``targets.0.fields.name``). Whether the
person converting may read a source field or write a target is decided
when the conversion runs (their guard).
"""

from __future__ import annotations

from typing import Any

from metacrm.metadata.definitions import DefinitionErrors
from metacrm.metadata.kinds import DefinitionKind, KindScope
from metacrm.metadata.physical import CompiledModel

KIND = "conversion"
NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}
FIELD_MAP = {"type": "object", "propertyNames": NAME, "additionalProperties": NAME, "maxProperties": 200}

SCHEMA = {
    "type": "object",
    "required": ["api_name", "label", "targets"],
    "additionalProperties": False,
    "properties": {
        "api_name": NAME,
        "label": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": "string", "maxLength": 2000},
        "active": {"type": "boolean"},
        "mark": {
            "type": "object",
            "propertyNames": NAME,
            "additionalProperties": {"type": ["string", "boolean", "number"]},
            "maxProperties": 20,
        },
        "stamp": NAME,
        "targets": {
            "type": "array",
            "minItems": 1,
            "maxItems": 5,
            "items": {
                "type": "object",
                "required": ["object", "link"],
                "additionalProperties": False,
                "properties": {
                    "object": NAME,
                    "link": NAME,
                    "label": {"type": "string", "maxLength": 255},
                    "existing": {"type": "boolean"},
                    "optional": {"type": "boolean"},
                    "fields": FIELD_MAP,
                    "references": FIELD_MAP,
                    "form": {"type": "array", "items": NAME, "maxItems": 20, "uniqueItems": True},
                },
            },
        },
        "related": {
            "type": "array",
            "maxItems": 10,
            "items": {
                "type": "object",
                "required": ["object", "field"],
                "additionalProperties": False,
                "properties": {"object": NAME, "field": NAME, "set": FIELD_MAP},
            },
        },
        "translations": {"type": "object"},
    },
}

TEXTUAL = frozenset({"text", "long_text", "email", "phone", "url", "auto_number"})
NUMERIC = frozenset({"integer", "decimal", "currency", "percent"})
# Target type -> the source types whose values it takes as they are.
ACCEPTS = {
    "text": TEXTUAL | {"picklist"},
    "long_text": TEXTUAL | {"picklist", "rich_text"},
    "integer": frozenset({"integer"}),
    "decimal": NUMERIC,
    "currency": NUMERIC,
    "percent": frozenset({"percent", "integer", "decimal"}),
    "datetime": frozenset({"datetime"}),
}
# Types a conversion cannot write (worked out by the platform, or numbered by it).
UNWRITABLE = frozenset({"formula", "roll_up", "auto_number"})


def _picklist_values(field: dict) -> set[str]:
    return {str(v.get("value")) for v in (field.get("options") or {}).get("values") or []}


def fits(source: dict, target: dict) -> str | None:
    """Why a value of the ``source`` field does not fit the ``target`` field, or None."""
    source_type, target_type = source.get("type"), target.get("type")
    if target_type in UNWRITABLE:
        return f"{target['api_name']} is a {target_type} field: the platform works it out"
    if target_type in ACCEPTS:
        if source_type in ACCEPTS[target_type]:
            return None
    elif source_type == target_type:
        if target_type in ("picklist", "multi_picklist"):
            missing = sorted(_picklist_values(source) - _picklist_values(target))
            if missing:
                return f"values {', '.join(missing)} of {source['api_name']} are not values of {target['api_name']}"
        if (source.get("options") or {}).get("target") != (target.get("options") or {}).get("target"):
            return f"{source['api_name']} and {target['api_name']} point at different objects"
        return None
    return f"a {source_type} value does not fit the {target_type} field {target['api_name']}"


def _lookup_to(field: dict | None, target: str) -> bool:
    return (
        field is not None
        and field.get("type") in ("lookup", "master_detail")
        and ((field.get("options") or {}).get("target") == target)
    )


def check_conversion(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """Objects, fields, links, references and value types against the live model."""
    state, source_name = scope.state, scope.object_api_name
    source_fields = {f["api_name"]: f for f in state.fields(source_name)}
    for name, value in (document.get("mark") or {}).items():
        field = source_fields.get(name)
        if field is None:
            errors.add(f"mark.{name}", f"no field {name!r} on {source_name}")
        elif field.get("type") == "picklist" and str(value) not in _picklist_values(field):
            errors.add(f"mark.{name}", f"{value!r} is not a value of {name}")
        elif field.get("type") in UNWRITABLE:
            errors.add(f"mark.{name}", f"{name} is a {field.get('type')} field: it cannot be set")
    stamp = document.get("stamp")
    if stamp is not None and (source_fields.get(stamp) or {}).get("type") not in ("date", "datetime"):
        errors.add("stamp", f"{stamp!r} is not a date or datetime field of {source_name}")
    seen: list[str] = []
    for index, target in enumerate(document["targets"]):
        path, name = f"targets.{index}", target["object"]
        if state.object(name) is None:
            errors.add(f"{path}.object", f"no object {name!r}")
            continue
        if name in seen:
            errors.add(f"{path}.object", f"{name} is a target already")
        if not _lookup_to(source_fields.get(target["link"]), name):
            errors.add(f"{path}.link", f"{target['link']!r} is not a lookup of {source_name} to {name}")
        target_fields = {f["api_name"]: f for f in state.fields(name)}
        for to, frm in (target.get("fields") or {}).items():
            if to not in target_fields:
                errors.add(f"{path}.fields.{to}", f"no field {to!r} on {name}")
            elif frm not in source_fields:
                errors.add(f"{path}.fields.{to}", f"no field {frm!r} on {source_name}")
            else:
                problem = fits(source_fields[frm], target_fields[to])
                if problem:
                    errors.add(f"{path}.fields.{to}", problem)
        for index_in_form, name_in_form in enumerate(target.get("form") or []):
            if name_in_form not in target_fields:
                errors.add(f"{path}.form.{index_in_form}", f"no field {name_in_form!r} on {name}")
        for to, other in (target.get("references") or {}).items():
            if other not in seen:
                errors.add(f"{path}.references.{to}", f"{other!r} is not an earlier target of this conversion")
            elif not _lookup_to(target_fields.get(to), other):
                errors.add(f"{path}.references.{to}", f"{to!r} is not a lookup of {name} to {other}")
        seen.append(name)
    for index, related in enumerate(document.get("related") or []):
        path, name = f"related.{index}", related["object"]
        if state.object(name) is None:
            errors.add(f"{path}.object", f"no object {name!r}")
            continue
        fields = {f["api_name"]: f for f in state.fields(name)}
        if not _lookup_to(fields.get(related["field"]), source_name):
            errors.add(f"{path}.field", f"{related['field']!r} is not a lookup of {name} to {source_name}")
        for to, target in (related.get("set") or {}).items():
            if target not in seen:
                errors.add(f"{path}.set.{to}", f"{target!r} is not a target of this conversion")
            elif not _lookup_to(fields.get(to), target):
                errors.add(f"{path}.set.{to}", f"{to!r} is not a lookup of {name} to {target}")


CONVERSION = DefinitionKind(
    KIND,
    "conversion",
    schema=SCHEMA,
    check=check_conversion,
    object_scoped=True,
    collection="conversions",
    url="conversions",
)


def conversions(model: CompiledModel, object_name: str) -> list[dict]:
    """The object's active conversions (documents), in api_name order."""
    documents = sorted((d.document for d in model.definitions.scoped(KIND, object_name)), key=lambda d: d["api_name"])
    return [d for d in documents if d.get("active", True)]


def conversion(model: CompiledModel, object_name: str, api_name: Any = None) -> dict | None:
    """The active conversion ``api_name`` of the object (its first when None)."""
    found = conversions(model, object_name)
    if api_name is None:
        return found[0] if found else None
    return next((d for d in found if d["api_name"] == api_name), None)
