"""The vocabulary of access policies and the checks on what an admin sends.

An *object access* entry is what one role may do with one object: the
boolean actions ``create``, ``export``, ``import`` and ``transfer`` (change
a record's owner), and the record scopes of ``read``, ``update`` and
``delete`` (``none`` means the action is not permitted at all). A record
scope may also be a rule-language condition (``{"condition": "..."}``); it is
stored as :data:`CONDITION` in Casbin and its text in ``scope_conditions``,
and inside a compiled policy as ``"condition:<text>"`` (:func:`condition_scope`).
In Casbin an entry is one ``p`` row per action, whose ``scope`` is the
scope, or ``all``/``none`` for a boolean action.

Depends on :mod:`metacrm.platform` only.
"""

from __future__ import annotations

import re
from typing import Any

from metacrm.platform.errors import ValidationFailed

ACTIONS = ("create", "read", "update", "delete", "export", "import", "transfer")
SCOPED_ACTIONS = ("read", "update", "delete")
FLAG_ACTIONS = ("create", "export", "import", "transfer")
SCOPES = ("none", "own", "team", "subordinates", "all")
# The Casbin scope of a condition entry (the text lives in scope_conditions).
CONDITION = "condition"
CONDITION_PREFIX = "condition:"
MAX_CONDITION = 4000
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


def condition_scope(text: str) -> str:
    """The scope value of a condition inside a compiled policy."""
    return CONDITION_PREFIX + text


def condition_text(scope: str) -> str | None:
    """The condition of a scope value, or None for a named scope."""
    return scope[len(CONDITION_PREFIX) :] if scope.startswith(CONDITION_PREFIX) else None


def covers(wide: str, narrow: str) -> bool:
    """Whether every record in scope ``narrow`` is also in scope ``wide``.
    (``team`` and ``subordinates`` both include one's own records; a
    condition is known to be covered only by ``all`` and by itself.)"""
    if narrow == "none" or wide == "all" or wide == narrow:
        return True
    return narrow == "own" and wide in ("team", "subordinates")


def _label(scope: str) -> str:
    text = condition_text(scope)
    return f"condition {text!r}" if text is not None else scope


def scope_to_json(scope: str) -> Any:
    text = condition_text(scope)
    return {"condition": text} if text is not None else scope


def entry_to_json(actions: dict[str, str]) -> dict[str, Any]:
    """Stored scopes → the API form (booleans for the boolean actions,
    ``{"condition": text}`` for a condition)."""
    return {
        a: (actions.get(a, DENIED) == GRANTED if a in FLAG_ACTIONS else scope_to_json(actions.get(a, DENIED)))
        for a in ACTIONS
    }


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
        if isinstance(value, dict):
            text = value.get("condition")
            if set(value) != {"condition"} or not isinstance(text, str) or not text.strip():
                errors.setdefault(f"{action}.condition", []).append('send {"condition": "<rule-language condition>"}')
                value = DENIED
            elif len(text) > MAX_CONDITION:
                errors.setdefault(f"{action}.condition", []).append(f"at most {MAX_CONDITION} characters")
                value = DENIED
            elif wildcard:
                errors.setdefault(f"{action}.condition", []).append(
                    "a condition reads fields of one object: give it on a concrete object, not on *"
                )
                value = DENIED
            else:
                value = condition_scope(text.strip())
        elif value not in SCOPES:
            errors.setdefault(action, []).append(
                "must be one of " + ", ".join(SCOPES) + ' or {"condition": "<rule-language condition>"}'
            )
            value = DENIED
        actions[action] = value
    read = actions["read"]
    for action in ("update", "delete"):
        if action not in errors and not covers(read, actions[action]):
            errors.setdefault(action, []).append(
                f"scope {_label(actions[action])} reaches records the read scope {_label(read)} does not; "
                "widen read first (a condition is covered only by read all or the same condition)"
            )
    for action in FLAG_ACTIONS:
        if actions[action] == GRANTED and read == DENIED and action not in errors:
            errors.setdefault(action, []).append(f"{action} needs read permission (read is none)")
    if actions["import"] == GRANTED and actions["create"] == DENIED and "import" not in errors:
        errors.setdefault("import", []).append("import needs create")
    if actions["transfer"] == GRANTED and actions["update"] == DENIED and "transfer" not in errors:
        errors.setdefault("transfer", []).append("transfer needs update")
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
