"""Users (``/setup/users``): the members of the organisation with their
roles, teams and whether they may sign in; adding a user (with a temporary
password shown once), changing their roles, teams and manager (who they
report to: a typeahead of members, never a cycle), deactivating and
reactivating them, resetting their password."""

from __future__ import annotations

from flask import g, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.access import invitations, sharing
from metacrm.access.members import check_roles, set_manager, set_member_roles
from metacrm.platform import identity as identities
from metacrm.platform.errors import MetacrmError, NotFound, ValidationFailed
from metacrm.platform.web import current_actor, current_identity, current_tenant
from metacrm.plugins import context
from metacrm.ui.setup import ACCESS, setup_route
from metacrm.ui.views.setup.access_common import (
    done,
    errors_of,
    members,
    role_choices,
    status_of,
    team_choices,
    teams,
)

SECTION = "ui.setup_users"


def _page(status: int = 200, **extra):
    values = {
        "section": SECTION,
        "users": members(),
        "roles": role_choices(),
        "role_labels": dict(role_choices()),
        "team_labels": dict(team_choices()),
        "form": {"email": "", "display_name": "", "roles": []},
        "errors": {},
        "temporary_password": None,
    }
    values.update(extra)
    return render_template("setup/access/users.html", **values), status, {"Cache-Control": "no-store"}


@setup_route("/setup/users", ACCESS, methods=["GET"])
def setup_users():
    """Every member with roles, teams and state; the form that adds one."""
    return _page()


@setup_route("/setup/users", ACCESS, methods=["POST"])
def setup_user_create():
    """Add a user: a login with a temporary password (shown once here) and the chosen roles."""
    form = {
        "email": request.form.get("email", "").strip(),
        "display_name": request.form.get("display_name", "").strip(),
        "roles": request.form.getlist("roles"),
    }
    instance, binding = context.instance(), current_tenant()
    if request.form.get("invite"):
        return _invite(form)
    try:
        email = identities.normalize_email(form["email"])
        check_roles(binding, form["roles"])
        password = identities.temporary_password()
        user_id = identities.create_user(
            instance,
            tenant=binding.slug,
            email=email,
            password=password,
            display_name=form["display_name"],
            actor=current_actor(),
        )
        set_member_roles(instance, binding, user_id, form["roles"], current_actor(), editor=current_identity().user_id)
    except MetacrmError as exc:
        return _page(status_of(exc), form=form, errors=errors_of(exc, {"role": "roles"}))
    return _page(201, temporary_password={"email": email, "password": password, "user_id": user_id}, created=True)


def _invite(form: dict):
    """Invite by e-mail: the user sets their own password through a one-time link (metacrm.access.invitations)."""
    binding = current_tenant()
    link = url_for("ui.accept_invitation", tenant=binding.slug, token="TOKEN", _external=True).replace(
        "/TOKEN", "/{token}"
    )
    try:
        sent = invitations.invite(
            context.instance(),
            binding,
            email=form["email"],
            display_name=form["display_name"],
            roles=form["roles"],
            link=link,
            organisation=g.tenant.name if getattr(g, "tenant", None) is not None else binding.slug,
            actor=current_actor(),
            editor=current_identity().user_id,
        )
    except MetacrmError as exc:
        return _page(status_of(exc), form=form, errors=errors_of(exc, {"role": "roles"}))
    return done(
        _("Invitation sent to %(email)s: the link works once, for 7 days.", email=sent["email"]),
        url_for("ui.setup_users"),
    )


# -- one user --------------------------------------------------------------------------------------


def _member(user_id: int) -> dict:
    for member in members():
        if member["id"] == user_id:
            return member
    raise NotFound(f"user {user_id} is no member of this organisation")


def _user_page(user_id: int, status: int = 200, **extra):
    member = _member(user_id)
    values = {
        "section": SECTION,
        "member": member,
        "roles": role_choices(),
        "teams": team_choices(),
        "chosen_roles": member["roles"],
        "chosen_teams": member["teams"],
        "errors": {},
        "temporary_password": None,
        "is_me": user_id == current_identity().user_id,
    }
    everyone = members()
    values["manager_options"] = [_manager_text(o["id"], everyone) for o in everyone if o["id"] != user_id]
    values["manager_text"] = _manager_text(member.get("manager_id"), everyone)
    values["reports"] = [_manager_text(o["id"], everyone) for o in everyone if o.get("manager_id") == user_id]
    values.update(extra)
    return render_template("setup/access/user.html", **values), status, {"Cache-Control": "no-store"}


@setup_route("/setup/users/<int:id>", ACCESS, methods=["GET"])
def setup_user(id):
    """One user: roles, teams, sign-in state and password."""
    return _user_page(id)


