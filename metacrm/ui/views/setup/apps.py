"""Apps and navigation: the order of the objects in the navigation
(``nav_order`` / ``nav_hidden`` of each object) and their grouping into apps
(the ``app`` definition kind: Sales, Service, Marketing…), per role. Every
change goes through the metadata change pipeline (a revision, audited,
rolled back like the rest); the app switcher of the shell reads the result
(:func:`metacrm.ui.screens.nav_apps`)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from metacrm.platform.errors import Conflict, NotFound, ValidationFailed
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of
from metacrm.ui.screens import ALL_OBJECTS, SESSION_APP, nav_apps
from metacrm.ui.setup import METADATA, field_errors, setup_route
from metacrm.ui.views.setup.access_common import role_label_in

APP_ICONS = ("grid", "briefcase", "telephone", "star", "people", "building", "inbox", "calendar-event", "kanban")
NAV_STEP = 10


@blueprint.get("/apps/<name>")
def switch_app(name):
    """The app switcher: remember the app (or "All objects") and open its first object."""
    if name == ALL_OBJECTS:
        session[SESSION_APP] = ALL_OBJECTS
        return redirect(url_for("ui.home"))
    app = next((app for app in nav_apps() if app.api_name == name), None)
    if app is None:
        raise NotFound(f"no app {name!r}")
    session[SESSION_APP] = name
    readable = {obj.api_name for obj in context.model().objects.values() if context.guard().permits("read", obj)}
    first = next((obj for obj in app.objects if obj in readable), None)
    return redirect(f"/o/{first}" if first else url_for("ui.home"))


def _objects_in_nav_order() -> list[dict]:
    """Every live object's document, in the navigation's order."""
    documents = context.model().definitions.objects()
    return sorted(
        documents,
        key=lambda d: (
            d.get("nav_order") is None,
            d.get("nav_order") or 0,
            label_of(d, "plural_label", d["api_name"]).casefold(),
        ),
    )


def _roles() -> list[tuple[str, str]]:
    return [
        (role.api_name, role_label_in(role))
        for role in sorted(context.guard().policy.roles.values(), key=lambda r: role_label_in(r).casefold())
    ]


def _apps() -> list[dict]:
    return sorted(
        (d.document for d in context.model().definitions.live("app")),
        key=lambda d: (d.get("order") is None, d.get("order") or 0, label_of(d, "label", d["api_name"]).casefold()),
    )


def _page(errors=None, status: int = 200, order=None, hidden=None):
    objects = _objects_in_nav_order()
    if order is not None:  # the admin's draft, kept after a refusal
        by_name = {d["api_name"]: d for d in objects}
        objects = [by_name[n] for n in order if n in by_name] + [d for d in objects if d["api_name"] not in order]
    hidden = {d["api_name"] for d in objects if d.get("nav_hidden")} if hidden is None else set(hidden)
    labels = {d["api_name"]: label_of(d, "plural_label", d["api_name"]) for d in context.model().definitions.objects()}
    return render_template(
        "setup/apps/index.html",
        objects=objects,
        hidden=hidden,
        apps=_apps(),
        labels=labels,
        roles=dict(_roles()),
        errors=errors or {},
    ), status


@setup_route("/setup/apps", METADATA)
def setup_apps():
    """The navigation's order (drag, or the move buttons) and the apps."""
    return _page()


@setup_route("/setup/apps/order", METADATA, methods=["POST"])
def setup_apps_order():
    """Save the navigation: ``order`` lists the objects top to bottom,
    ``hidden`` those left out of it. One revision for all that changed."""
    order = request.form.getlist("order")
    hidden = set(request.form.getlist("hidden"))
    live = {d["api_name"]: d for d in context.model().definitions.objects()}
    unknown = [name for name in [*order, *hidden] if name not in live]
    if unknown or len(set(order)) != len(order):
        message = _("The list of objects changed meanwhile: reload the page and try again.")
        return _page({"$": [message]}, 422, order, hidden)
    rest = [name for name, _doc in sorted(live.items()) if name not in order]
    try:
        with context.metadata_service().change("order the navigation") as tx:
            for position, name in enumerate([*order, *rest]):
                current, patch = live[name], {}
                if current.get("nav_order") != (position + 1) * NAV_STEP:
                    patch["nav_order"] = (position + 1) * NAV_STEP
                if bool(current.get("nav_hidden")) != (name in hidden):
                    patch["nav_hidden"] = name in hidden
                if patch:
                    tx.update_object(name, patch)
    except (ValidationFailed, Conflict) as exc:
        return _page(field_errors(exc), exc.status, order, hidden)
    if request.headers.get("HX-Request"):
        return render_template("setup/apps/_saved.html")
    flash(_("The navigation is saved."), "success")
    return redirect(url_for("ui.setup_apps"))


