"""What every setup screen (``/setup/…``) shares: the right that opens it,
the sections of its side navigation, the one decorator that guards a setup
route, and the pipeline errors placed beside the controls that caused them.

A setup screen changes metadata only through the change pipeline
(``context.metadata_service().change(...)``: one transaction, a revision, an
audit entry) and access only through the access services, exactly as the
JSON API does; it never writes a table itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import Flask, current_app, g, url_for
from flask_babel import lazy_gettext

from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of

METADATA = "manage_metadata"
ACCESS = "manage_access"
RIGHTS = (METADATA, ACCESS)


@dataclass(frozen=True)
class Section:
    """One entry of the setup navigation; shown when its endpoint exists and
    the user holds its right."""

    endpoint: str
    label: object  # a lazy string
    icon: str
    right: str
    group: object


_BUILD = lazy_gettext("Build")
_AUTOMATE = lazy_gettext("Automate")
_PEOPLE = lazy_gettext("Users and access")
_GOVERN = lazy_gettext("Govern")

SECTIONS = (
    Section("ui.setup_objects", lazy_gettext("Objects and fields"), "boxes", METADATA, _BUILD),
    Section("ui.setup_apps", lazy_gettext("Apps and navigation"), "grid-3x3-gap", METADATA, _BUILD),
    Section("ui.setup_automations", lazy_gettext("Automations"), "lightning-charge", METADATA, _AUTOMATE),
    Section("ui.setup_automation_runs", lazy_gettext("Run log"), "journal-text", METADATA, _AUTOMATE),
    Section("ui.setup_outbox", lazy_gettext("Outbox"), "send", METADATA, _AUTOMATE),
    Section("ui.setup_marketing", lazy_gettext("Marketing"), "envelope", METADATA, _AUTOMATE),
    Section("ui.setup_users", lazy_gettext("Users"), "people", ACCESS, _PEOPLE),
    Section("ui.setup_roles", lazy_gettext("Roles"), "diagram-3", ACCESS, _PEOPLE),
    Section("ui.setup_teams", lazy_gettext("Teams"), "person-workspace", ACCESS, _PEOPLE),
    Section("ui.setup_permissions", lazy_gettext("Permissions"), "shield-lock", ACCESS, _PEOPLE),
    Section("ui.setup_sharing", lazy_gettext("Sharing"), "share", ACCESS, _PEOPLE),
    Section("ui.setup_sharing_rules", lazy_gettext("Sharing rules"), "diagram-2", ACCESS, _PEOPLE),
    Section("ui.setup_pools", lazy_gettext("Public pools"), "inbox", ACCESS, _PEOPLE),
    Section("ui.setup_explain", lazy_gettext("Why can a user see a record?"), "question-circle", ACCESS, _PEOPLE),
    Section("ui.setup_revisions", lazy_gettext("Revisions"), "clock-history", METADATA, _GOVERN),
    Section("ui.setup_recycle_bin", lazy_gettext("Recycle bin"), "trash", METADATA, _GOVERN),
    Section("ui.setup_audit", lazy_gettext("Audit log"), "card-checklist", ACCESS, _GOVERN),
    Section("ui.setup_plugins", lazy_gettext("Plugins"), "plug", METADATA, _GOVERN),
    Section("ui.setup_settings", lazy_gettext("Organisation settings"), "building-gear", ACCESS, _GOVERN),
)


def init_setup(app: Flask) -> None:
    app.jinja_env.globals.update(
        may_setup=may_setup, setup_navigation=setup_navigation, setup_url=setup_url, rule_completions=rule_completions
    )


def setup_route(rule: str, right: str = METADATA, **options) -> Callable:
    """``@setup_route("/setup/…", right)``: a route of the ``ui`` blueprint
    that answers 403 unless the user holds ``right`` (manage_metadata or
    manage_access). Every ``/setup`` route is declared with it (a test walks
    the URL map to make sure)."""
    if not rule.startswith("/setup"):
        raise ValueError(f"setup routes live under /setup, not {rule!r}")
    if right not in RIGHTS:
        raise ValueError(f"unknown setup right {right!r}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            context.guard().require_permission(right)
            return view(*args, **kwargs)

        guarded.setup_right = right
        blueprint.route(rule, **options)(guarded)
        return guarded

    return decorate


def held_rights() -> frozenset[str]:
    """The setup rights the signed-in user holds (once per request)."""
    if "setup_rights" not in g:
        guard = context.guard()
        g.setup_rights = frozenset(right for right in RIGHTS if guard.may(right))
    return g.setup_rights


def may_setup() -> bool:
    """Whether the user sees the setup link at all."""
    return bool(held_rights())


def setup_navigation() -> list[tuple[object, list[Section]]]:
    """The setup sections the user may open, grouped, in order."""
    rights = held_rights()
    views = current_app.view_functions
    groups: dict[str, tuple[object, list[Section]]] = {}
    for section in SECTIONS:
        if section.right in rights and section.endpoint in views:
            groups.setdefault(str(section.group), (section.group, []))[1].append(section)
    return list(groups.values())


def setup_url(endpoint: str, **values) -> str | None:
    """``url_for`` for a setup screen that may not be built yet (None then),
    so tabs and links appear as their screens land."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def setup_object(name: str) -> CompiledObject:
    """The object a setup screen edits (whether or not the admin may read
    its records); 404 when there is none."""
    obj = context.model().object(name)
    if obj is None:
        raise NotFound(f"no object {name!r}")
    return obj


def stored_document(kind: str, obj: CompiledObject, name: str) -> dict | None:
    """The stored definition ``name`` of ``kind`` scoped to ``obj`` (a layout, a list view), if any."""
    definition = context.model().definitions.get(kind, scoped_key(obj.api_name, name))
    return definition.document if definition is not None else None


def field_errors(exc: MetacrmError) -> dict[str, list[str]]:
    """A refusal's messages by the member (field, property) they belong to;
    what names no member goes under ``$``, shown above the form."""
    details = exc.details if isinstance(exc.details, dict) else {}
    fields = details.get("fields") or {}
    errors = {str(name): [str(m) for m in messages] for name, messages in fields.items()}
    return errors or {"$": [exc.message]}


def rule_completions(object_name: str) -> list[tuple[str, str]]:
    """The names a rule on ``object_name`` may use, with their labels: its
    fields, the system fields, and one hop through each lookup
    (``account.industry``), for the rule editor's list of fields."""
    model = context.model()
    obj = model.object(object_name)
    if obj is None:
        return []
    names = [(name, label_of(field.definition, "label", name)) for name, field in obj.fields.items()]
    names += [(name, name) for name in SYSTEM_FIELDS if name not in obj.fields]
    for name, field in obj.fields.items():
        target = model.object(field.reference_target) if field.reference_target else None
        if target is None:
            continue
        prefix = label_of(field.definition, "label", name)
        for other, other_field in target.fields.items():
            names.append((f"{name}.{other}", f"{prefix} › {label_of(other_field.definition, 'label', other)}"))
    return names
