"""The vocabulary of access policies and the checks on what an admin sends.

An *object access* entry is what one role may do with one object: the
boolean actions ``create``, ``export`` and ``import``, and the record scopes
of ``read``, ``update`` and ``delete`` (``none`` means the action is not
permitted at all). In Casbin it is six ``p`` rows, one per action, whose
``scope`` is the scope, or ``all``/``none`` for a boolean action.

Depends on :mod:`metacrm.platform` only.
"""

from __future__ import annotations

import re
from typing import Any

from metacrm.platform.errors import ValidationFailed

ACTIONS = ("create", "read", "update", "delete", "export", "import")
SCOPED_ACTIONS = ("read", "update", "delete")
FLAG_ACTIONS = ("create", "export", "import")
SCOPES = ("none", "own", "team", "subordinates", "all")
GRANTED, DENIED = "all", "none"
FIELD_ACCESS = ("hidden", "read", "edit")
DEFAULT_FIELD_ACCESS = "edit"
ORG_WIDE_DEFAULTS = ("private", "public_read", "public_read_write")
DEFAULT_ORG_WIDE = "private"
SHARE_ACCESS = ("read", "edit")

WILDCARD = "*"  # a role's default entry, for every object it has no entry of its own for
SYSTEM_OBJECT = "$system"
SYSTEM_PERMISSIONS = ("manage_metadata", "manage_access")
ADMIN_ROLE = "admin"

# Kind and key of the metadata definition that mirrors the whole policy.
DEFINITION_KIND = "access"
DEFINITION_KEY = "policy"

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
NO_ACCESS: dict[str, str] = dict.fromkeys(ACTIONS, DENIED)
FULL_ACCESS: dict[str, str] = dict.fromkeys(ACTIONS, GRANTED)


def covers(wide: str, narrow: str) -> bool:
    """Whether every record in scope ``narrow`` is also in scope ``wide``.
    (``team`` and ``subordinates`` both include one's own records.)"""
    if narrow == "none" or wide == "all" or wide == narrow:
        return True
    return narrow == "own" and wide in ("team", "subordinates")


def entry_to_json(actions: dict[str, str]) -> dict[str, Any]:
    """Stored scopes → the API form (booleans for the boolean actions)."""
    return {a: (actions.get(a, DENIED) == GRANTED if a in FLAG_ACTIONS else actions.get(a, DENIED)) for a in ACTIONS}


def parse_object_access(body: Any, *, wildcard: bool) -> tuple[dict[str, str], dict[str, str]]:
    """The body of ``PUT /access/roles/<role>/objects/<object>`` → (stored
    scope per action, field access per field). A missing action is not
    permitted. Reports every problem at once (422)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(body, dict):
        raise ValidationFailed("send a JSON object of actions", details={"fields": {"$": ["must be an object"]}})
    for key in body:
        if key not in (*ACTIONS, "fields"):
            errors[key] = [f"unknown member; use {', '.join(ACTIONS)} or fields"]
    actions: dict[str, str] = {}
    for action in FLAG_ACTIONS:
        value = body.get(action, False)
        if not isinstance(value, bool):
            errors.setdefault(action, []).append("must be true or false")
        actions[action] = GRANTED if value is True else DENIED
    for action in SCOPED_ACTIONS:
        value = body.get(action, DENIED)
        if value not in SCOPES:
            errors.setdefault(action, []).append(f"must be one of {', '.join(SCOPES)}")
            value = DENIED
        actions[action] = value
    read = actions["read"]
    for action in ("update", "delete"):
        if action not in errors and not covers(read, actions[action]):
            errors.setdefault(action, []).append(
                f"scope {actions[action]} reaches records the read scope {read} does not; widen read first"
            )
    for action in FLAG_ACTIONS:
        if actions[action] == GRANTED and read == DENIED and action not in errors:
            errors.setdefault(action, []).append(f"{action} needs read permission (read is none)")
    if actions["import"] == GRANTED and actions["create"] == DENIED and "import" not in errors:
        errors.setdefault("import", []).append("import needs create")
    fields = body.get("fields", {})
    field_access: dict[str, str] = {}
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        errors.setdefault("fields", []).append("must be an object of field → hidden, read or edit")
    elif fields and wildcard:
        errors.setdefault("fields", []).append("field access belongs to a concrete object, not to *")
    else:
        for name, access in fields.items():
            if access not in FIELD_ACCESS:
                errors.setdefault(f"fields.{name}", []).append(f"must be one of {', '.join(FIELD_ACCESS)}")
            else:
                field_access[name] = access
    if errors:
        raise ValidationFailed(
            "the object access is not valid: " + "; ".join(f"{k}: {v[0]}" for k, v in list(errors.items())[:3]),
            details={"fields": errors},
        )
    return actions, field_access


def check_name(value: Any, what: str, errors: dict[str, list[str]], path: str = "api_name") -> None:
    if not isinstance(value, str) or not NAME_RE.match(value):
        errors.setdefault(path, []).append(
            f"a {what} api name is a lower-case letter, then up to 62 lower-case letters, digits or _"
        )
