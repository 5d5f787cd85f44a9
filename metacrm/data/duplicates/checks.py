"""The duplicate check on create and edit: a save step (order 450, after
the validation rules).

For each record a call creates, or whose compared fields an edit changes,
:func:`~.matching.find_duplicates` runs in the save's transaction with the
caller's guard. A ``block`` rule's match refuses the save; a ``warn`` rule's
match refuses it too unless the caller said "save anyway"
(:func:`allow_duplicates`: the API's ``X-Allow-Duplicates: true`` header or
``allow_duplicates=true`` argument, the form's "Save anyway" button). Warn
rules speak only to a person: a request of the API or the screens sets the
mode :data:`WARN` (:func:`duplicate_mode`); a job, the CLI or demo data,
without one, is held by block rules only (an import calls
:func:`~.matching.find_duplicates` itself to skip, update or flag a row).

A single save is refused with a 422 whose details hold ``fields`` (the
message beside the first matching field) and ``duplicates`` (each match's
id, name, rule, action, fields and score) and ``duplicate_action``; in a
bulk call each row gets the message under its field.
"""

from __future__ import annotations

from contextvars import ContextVar

from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.platform.errors import ValidationFailed

from .matching import Match, find_duplicates
from .rules import duplicate_rules

# None: no one to warn (a job, the CLI, demo data: only block rules apply);
# "warn": a person's request (warn rules refuse the save); "allow": they chose "save anyway".
_MODE: ContextVar[str | None] = ContextVar("metacrm_duplicate_mode", default=None)
WARN, ALLOW = "warn", "allow"


def duplicate_mode(mode: str | None):
    """Set how warn rules act in this context (:data:`WARN`, :data:`ALLOW`
    or None); returns the token to :func:`reset_mode` with."""
    return _MODE.set(mode)


def allow_duplicates(on: bool = True):
    """The caller chose "save anyway" (``on``) or is to be warned."""
    return _MODE.set(ALLOW if on else WARN)


def reset_mode(token) -> None:
    _MODE.reset(token)


reset_allowed = reset_mode


def describe(matches: list[Match]) -> str:
    names = ", ".join(f"{m.name or '#' + str(m.id)} (#{m.id})" for m in matches[:3])
    more = f" and {len(matches) - 3} more" if len(matches) > 3 else ""
    return names + more


class DuplicateCheckStep:
    """Order 450: the object's duplicate rules, on create and on edits of the fields they compare."""

    order = 450

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        rules = duplicate_rules(ctx.store.model, ctx.obj.api_name)
        writes = [s for s in saves if s.action in ("create", "update") and not s.errors]
        if not rules or not writes:
            return
        compared = {c["field"] for rule in rules for c in rule.get("conditions") or []}
        mode = _MODE.get()
        warn = mode == WARN and ctx.depth == 0  # automations' saves are not the person's to confirm
        reader = ctx.nested()
        for save in writes:
            if not save.is_new and not (save.changed() & compared):
                continue
            matches = find_duplicates(reader, ctx.obj.api_name, save.current(), exclude_id=save.record_id, rules=rules)
            blocking = [m for m in matches if m.action == "block"]
            shown = blocking or (matches if warn else [])
            if not shown:
                continue
            action = "block" if blocking else "warn"
            field = shown[0].fields[0] if shown[0].fields else "$"
            if action == "block":
                message = f"is a likely duplicate of {describe(shown)}: merge them instead"
            else:
                message = f"may be a duplicate of {describe(shown)}; save anyway to keep both"
            if len(saves) == 1:
                raise ValidationFailed(
                    f"{field} {message}",
                    details={
                        "fields": {field: [message]},
                        "duplicates": [m.as_json(ctx.obj.api_name) for m in shown],
                        "duplicate_action": action,
                    },
                )
            save.error(field, message)


SAVE_STEPS = [DuplicateCheckStep()]
