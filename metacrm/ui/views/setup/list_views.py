"""The list-view and kanban editor (``/setup/objects/<object>/list-views``):
the object's shared list views (metadata ``list_view`` definitions) with
their columns (chosen and ordered by dragging), default sort, filter
expression (rule language, checked as the admin types), the picklist that
makes their board and the amount it sums, which one a list opens with;
create, rename, delete. Users' personal views (``metacrm.ui.saved_views``)
are listed and one can be promoted to a shared view: a new definition
through the change pipeline; the personal view stays its owner's
(docs/decisions.md, "Promoting a personal list view").
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.platform import identity as identities
from metacrm.platform.errors import Conflict, MetacrmError, NotFound, ValidationFailed
from metacrm.platform.web import current_tenant
from metacrm.plugins import context
from metacrm.plugins.records import FILTER_PARAM, FILTER_PREFIX
from metacrm.rules import RuleError
from metacrm.rules.saving import LIST_VIEW_FILTER, typecheck
from metacrm.ui import saved_views
from metacrm.ui.i18n import label_of
from metacrm.ui.listing import board_fields, default_view, is_amount
from metacrm.ui.setup import METADATA, setup_object, setup_route, stored_document
from metacrm.ui.views.setup.layouts import pipeline_errors, rule_message

NEW = "new"  # the URL of the creation form (not an api name)
API_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Pipeline paths -> the form member that caused them.
MEMBERS = {"sort": "sort_field", "board.by": "board_by", "board.sum": "board_sum"}
EXTRA_COLUMNS = ("created_at", "updated_at", "owner_id")


def _views(obj: CompiledObject) -> list[dict]:
    return [d.document for d in context.model().definitions.scoped("list_view", obj.api_name)]


def _column_choices(obj: CompiledObject) -> list[tuple[str, str]]:
    names = [(name, label_of(f.definition, default=name)) for name, f in obj.fields.items()]
    extra = {"created_at": _("Created"), "updated_at": _("Last modified"), "owner_id": _("Owner")}
    return names + [(n, extra[n]) for n in EXTRA_COLUMNS if n in SYSTEM_FIELDS and n not in obj.fields]


@setup_route("/setup/objects/<object>/list-views", METADATA)
def setup_list_views(object):
    """The shared views of the object and the users' personal ones."""
    obj = setup_object(object)
    views = _views(obj)
    opened = default_view(views)
    users = {u["id"]: u for u in identities.list_users(context.instance(), current_tenant().slug)}
    personal = saved_views.views_of_everyone(current_tenant(), obj.api_name)
    return render_template(
        "setup/list_views/index.html",
        obj=obj,
        object_name=obj.api_name,
        views=views,
        opened=opened["api_name"] if opened else None,
        personal=personal,
        users=users,
        field_label=lambda name: _field_label(obj, name),
    )


def _field_label(obj: CompiledObject, name: str) -> str:
    field_type = obj.fields.get(name)
    return (
        label_of(field_type.definition, default=name)
        if field_type is not None
        else dict(_column_choices(obj)).get(name, name)
    )


# -- one view -----------------------------------------------------------------------------------------


def _values_of(document: dict) -> dict:
    """The form's values for a stored view."""
    sort = (document.get("sort") or "").split(",")[0]
    board = document.get("board") or {}
    return {
        "api_name": document.get("api_name", ""),
        "label": document.get("label", ""),
        "label_zh": ((document.get("translations") or {}).get("zh_CN") or {}).get("label", ""),
        "columns": list(document.get("columns") or []),
        "sort_field": sort.lstrip("-"),
        "sort_direction": "desc" if sort.startswith("-") else "asc",
        "filter": document.get("filter") or "",
        "board_by": board.get("by", ""),
        "board_sum": board.get("sum", ""),
        "is_default": bool(document.get("default")),
    }


def _values_from(form: MultiDict) -> dict:
    return {
        "api_name": form.get("api_name", "").strip(),
        "label": form.get("label", "").strip(),
        "label_zh": form.get("label_zh", "").strip(),
        "columns": list(dict.fromkeys(c for c in form.getlist("columns") if c)),
        "sort_field": form.get("sort_field", ""),
        "sort_direction": "desc" if form.get("sort_direction") == "desc" else "asc",
        "filter": form.get("filter", "").strip(),
        "board_by": form.get("board_by", ""),
        "board_sum": form.get("board_sum", ""),
        "is_default": form.getlist("is_default")[-1:] == ["1"],
    }


