"""The record lock of a pending approval: a save step (order 50, before
defaults and automations, so nothing is worked out for a save that cannot
happen).

An update or delete of a record waiting for approval is refused on every
path that saves (the API, the screens, bulk edits, imports, automations of
other records): a single save with a 422 ``record_locked`` naming the
process, a bulk save with that message on the row. The approval engine's
own write of the process's status field goes through
(:func:`~.service.engine_writing`).
"""

from __future__ import annotations

from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.platform.errors import ValidationFailed

from .processes import approval_process, label_of
from .service import engine_writing, pending_records

# System columns the store itself changes on every update.
BOOKKEEPING = {"updated_at", "updated_by", "version"}


class ApprovalLockStep:
    order = 50

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        edits = [s for s in saves if s.action in ("update", "delete") and s.record_id is not None and not s.errors]
        if not edits:
            return
        pending = pending_records(ctx.conn, ctx.obj.api_name, [s.record_id for s in edits])
        for save in edits:
            request = pending.get(save.record_id)
            if request is None or self._engine_status_write(ctx, save, request):
                continue
            process = approval_process(ctx.store.model, ctx.obj.api_name, request["process"]) or {}
            name = label_of(process) if process else request["process"]
            message = f"is locked while it waits for approval ({name}); recall the request to edit it"
            if len(saves) == 1:
                raise ValidationFailed(
                    f"this {ctx.obj.label} {message}",
                    code="record_locked",
                    details={
                        "fields": {"$": [message]},
                        "approval_request": request["id"],
                        "process": request["process"],
                    },
                )
            save.error("$", message)

    @staticmethod
    def _engine_status_write(ctx: SaveContext, save: PendingSave, request: dict) -> bool:
        if save.action != "update" or not engine_writing(ctx.obj.api_name, save.record_id):
            return False
        process = approval_process(ctx.store.model, ctx.obj.api_name, request["process"]) or {}
        return not (save.changed() - BOOKKEEPING - {process.get("status_field")})


SAVE_STEPS = [ApprovalLockStep()]