# -- one app ---------------------------------------------------------------------------------------------


def _app_form(document: dict, errors: dict, *, creating: bool, status: int = 200):
    chosen = list(document.get("objects") or [])
    others = [d for d in _objects_in_nav_order() if d["api_name"] not in chosen]
    labels = {d["api_name"]: label_of(d, "plural_label", d["api_name"]) for d in context.model().definitions.objects()}
    return render_template(
        "setup/apps/form.html",
        app=document,
        creating=creating,
        chosen=[n for n in chosen if n in labels],
        others=[d["api_name"] for d in others],
        labels=labels,
        roles=_roles(),
        icon_pairs=[(name, name) for name in APP_ICONS],
        errors=errors,
    ), status


def _document_from_form(api_name: str) -> dict:
    form = request.form
    document: dict = {
        "api_name": api_name,
        "label": form.get("label", "").strip(),
        "icon": form.get("icon", "").strip() or "grid",
        "objects": form.getlist("objects"),
        "roles": form.getlist("roles"),
    }
    order = form.get("order", "").strip()
    document["order"] = int(order) if order.isdigit() else (order or None)
    zh = form.get("label_zh_CN", "").strip()
    if zh:
        document["translations"] = {"zh_CN": {"label": zh}}
    description = form.get("description", "").strip()
    if description:
        document["description"] = description
    return document


def _save_app(document: dict, *, creating: bool):
    try:
        if creating and context.model().definitions.get("app", document["api_name"]) is not None:
            message = _("An app with this api name exists already.")
            raise ValidationFailed(message, details={"fields": {"api_name": [message]}})
        verb = "create" if creating else "save"
        with context.metadata_service().change(f"{verb} app {document['api_name']}") as tx:
            tx.put("app", None, document)
    except ValidationFailed as exc:
        return _app_form(document, _by_form_name(field_errors(exc)), creating=creating, status=422)
    flash(_("The app is saved."), "success")
    return redirect(url_for("ui.setup_apps"))


def _by_form_name(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """``objects[2]`` → ``objects``, ``translations.zh_CN.label`` → ``label_zh_CN``."""
    out: dict[str, list[str]] = {}
    for name, messages in errors.items():
        key = name.split("[", 1)[0].split(".", 1)[0]
        if key == "translations":
            key = "label_zh_CN"
        out.setdefault(key, []).extend(messages)
    return out


@setup_route("/setup/apps/new", METADATA, methods=["GET", "POST"])
def setup_app_new():
    if request.method == "GET":
        return _app_form({"icon": "grid", "objects": [], "roles": []}, {}, creating=True)
    return _save_app(_document_from_form(request.form.get("api_name", "").strip()), creating=True)


@setup_route("/setup/apps/<item>", METADATA, methods=["GET", "POST"])
def setup_app(item):
    definition = context.model().definitions.get("app", item)
    if definition is None:
        raise NotFound(f"no app {item!r}")
    if request.method == "GET":
        return _app_form(definition.document, {}, creating=False)
    return _save_app(_document_from_form(item), creating=False)


@setup_route("/setup/apps/<item>/delete", METADATA, methods=["POST"])
def setup_app_delete(item):
    with context.metadata_service().change(f"delete app {item}") as tx:
        tx.delete("app", None, item)
    flash(_("The app is deleted."), "success")
    return redirect(url_for("ui.setup_apps"))
