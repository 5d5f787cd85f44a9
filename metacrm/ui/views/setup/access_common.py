"""What the access screens share: the policy as it is now, the one path for
policy changes (:class:`metacrm.access.changes.AccessChanges`, as the access
API uses it), the choices of roles, teams and members, and the answers of a
form post (a redirect with a message on success; the page again, status 422,
with the refusal beside the control that caused it)."""

from __future__ import annotations

from flask import flash, redirect
from flask_babel import gettext
from flask_babel import gettext as _

from metacrm.access.changes import AccessChanges
from metacrm.access.members import member_list
from metacrm.access.policy import CompiledPolicy, policy_for
from metacrm.access.sharing import list_teams
from metacrm.platform.errors import MetacrmError
from metacrm.platform.web import current_actor, current_tenant
from metacrm.plugins import context
from metacrm.ui.i18n import label_of, locale_name
from metacrm.ui.setup import field_errors


def policy() -> CompiledPolicy:
    """The tenant's access policy as it is now (after a change made in this request, too)."""
    return policy_for(context.instance(), current_tenant())


def changes() -> AccessChanges:
    """Policy changes as the signed-in admin (roles they hold are not theirs to change)."""
    guard = context.guard()
    return AccessChanges(context.instance(), current_tenant(), current_actor(), held=guard.roles, policy=guard.policy)


def role_choices(current: CompiledPolicy | None = None) -> list[tuple[str, str]]:
    """(api name, label in the user's language) of every role, by label."""
    current = current or policy()
    return sorted(((name, role_label_in(role)) for name, role in current.roles.items()), key=lambda r: r[1].lower())


def role_label_in(role) -> str:
    """A role's label in the user's language: its translation, else the
    label (through the catalog, for the standard roles' labels)."""
    translated = role.translations.get(locale_name())
    return translated or gettext(role.label)


def members() -> list[dict]:
    """Every member of the tenant with roles and teams (access.members.member_list)."""
    return member_list(context.instance(), current_tenant())


def member_choices() -> list[tuple[int, str]]:
    return [(m["id"], f"{m['display_name']} <{m['email']}>") for m in members()]


def teams() -> list[dict]:
    with current_tenant().connect() as conn:
        return list_teams(conn)


def team_choices() -> list[tuple[str, str]]:
    return [(t["api_name"], t["label"]) for t in teams()]


def object_choices() -> list[tuple[str, str]]:
    """(api name, label in the user's language) of every live object, by label."""
    model = context.model()
    out = [(name, label_of(obj.definition, "label", obj.label)) for name, obj in model.objects.items()]
    return sorted(out, key=lambda o: o[1].lower())


def errors_of(exc: MetacrmError, rename: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The refusal's messages by control name (``field_errors``), members renamed by ``rename``."""
    errors = field_errors(exc)
    if rename:
        errors = {rename.get(k, k): v for k, v in errors.items()}
    return errors


def done(message: str, url: str):
    """Post/redirect/get: the message shown on the next page."""
    flash(message, "success")
    return redirect(url, 303)


def saved_message() -> str:
    return _("Saved.")


def status_of(exc: MetacrmError) -> int:
    """The status of a form answered with its refusal: 403 and 409 keep theirs, the rest is 422."""
    return exc.status if exc.status in (403, 409) else 422
