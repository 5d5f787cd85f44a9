"""Reports as the API and the screens use them: which ones a user may run,
finding one by name, saving and deleting one through the definitions
change pipeline (a metadata revision and an audit entry), and the run
options of a tenant.

Who may save: a holder of the manage_metadata permission saves shared
reports (and may change or delete any); any other user who may read the
object saves *private* reports (``private_to`` their id), which only they
see and run, and changes or deletes only those. A private report is still a
definition: it has revisions and audit entries like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metacrm.metadata.model import metadata_service
from metacrm.metadata.physical import CompiledModel
from metacrm.metadata.store import RecordStore
from metacrm.platform import audit
from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed

from .engine import SYSTEM_FIELDS, RunOptions, _labels


def documents(model: CompiledModel) -> list[dict]:
    """Every live report definition of the tenant, by api name."""
    return [d.document for d in model.definitions.live("report")]


def visible_to(document: dict, user_id: int | None) -> bool:
    """Shared reports are everybody's; a private one only its owner's."""
    owner = document.get("private_to")
    return owner is None or owner == user_id


def fields_named(document: dict) -> list[str]:
    """Every field a report names (not those its filter reads)."""
    names = list(document.get("columns") or [])
    names += [g.get("field") for g in document.get("groupings") or []]
    names += [a.get("field") for a in document.get("aggregates") or [] if a.get("field")]
    for part in (document.get("sort") or "").split(","):
        name = part.strip().lstrip("-")
        if name and "_" in name and name.split("_", 1)[0] in ("sum", "avg", "min", "max"):
            continue  # an aggregate key
        if name and name != "count":
            names.append(name)
    return [n for n in dict.fromkeys(names) if isinstance(n, str)]


def runnable(store: RecordStore, document: dict) -> bool:
    """Whether the store's user may run it: reads the object, sees every field it names."""
    obj = store.model.object(str(document.get("object")))
    if obj is None or not store.guard.permits("read", obj):
        return False
    readable = store.guard.readable_fields(obj) | set(SYSTEM_FIELDS)
    return all(name in readable for name in fields_named(document))


def reports_for(store: RecordStore, user_id: int | None, locale: str | None = None) -> list[dict]:
    """The reports the user may run: ``{api_name, label, description, folder,
    object, type, private}``, by folder then label."""
    found = []
    for document in documents(store.model):
        if not visible_to(document, user_id) or not runnable(store, document):
            continue
        label, description = _labels(document, locale)
        translated = (document.get("translations") or {}).get(locale or "", {}) if locale else {}
        found.append(
            {
                "api_name": document["api_name"],
                "label": label,
                "description": description,
                "folder": translated.get("folder") or document.get("folder") or "",
                "object": document["object"],
                "type": document["type"],
                "private": document.get("private_to") is not None,
                "chart": document.get("chart"),
            }
        )
    return sorted(found, key=lambda r: (r["folder"].casefold(), r["label"].casefold()))


def find(model: CompiledModel, name: str, user_id: int | None) -> dict:
    """The report ``name`` the user may see; 404 otherwise (another's private one too)."""
    definition = model.definitions.get("report", name)
    if definition is None or not visible_to(definition.document, user_id):
        raise NotFound(f"no report {name!r}")
    return definition.document


def may_edit(document: dict, user_id: int | None, *, admin: bool) -> bool:
    if admin:
        return True
    return document.get("private_to") is not None and document.get("private_to") == user_id


def save(
    instance, binding, actor: audit.Actor, store: RecordStore, document: dict, *, admin: bool, creating: bool
) -> dict:
    """Save ``document`` (a new report when ``creating``) as ``actor``:
    checked against the kind's schema and the model, then run once as the
    user (a field they cannot see is refused now, not when someone runs it).
    Not an admin: the report is private to them."""
    if not isinstance(document, Mapping):
        raise ValidationFailed("a report must be an object")
    document = dict(document)
    name = document.get("api_name")
    existing = store.model.definitions.get("report", name) if isinstance(name, str) else None
    if creating and existing is not None:
        raise ValidationFailed(
            f"api_name: a report {name!r} exists", details={"fields": {"api_name": ["a report with this name exists"]}}
        )
    if not creating and existing is None:
        raise NotFound(f"no report {name!r}")
    if existing is not None and not may_edit(existing.document, actor.user_id, admin=admin):
        raise Forbidden("only its owner or an admin (manage metadata) may change this report")
    if not admin:
        document["private_to"] = actor.user_id
    elif "private_to" not in document and existing is not None:
        document["private_to"] = existing.document.get("private_to")
    if document.get("private_to") is None:
        document.pop("private_to", None)
    from .engine import run_report

    run_report(store, document, RunOptions(limit=1))  # the user's own check: fields, filter
    verb = "create" if creating else "change"
    with metadata_service(instance, binding, actor).change(f"{verb} report {name}") as tx:
        stored = tx.put("report", None, document)
    return stored


def delete(instance, binding, actor: audit.Actor, model: CompiledModel, name: str, *, admin: bool) -> None:
    document = find(model, name, actor.user_id)
    if not may_edit(document, actor.user_id, admin=admin):
        raise Forbidden("only its owner or an admin (manage metadata) may delete this report")
    with metadata_service(instance, binding, actor).change(f"delete report {name}") as tx:
        tx.delete("report", None, name)


def options_for(settings: Mapping[str, Any], locale: str | None, **extra) -> RunOptions:
    """The run options of a tenant's settings (its time zone and fiscal year) and a viewer's locale."""
    start = settings.get("fiscal_year_start", 1)
    return RunOptions(
        locale=locale,
        time_zone=str(settings.get("default_time_zone") or "UTC"),
        fiscal_year_start=start if isinstance(start, int) and 1 <= start <= 12 else 1,
        **extra,
    )
