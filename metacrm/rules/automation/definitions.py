"""Reading, saving and deleting automation rules through the change
pipeline: the one way the REST API (``/api/v1/meta/automations``) and the
setup screens (``/setup/automations``) write them.

Beyond the definition check of a metadata change (the statement compiles
against the proposed model), a save here also checks what only a running
instance knows: CALL / round-robin / pool actions exist in its plugins, and
webhook URLs name no address it refuses to send to. Depends on
:mod:`metacrm.metadata`, :mod:`metacrm.platform` and the rest of
:mod:`metacrm.rules` only.
"""

from __future__ import annotations

from metacrm.metadata.changes import MetadataService
from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.physical import CompiledModel
from metacrm.platform.errors import Conflict, NotFound
from metacrm.platform.outbound import OutboundPolicy, OutboundRefused
from metacrm.rules.automation.compiler import compile_rule
from metacrm.rules.automation.engine import actions_of
from metacrm.rules.errors import RuleError

KIND = "automation"
DEFAULT_ORDER = 1000


def payload(key: str, document: dict) -> dict:
    """A stored rule with its object and the defaults filled in."""
    object_name = key.split(".", 1)[0]
    return {"object": object_name, "active": True, "order": DEFAULT_ORDER, **document}


def automations(model: CompiledModel, object_name: str | None = None) -> list[dict]:
    """Every live automation rule (of ``object_name`` when given), as :func:`payload`."""
    return [
        payload(item.key, item.document)
        for item in model.definitions.live(KIND)
        if object_name in (None, "", item.key.split(".", 1)[0])
    ]


def automation(model: CompiledModel, object_name: str, api_name: str) -> dict:
    """One rule (NotFound if there is none)."""
    item = model.definitions.get(KIND, scoped_key(object_name, api_name))
    if item is None:
        raise NotFound(f"no automation {object_name}.{api_name}")
    return payload(item.key, item.document)


def check_actions(instance, binding, model: CompiledModel, object_name: str, document: dict) -> None:
    """CALL / round-robin / pool actions must exist in this instance's
    plugins, and webhook URLs must not name an address this instance refuses
    to send to (the definition check of a metadata change sees neither).
    Raises :class:`RuleError` with the line and column of the action."""
    if model.object(object_name) is None or not isinstance(document.get("rule"), str):
        return
    actions = actions_of(instance, model)
    rule = compile_rule(model, object_name, document, actions=actions)
    policy = OutboundPolicy.from_config(instance.config)
    for compiled in rule.actions:
        if compiled.kind == "webhook":
            try:
                policy.check_url(compiled.text)
            except OutboundRefused as exc:
                raise RuleError(
                    exc.message, line=compiled.at.line, column=compiled.at.column, source=rule.statement.source
                ) from None
    checks = [(a, actions[a.call]) for a in rule.actions if a.call in actions and actions[a.call].check and a.text]
    if not checks:
        return
    with binding.connect() as conn:
        for compiled, action in checks:
            problem = action.check(conn, (compiled.text,))
            if problem:
                raise RuleError(problem, line=compiled.at.line, column=compiled.at.column, source=rule.statement.source)


def save_automation(
    service: MetadataService,
    instance,
    model: CompiledModel,
    object_name: str,
    document: dict,
    *,
    creating: bool,
) -> dict:
    """Store a rule (``document`` without ``object``) as a new revision;
    ``creating`` refuses an api_name in use (409). Returns the stored rule."""
    name = document.get("api_name")
    if creating and isinstance(name, str) and model.definitions.get(KIND, scoped_key(object_name, name)):
        raise Conflict(
            f"automation {object_name}.{name} already exists; PUT replaces it",
            details={"fields": {"api_name": ["already exists"]}},
        )
    check_actions(instance, service.binding, model, object_name, document)
    verb = "create" if creating else "put"
    with service.change(f"{verb} automation {object_name}.{name}") as tx:
        tx.put_automation(object_name, document)
    return payload(f"{object_name}.{name}", document)


def delete_automation(service: MetadataService, model: CompiledModel, object_name: str, api_name: str) -> None:
    """Delete a rule (a rollback of the revision brings it back)."""
    automation(model, object_name, api_name)
    with service.change(f"delete automation {object_name}.{api_name}") as tx:
        tx.delete_scoped(KIND, object_name, api_name)
