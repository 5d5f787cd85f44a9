"""The record lock of a pending approval: a save step (order 350: after the
before-save automations, so the fields they set are held to the lock too,
and before validation rules).

An update or delete of a record waiting for approval is refused on every
path that saves (the API, the screens, bulk edits, imports, automations of
other records): a single save with a 422 ``record_locked`` naming the
process, a bulk save with that message on the row. The approval engine's
own write of the process's status field goes through
(:func:`~.service.engine_writing`), and so do saves that change only the
process's ``unlocked_fields`` (bookkeeping such as a last-activity date
that automations of other records maintain).
"""

from __future__ import annotations

from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.platform.errors import ValidationFailed

from .processes import approval_process, label_of
from .service import engine_writing, pending_records

# System columns the store itself changes on every update.
BOOKKEEPING = {"updated_at", "updated_by", "version"}


class ApprovalLockStep:
    order = 350

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        edits = [s for s in saves if s.action in ("update", "delete") and s.record_id is not None and not s.errors]
        if not edits:
            return
        pending = pending_records(ctx.conn, ctx.obj.api_name, [s.record_id for s in edits])
        for save in edits:
            request = pending.get(save.record_id)
            if request is None:
                continue
            process = approval_process(ctx.store.model, ctx.obj.api_name, request["process"]) or {}
            if self._allowed(ctx, save, process):
                continue
            name = label_of(process) if process else request["process"]
            message = (
                f"This {ctx.obj.label} is locked: it waits for approval ({name}) "
                "until the request is decided or recalled"
            )
            if len(saves) == 1:
                raise ValidationFailed(
                    message,
                    code="record_locked",
                    details={
                        "fields": {"$": [message]},
                        "approval_request": request["id"],
                        "process": request["process"],
                    },
                )
            save.error("$", message)

    @staticmethod
    def _allowed(ctx: SaveContext, save: PendingSave, process: dict) -> bool:
        """An update changing only the process's unlocked fields, or only its
        status field when the approval engine writes it."""
        if save.action != "update":
            return False
        changed = save.changed() - BOOKKEEPING - set(process.get("unlocked_fields") or ())
        if not changed:
            return True
        return engine_writing(ctx.obj.api_name, save.record_id) and changed == {process.get("status_field")}


SAVE_STEPS = [ApprovalLockStep()]
