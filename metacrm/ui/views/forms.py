"""The record forms of every object: new (``/o/<object>/new``, pre-filled
from query arguments or a clone), edit (``/o/<object>/<id>/edit``, with the
optimistic lock), the live round trip that evaluates the layouts'
conditions and default values while the user types, and the typeahead of
lookup fields (``/o/<object>/lookup?q=``).

Everything reads and writes through the record store with the user's guard;
the rules are evaluated on the server only (UI.md §1.3). What a form holds is
:class:`metacrm.ui.record_form.RecordForm`.
"""

from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, request

from metacrm.platform import identity as identities
from metacrm.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from metacrm.platform.web import current_identity
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, list_page
from metacrm.ui.blueprint import blueprint
from metacrm.ui.record_form import RecordForm, as_json, blank, loads
from metacrm.ui.screens import object_for
from metacrm.ui.views.duplicates import duplicate_warning

MAX_ID = 2**63 - 1
LOOKUP_LIMIT = 20


def _record_url(object_name: str, record_id: int) -> str:
    return f"/o/{object_name}/{record_id}"  # ui.record_page (UI.md §3)


def _id_arg(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) <= MAX_ID else None


def _render(form: RecordForm, status: int = 200, **extra):
    form.name_references()
    return render_template("forms/form.html", form=form, **extra), status


def _store_errors(form: RecordForm, exc: ValidationFailed | Forbidden) -> None:
    fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
    if fields:
        form.add_errors(fields)
    else:
        form.errors.setdefault("$", []).append(exc.message)


@blueprint.route("/o/<object>/new", methods=["GET", "POST"])
def new_record(object):
    obj = object_for(object, "create")
    form = RecordForm(obj)
    if request.method == "GET":
        form.fixed_defaults()
        source = _id_arg(request.args.get("clone"))
        if source is not None:
            form.clone(context.store().get(object, source))
        form.read(request.args, errors=False)  # ?account=5&activity_type=call
        form.evaluate()
        return _render(form)
    draft = form.read(request.form)
    form.evaluate(defaults_for=[])  # the store fills in what the user left blank
    if form.errors:
        form.missing(draft)
        return _render(form, 422)
    try:
        record = context.store().create(object, form.payload(draft))
    except (ValidationFailed, Forbidden) as exc:
        _store_errors(form, exc)
        return _render(form, 422, duplicates=duplicate_warning(exc))
    return redirect(_record_url(object, record["id"]))


@blueprint.route("/o/<object>/<int:record_id>/edit", methods=["GET", "POST"])
def edit_record(object, record_id):
    obj = object_for(object, "update")
    store = context.store()
    record = store.get(object, record_id, action="update")
    form = RecordForm(obj, record)
    if request.method == "GET":
        form.evaluate(defaults_for=[])
        return _render(form, version=record["version"], original=form.original_json())
    draft = form.read(request.form)
    form.evaluate(defaults_for=[])
    version = _id_arg(request.form.get("version")) or record["version"]
    original = request.form.get("_original") or form.original_json()
    if form.errors:
        form.missing(draft)
        return _render(form, 422, version=version, original=original)
    try:
        store.update(object, record_id, form.payload(draft), expected_version=version)
    except Conflict as exc:
        if not isinstance(exc.details, dict) or "current_version" not in exc.details:
            raise
        current = store.get(object, record_id, action="update")
        conflict = _conflict(form, loads(original), current)
        return _render(form, 409, version=current["version"], original=form.original_json(current), conflict=conflict)
    except (ValidationFailed, Forbidden) as exc:
        _store_errors(form, exc)
        return _render(form, 422, version=version, original=original, duplicates=duplicate_warning(exc))
    return redirect(_record_url(object, record_id))


def _conflict(form: RecordForm, original: dict, current: dict) -> dict:
    """Who saved the record since the form was opened, and which of the
    form's fields they changed: their value now beside the user's."""
    changes = [
        {"field": form.fields[name], "theirs": current.get(name), "yours": form.values.get(name)}
        for name in form.fields
        if name in original and as_json(current.get(name)) != original[name]
    ]
    who = None
    if current.get("updated_by"):
        identity = identities.identity_for(
            current_app.extensions["metacrm"], current["updated_by"], current_identity().tenant_slug
        )
        who = (identity.display_name or identity.email) if identity else None
    return {"who": who, "at": current.get("updated_at"), "changes": changes}


@blueprint.post("/o/<object>/form-state")
def form_state(object):
    """The live round trip: the draft in, the fields whose conditions or
    default values changed out (htmx out-of-band swaps)."""
    record_id = _id_arg(request.form.get("_record"))
    if record_id is not None:
        obj = object_for(object, "update")
        form = RecordForm(obj, context.store().get(object, record_id, action="update"))
    else:
        form = RecordForm(object_for(object, "create"))
    form.read(request.form, errors=False)
    shown = loads(request.form.get("_state"))
    applied = loads(request.form.get("_defaults"))
    posted = dict(form.values)
    # A field keeps getting its default value until the user changes it.
    defaults_for = [
        name
        for name in form.fields
        if record_id is None
        and form.editable(name)
        and (blank(posted.get(name)) or (name in applied and as_json(posted.get(name)) == applied[name]))
    ]
    form.evaluate(defaults_for=defaults_for)
    now = loads(form.state_codes())
    changed = [
        name
        for name in form.fields
        if now.get(name, "100") != shown.get(name, "100")
        or (name in form.state.defaults and as_json(form.values.get(name)) != as_json(posted.get(name)))
    ]
    form.name_references()
    return render_template("forms/live.html", form=form, changed=changed)


@blueprint.get("/o/<object>/lookup")
def lookup(object):
    """Records of ``object`` the user may read whose name (or search fields)
    contain ``q``: ``[{"value": id, "text": name}]`` for the typeahead."""
    obj = object_for(object, "read")
    readable = context.guard().readable_fields(obj)
    name_field = obj.name_field if obj.name_field in readable else None
    q = (request.args.get("q") or "").strip()[:100]
    arguments = {"limit": LOOKUP_LIMIT, "fields": [name_field] if name_field else []}
    if q and any(f in readable for f in obj.search_fields):
        arguments["q"] = q
    elif q and name_field:
        arguments["filters"] = ((name_field, "contains", q),)
    if name_field:
        arguments["sort"] = name_field
    try:
        page = list_page(context.store(), object, ListRequest(**arguments))
    except NotFound:
        return jsonify([])
    return jsonify(
        [{"value": r["id"], "text": (r.get(name_field) if name_field else None) or f"#{r['id']}"} for r in page.data]
    )