@setup_route("/setup/users/<int:id>/roles", ACCESS, methods=["POST"])
def setup_user_roles(id):
    """Set the user's roles (not one's own: another administrator must; never the last admin)."""
    wanted = request.form.getlist("roles")
    try:
        set_member_roles(
            context.instance(), current_tenant(), id, wanted, current_actor(), editor=current_identity().user_id
        )
    except MetacrmError as exc:
        if isinstance(exc, NotFound):
            raise
        return _user_page(id, status_of(exc), chosen_roles=wanted, errors={"roles": [exc.message]})
    return done(_("Roles saved."), url_for("ui.setup_user", id=id))


def _manager_text(member_id: int | None, everyone: list[dict]) -> str:
    """How the manager typeahead shows a member: "Name <e-mail>"."""
    for other in everyone:
        if other["id"] == member_id:
            return f"{other['display_name']} <{other['email']}>" if other["display_name"] else other["email"]
    return ""


def _manager_from_text(text: str, everyone: list[dict]) -> int | None | str:
    """The member the typeahead's text names (by "<e-mail>", e-mail or exact
    name; None for empty), or the text itself when it names nobody."""
    text = text.strip()
    if not text:
        return None
    email = text[text.rfind("<") + 1 : -1] if text.endswith(">") and "<" in text else text
    for other in everyone:
        if other["email"].casefold() == email.casefold():
            return other["id"]
    named = [o for o in everyone if (o["display_name"] or "").casefold() == text.casefold()]
    return named[0]["id"] if len(named) == 1 else text


@setup_route("/setup/users/<int:id>/manager", ACCESS, methods=["POST"])
def setup_user_manager(id):
    """Set who the user reports to (a typeahead of members; empty clears it; never a cycle)."""
    everyone = members()
    text = request.form.get("manager", "")
    chosen = _manager_from_text(text, everyone)
    if isinstance(chosen, str):
        message = _("No member matches %(text)s: pick one from the list.", text=chosen)
        return _user_page(id, 422, manager_text=text, errors={"manager": [message]})
    try:
        set_manager(context.instance(), current_tenant(), id, chosen, current_actor())
    except MetacrmError as exc:
        if isinstance(exc, NotFound):
            raise
        messages = errors_of(exc).get("manager_id") or [exc.message]
        return _user_page(id, status_of(exc), manager_text=text, errors={"manager": messages})
    return done(_("Manager saved."), url_for("ui.setup_user", id=id))


@setup_route("/setup/users/<int:id>/teams", ACCESS, methods=["POST"])
def setup_user_teams(id):
    """Put the user in exactly the chosen teams."""
    wanted = request.form.getlist("teams")
    _member(id)
    instance, binding = context.instance(), current_tenant()
    known = {t["api_name"]: t for t in teams()}
    unknown = [t for t in wanted if t not in known]
    if unknown:
        error = ValidationFailed(
            "unknown team", details={"fields": {"teams": [_("No team %(name)s.", name=n) for n in unknown]}}
        )
        return _user_page(id, 422, chosen_teams=wanted, errors=errors_of(error))
    try:
        for name, team in known.items():
            inside = id in team["members"]
            if inside != (name in wanted):
                others = [u for u in team["members"] if u != id]
                sharing.update_team(
                    instance, binding, name, {"members": others + ([id] if name in wanted else [])}, current_actor()
                )
    except MetacrmError as exc:
        return _user_page(id, status_of(exc), chosen_teams=wanted, errors={"teams": [exc.message]})
    return done(_("Teams saved."), url_for("ui.setup_user", id=id))


@setup_route("/setup/users/<int:id>/active", ACCESS, methods=["POST"])
def setup_user_active(id):
    """Deactivate (sign-in refused, sessions ended) or reactivate the user."""
    active = request.form.get("active") == "1"
    try:
        identities.set_active(context.instance(), current_tenant().slug, id, active, actor=current_actor())
    except MetacrmError as exc:
        if isinstance(exc, NotFound):
            raise
        return _user_page(id, status_of(exc), errors={"active": [exc.message]})
    return done(_("User reactivated.") if active else _("User deactivated."), url_for("ui.setup_user", id=id))


@setup_route("/setup/users/<int:id>/password", ACCESS, methods=["POST"])
def setup_user_password(id):
    """A new temporary password, shown once on the answer (never stored in the session)."""
    try:
        password = identities.reset_password(context.instance(), current_tenant().slug, id, actor=current_actor())
    except MetacrmError as exc:
        if isinstance(exc, NotFound):
            raise
        return _user_page(id, status_of(exc), errors={"password": [exc.message]})
    member = _member(id)
    return _user_page(id, temporary_password={"email": member["email"], "password": password, "user_id": id})