def _document(values: dict, stored: dict | None) -> dict:
    """The definition: the stored one (its ``filters``, ``home``, other
    languages, further sort keys kept) with what the form edits."""
    document = dict(stored or {})
    document.update(api_name=values["api_name"], label=values["label"], columns=values["columns"])
    translations = dict(document.get("translations") or {})
    translations.pop("zh_CN", None)
    if values["label_zh"]:
        translations["zh_CN"] = {"label": values["label_zh"]}
    document["translations"] = translations
    if not translations:
        document.pop("translations")
    sort = ""
    if values["sort_field"]:
        sort = ("-" if values["sort_direction"] == "desc" else "") + values["sort_field"]
        rest = (document.get("sort") or "").split(",")[1:]
        if (document.get("sort") or "").split(",")[0].lstrip("-") == values["sort_field"] and rest:
            sort = ",".join([sort, *rest])
    document["sort"] = sort or None
    document["filter"] = values["filter"] or None
    board = {k: v for k, v in (("by", values["board_by"]), ("sum", values["board_sum"])) if v}
    document["board"] = board or None
    if values["is_default"]:
        document["default"] = True
    else:
        document.pop("default", None)
    return document


def _editor(obj: CompiledObject, values: dict, errors: dict, *, creating: bool, status: int = 200):
    choices = _column_choices(obj)
    chosen = [c for c in values["columns"] if c in dict(choices)]
    ordered = [(n, dict(choices)[n]) for n in chosen] + [(n, label) for n, label in choices if n not in chosen]
    fields = list(obj.fields.values())
    stored = None if creating else stored_document("list_view", obj, values["api_name"])
    return (
        render_template(
            "setup/list_views/edit.html",
            obj=obj,
            object_name=obj.api_name,
            values=values,
            errors=errors,
            creating=creating,
            columns=ordered,
            sortable=[(f.api_name, label_of(f.definition, default=f.api_name)) for f in fields if f.sortable]
            + [(n, label) for n, label in choices if n in EXTRA_COLUMNS],
            board_choices=[(f.api_name, label_of(f.definition, default=f.api_name)) for f in board_fields(fields)],
            amount_choices=[(f.api_name, label_of(f.definition, default=f.api_name)) for f in fields if is_amount(f)],
            fixed_filters=(stored or {}).get("filters") or {},
            field_label=lambda name: _field_label(obj, name),
        ),
        status,
    )


@setup_route("/setup/objects/<object>/list-views/new", METADATA, methods=["GET", "POST"])
def setup_list_view_new(object):
    obj = setup_object(object)
    if request.method == "GET":
        values = _values_of({"columns": [n for n in [obj.name_field] if n]})
        return _editor(obj, values, {}, creating=True)
    return _save(obj, None, creating=True)


@setup_route("/setup/objects/<object>/list-views/<item>", METADATA, methods=["GET", "POST"])
def setup_list_view(object, item):
    obj = setup_object(object)
    stored = stored_document("list_view", obj, item)
    if stored is None:
        raise NotFound(f"no list view {item!r} on {object}")
    if request.method == "GET":
        return _editor(obj, _values_of(stored), {}, creating=False)
    return _save(obj, stored, creating=False)


def _save(obj: CompiledObject, stored: dict | None, *, creating: bool):
    values = _values_from(request.form)
    if not creating:
        values["api_name"] = stored["api_name"]
    errors: dict[str, list[str]] = {}
    if creating:
        name = values["api_name"]
        if not API_NAME.match(name):
            errors["api_name"] = [_("Lower-case letters, digits and _, starting with a letter.")]
        elif name == NEW or stored_document("list_view", obj, name) is not None:
            errors["api_name"] = [_("A list view with this name exists already.")]
    if not values["label"]:
        errors["label"] = [_("Give the view a name.")]
    if not values["columns"]:
        errors["columns"] = [_("Choose at least one column.")]
    if values["filter"]:
        try:
            typecheck(context.model(), obj.api_name, values["filter"], LIST_VIEW_FILTER)
        except RuleError as exc:
            errors["filter"] = [rule_message(exc)]
        except ValidationFailed as exc:
            errors["filter"] = [exc.message]
    if not errors:
        document = _document(values, stored)
        try:
            with context.metadata_service().change(f"save list_view {obj.api_name}.{document['api_name']}") as tx:
                tx.put("list_view", obj.api_name, document)
                if document.get("default"):  # one view opens the list
                    for other in _views(obj):
                        if other["api_name"] != document["api_name"] and other.get("default"):
                            tx.put("list_view", obj.api_name, {k: v for k, v in other.items() if k != "default"})
                revision = tx.revision
        except (ValidationFailed, RuleError, Conflict) as exc:
            found = pipeline_errors(exc, f"list_view:{obj.api_name}.{document['api_name']}.")
            errors = {}
            for path, messages in found.items():
                member = MEMBERS.get(path) or ("columns" if path.startswith("columns") else path)
                errors.setdefault(member, []).extend(messages)
        else:
            flash(_("List view saved (revision %(number)d).", number=revision), "success")
            return redirect(url_for("ui.setup_list_views", object=obj.api_name), 303)
    return _editor(obj, values, errors, creating=creating, status=422)


