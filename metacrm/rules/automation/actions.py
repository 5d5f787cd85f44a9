"""Automation actions contributed by plugins (``CALL name(args)``) and by
upper layers (the access layer's round-robin / least-busy assignment and
return-to-pool), through the ``register_automation_actions`` hook.

An :class:`AutomationAction` names a function that receives an
:class:`ActionCall`. ``phase="before"`` actions run before the record is
written (on created/updated/changed rules) and may return
``{"set": {field: stored value}}`` to change the record being saved (e.g.
``owner_id``); ``phase="after"`` actions run after the write in the same
transaction; ``slow=True`` ones go through the outbox and run on a job.
Whatever an action returns (a JSON-able dict) is kept in the run log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from metacrm.metadata.physical import CompiledModel
from metacrm.platform import audit
from metacrm.platform.caches import CacheSlot

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62})?$")
PHASES = ("before", "after")
# The actions the statement language spells with its own keywords.
ROUND_ROBIN = "owner.round_robin"
LEAST_BUSY = "owner.least_busy"
RETURN_TO_POOL = "pool.return"


@dataclass(frozen=True)
class AutomationAction:
    name: str  # what CALL writes (lower case; "vendor.thing" allowed)
    run: Callable[[ActionCall], dict | None]
    params: tuple[str, ...] = ()  # rule type names of the arguments (TEXT, NUMBER, ID, DATE, BOOLEAN…; ANY)
    phase: str = "after"
    slow: bool = False
    doc: str = ""
    # check(conn, args) -> a problem or None: run when a rule is saved through
    # the API, for arguments that are constants (e.g. "does this team exist").
    check: Callable[[Connection, tuple], str | None] | None = None

    def __post_init__(self):
        if not NAME_RE.match(self.name):
            raise ValueError(f"automation action name {self.name!r} must match {NAME_RE.pattern}")
        if self.phase not in PHASES:
            raise ValueError(f"automation action {self.name}: phase must be one of {PHASES}")
        if self.slow and self.phase == "before":
            raise ValueError(f"automation action {self.name}: a slow action cannot run before the write")


@dataclass
class ActionCall:
    """What an action sees: the transaction, the model, the record (stored
    column values; ``record_id`` is None before the insert of a create), the
    evaluated arguments, who caused the save and which rule runs."""

    conn: Connection
    model: CompiledModel
    object: str
    record_id: int | None
    record: Mapping[str, Any]
    args: tuple
    actor: audit.Actor
    rule: str
    dry_run: bool = False  # True in a dry run: compute, but write nothing
    extra: dict = field(default_factory=dict)
    # A record store writing in ``conn`` as the system (acting for the user
    # whose save or run started the rule): records an action creates or
    # updates go through the save pipeline like any other.
    store: Any = None
    # outbox(kind, payload): an outbox row ("email": to, subject, body[, html])
    # delivered by a job after commit, as the EMAIL action's are.
    outbox: Callable[[str, dict], int] | None = None


# The instance's plugin actions by name with the plugin that registered each,
# collected once (see engine.actions_of, which keeps a tenant's own).
ACTIONS: CacheSlot[dict[str, tuple[str, AutomationAction]]] = CacheSlot("automation_actions")


def collect_actions(pm) -> dict[str, tuple[str, AutomationAction]]:
    """Every action the plugins of ``pm`` register, by name: ``(plugin, action)``."""
    found: dict[str, tuple[str, AutomationAction]] = {}
    each = getattr(pm, "each", None)
    if each is None or getattr(pm.hook, "register_automation_actions", None) is None:
        return found
    for plugin, group in each("register_automation_actions"):
        for action in group or ():
            if not isinstance(action, AutomationAction):
                raise ValueError(f"register_automation_actions returned {action!r}, not an AutomationAction")
            if action.name in found:
                raise ValueError(f"automation action {action.name!r} is registered twice")
            found[action.name] = (plugin, action)
    return found
