"""Record events: plugins' handlers of the saves of the objects they name.

A plugin returns :class:`RecordEvents` objects from the
``register_record_events`` hook. The save pipeline runs them through two
steps of its own (:func:`record_event_steps`): ``before_save`` at order
:data:`BEFORE_SAVE_ORDER` (after before-save automations, before validation
rules, so a handler may fill values that rules then check) and the others
at :data:`AFTER_SAVE_ORDER` (after the write, before after-save
automations). Every handler of an event runs, ordered by (``order``, plugin
name) — handlers compose; none replaces another. Only the handlers of
plugins installed in the tenant are given to its stores (``metadata.model``).

A handler refuses a value with ``PendingSave.error`` or by raising
``ValidationFailed`` (a 422, as any validation). Any other exception is a
fault in the plugin: it becomes :class:`~metacrm.platform.errors.PluginFailed`
(500, naming the plugin, the event and the object) and, being raised inside
the save's transaction, rolls the whole save back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.platform.errors import MetacrmError, PluginFailed

BEFORE_SAVE_ORDER = 350
AFTER_SAVE_ORDER = 550
# The picklist whose change is a stage transition: the first of these an
# object has (the record page's stage path reads the same one).
STAGE_FIELDS = ("stage", "status")


class RecordEvents:
    """Handlers of one plugin for the saves of the objects in ``objects``.
    Override any of the four methods; ``order`` places them among every
    plugin's handlers of the same event (lower first; ties by plugin name)."""

    objects: tuple[str, ...] = ()
    order: int = 500

    def before_save(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        """Creates and updates, before validation rules and the write."""

    def after_save(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        """Creates and updates, after the write, in its transaction."""

    def after_delete(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        """Deletes (into the recycle bin), after the write, in its transaction."""

    def on_stage_change(self, ctx: SaveContext, save: PendingSave, old: Any, new: Any) -> None:
        """One record whose stage field changed (``old`` is None on create),
        after the write, in its transaction."""


@dataclass(frozen=True)
class Handler:
    plugin: str
    events: RecordEvents


def stage_field(obj: CompiledObject) -> str | None:
    """The object's stage picklist (``stage``, else ``status``), if any."""
    for name in STAGE_FIELDS:
        field_type = obj.fields.get(name)
        if field_type is not None and field_type.name == "picklist":
            return name
    return None


def _overrides(events: RecordEvents, method: str) -> bool:
    return getattr(type(events), method, None) is not getattr(RecordEvents, method)


def _call(handler: Handler, event: str, obj: CompiledObject, *args: Any) -> None:
    try:
        getattr(handler.events, event)(*args)
    except MetacrmError:
        raise  # a refusal the plugin means (ValidationFailed, Conflict...)
    except Exception as exc:
        raise PluginFailed(
            f"plugin {handler.plugin} failed in {event} of {obj.api_name}: {exc}; nothing was saved",
            details={"plugin": handler.plugin, "event": event, "object": obj.api_name},
        ) from exc


class _BeforeSave:
    order = BEFORE_SAVE_ORDER

    def __init__(self, handlers: dict[str, list[Handler]]):
        self.handlers = handlers

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if ctx.action == "delete":
            return
        for handler in self.handlers.get(ctx.obj.api_name, ()):
            _call(handler, "before_save", ctx.obj, ctx, saves)


class _AfterSave:
    order = AFTER_SAVE_ORDER

    def __init__(self, handlers: dict[str, list[Handler]]):
        self.handlers = handlers

    def after_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        handlers = self.handlers.get(ctx.obj.api_name, ())
        if ctx.action == "delete":
            for handler in handlers:
                _call(handler, "after_delete", ctx.obj, ctx, saves)
            return
        written = [save for save in saves if not save.errors]
        for handler in handlers:
            _call(handler, "after_save", ctx.obj, ctx, written)
        stage = stage_field(ctx.obj)
        if stage is None:
            return
        moved = [s for s in written if stage in s.values and (s.before or {}).get(stage) != s.values[stage]]
        for save in moved:
            for handler in handlers:
                if _overrides(handler.events, "on_stage_change"):
                    old = (save.before or {}).get(stage)
                    _call(handler, "on_stage_change", ctx.obj, ctx, save, old, save.values[stage])


def record_event_steps(handlers: list[Handler]) -> tuple:
    """The two save steps that run ``handlers`` (those of the tenant's
    installed plugins), or none when there are none."""
    if not handlers:
        return ()
    by_object: dict[str, list[Handler]] = {}
    for handler in sorted(handlers, key=lambda h: (h.events.order, h.plugin)):
        for object_name in handler.events.objects:
            by_object.setdefault(object_name, []).append(handler)
    return (_BeforeSave(by_object), _AfterSave(by_object))