@setup_route("/setup/objects/<object>/list-views/<item>/delete", METADATA, methods=["POST"])
def setup_list_view_delete(object, item):
    obj = setup_object(object)
    try:
        with context.metadata_service().change(f"delete list_view {obj.api_name}.{item}") as tx:
            tx.delete("list_view", obj.api_name, item)
    except (ValidationFailed, Conflict) as exc:
        flash(exc.message, "danger")
    else:
        flash(_("List view deleted."), "success")
    return redirect(url_for("ui.setup_list_views", object=obj.api_name), 303)


# -- promoting a personal view ----------------------------------------------------------------------


def _api_name_for(obj: CompiledObject, label: str, view_id: int) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:50]
    if not base or not base[0].isalpha():
        base = f"view_{view_id}"
    taken = {v["api_name"] for v in _views(obj)} | {NEW}
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


def promoted_view(obj: CompiledObject, personal: saved_views.UsersView) -> tuple[dict, list[str]]:
    """The shared view a personal one becomes: its columns, sort and
    conditions (its base view's where it names none), and what could not
    be kept (a search text, filters other than "equals")."""
    args = MultiDict(parse_qsl(personal.query))
    base = stored_document("list_view", obj, args.get("view", "")) if args.get("view") else None
    base = base or {}
    dropped = []
    names = {n for n, _label in _column_choices(obj)}
    columns = [c for c in (args.get("fields") or "").split(",") if c in names] or list(base.get("columns") or [])
    if not columns:
        columns = [n for n in [obj.name_field] if n] or [next(iter(obj.fields))]
    conditions = [text for text in (base.get("filter"), args.get("where")) if text]
    filters = dict(base.get("filters") or {})
    for key, value in args.items(multi=True):
        if not key.startswith(FILTER_PREFIX):
            continue
        match = FILTER_PARAM.match(key.removeprefix(FILTER_PREFIX))
        if match and (match[2] or "eq") == "eq" and match[1] in names:
            filters[match[1]] = value
        else:
            dropped.append(key)
    if args.get("q"):
        dropped.append(_("the search text"))
    document = {
        "api_name": _api_name_for(obj, personal.label, personal.id),
        "label": personal.label,
        "columns": columns,
        "sort": args.get("sort") or base.get("sort") or None,
        "filter": " and ".join(f"({c})" for c in conditions) if len(conditions) > 1 else (conditions or [None])[0],
    }
    if filters:
        document["filters"] = filters
    return document, dropped


@setup_route("/setup/objects/<object>/list-views/promote/<id>", METADATA, methods=["POST"])
def setup_list_view_promote(object, id):
    """A user's personal view becomes a shared view (the personal one stays theirs)."""
    obj = setup_object(object)
    if not id.isdigit():
        raise NotFound(f"no saved view {id!r}")
    personal = saved_views.view_by_id(current_tenant(), obj.api_name, int(id))
    document, dropped = promoted_view(obj, personal)
    try:
        with context.metadata_service().change(
            f"promote personal view {personal.id} to {obj.api_name}.{document['api_name']}"
        ) as tx:
            tx.put("list_view", obj.api_name, document)
    except MetacrmError as exc:
        flash(_("The view could not be shared: %(reason)s", reason=exc.message), "danger")
        return redirect(url_for("ui.setup_list_views", object=obj.api_name), 303)
    flash(_("“%(label)s” is a shared view now; adjust it below.", label=personal.label), "success")
    if dropped:
        flash(_("Not kept (a shared view cannot hold it): %(what)s", what=", ".join(dropped)), "warning")
    return redirect(url_for("ui.setup_list_view", object=obj.api_name, item=document["api_name"]), 303)
