"""The import wizard (``/o/<object>/import``): upload a CSV or XLSX file →
map its columns to fields (the automatic match preselected, a sample of
values beside each) with the options (insert / update / upsert by a key,
dry run, save the mapping) → a progress bar (htmx polling) → the result
with its counts, the row errors and the failed rows to download, fix and
import again. Everything goes through :mod:`metacrm.data.imports.service`
with the signed-in user's store; the import right is checked on every step.
"""

from __future__ import annotations

from flask import redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from metacrm.data.imports import service
from metacrm.data.imports.mapping import importable_fields
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.web import current_tenant
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of
from metacrm.ui.listing import render_block, wants_block
from metacrm.ui.record_form import translated
from metacrm.ui.screens import object_for

TEMPLATE = "imports/wizard.html"
ERRORS_SHOWN = 100


def _obj(object_name: str):
    return object_for(object_name, "import")


@blueprint.url_value_preprocessor
def _upload_limit(endpoint, values):
    """An import's upload may exceed the instance's request limit (it is
    streamed to disk): raised before the CSRF check reads the form."""
    if endpoint == "ui.import_upload_post":
        request.max_content_length = service.MAX_UPLOAD


@blueprint.get("/o/<object>/import")
def import_upload(object):
    obj = _obj(object)
    return render_template(TEMPLATE, step="upload", obj=obj, errors={})


@blueprint.post("/o/<object>/import")
def import_upload_post(object):
    obj = _obj(object)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationFailed(_("Choose a file"), details={"fields": {"file": [_("Choose a .csv or .xlsx file")]}})
        import_id = service.create_draft(
            context.instance(), current_tenant(), context.store(), obj.api_name, upload.stream, upload.filename
        )
    except ValidationFailed as exc:
        return render_template(TEMPLATE, step="upload", obj=obj, errors=_field_errors(exc)), 422
    return redirect(url_for("ui.import_map", object=obj.api_name, import_id=import_id), 303)


def _field_errors(exc: ValidationFailed) -> dict:
    details = exc.details if isinstance(exc.details, dict) else {}
    fields = details.get("fields") or {"$": [exc.message]}
    return {name: [translated(str(m)) for m in messages] for name, messages in fields.items()}


def _choices(obj) -> list[tuple[str, str]]:
    """(value, label) of every field a column can go to; a lookup once per
    field it can be matched on (its target's name, a unique field, its id)."""
    guard = context.guard()
    model = context.model()
    out = []
    for name, field_type in importable_fields(obj, guard).items():
        label = label_of(field_type.definition, "label", name)
        if not field_type.is_reference:
            out.append((name, label))
            continue
        target = model.object(field_type.reference_target)
        if target is None:
            continue
        readable = guard.readable_fields(target)
        matches = [target.name_field] if target.name_field in readable else []
        matches += [
            f
            for f, ft in target.fields.items()
            if f in readable and f != target.name_field and ft.definition.get("unique") and not ft.encrypted
        ]
        for match in matches:
            match_label = label_of(target.fields[match].definition, "label", match)
            out.append((f"{name}|{match}", _("%(field)s (by %(match)s)", field=label, match=match_label)))
        out.append((f"{name}|id", _("%(field)s (by record id)", field=label)))
    return out


def _keys(obj) -> list[tuple[str, str]]:
    readable = context.guard().readable_fields(obj)
    keys = [("id", _("Record id"))]
    for name, field_type in obj.fields.items():
        if name in readable and field_type.definition.get("unique") and not field_type.encrypted:
            keys.append((name, label_of(field_type.definition, "label", name)))
    return keys


def _value(spec) -> str:
    if isinstance(spec, dict):
        return f"{spec.get('field')}|{spec.get('match') or 'id'}" if spec.get("field") else ""
    return spec or ""


def _map_screen(obj, record: dict, *, mapping=None, options=None, errors=None) -> dict:
    proposal = service.proposal(current_tenant(), context.store(), record)
    chosen = mapping if mapping is not None else (record["mapping"] or proposal["mapping"])
    choices = _choices(obj)
    values = {value for value, _label in choices}
    selected = {}
    for header in proposal["headers"]:
        value = _value(chosen.get(header))
        if value and value not in values and "|" not in value:
            # a lookup auto-matched by its name: its default match
            value = next((v for v in values if v.startswith(value + "|")), value)
        selected[header] = value
    columns = [
        {"header": header, "index": i, "sample": [row[i] if i < len(row) else "" for row in proposal["sample"]]}
        for i, header in enumerate(proposal["headers"])
    ]
    options = options or {
        "mode": record["mode"] or "insert",
        "key": record["key"] or "",
        "dry_run": bool(record["dry_run"]) if record["status"] != "draft" else False,
        "duplicates": record["duplicates"] or "allow",
        "save_as": "",
    }
    return {
        "step": "map",
        "obj": obj,
        "record": record,
        "columns": columns,
        "choices": choices,
        "selected": selected,
        "keys": _keys(obj),
        "options": options,
        "saved": proposal["saved"],
        "errors": errors or {},
    }


@blueprint.get("/o/<object>/import/<int:import_id>/map")
def import_map(object, import_id):
    obj = _obj(object)
    record = service.get_import(current_tenant(), context.store(), import_id)
    return render_template(TEMPLATE, **_map_screen(obj, record))


def _mapping_from(form, headers: list[str]) -> dict:
    mapping = {}
    for i, header in enumerate(headers):
        value = form.get(f"col-{i}") or ""
        if "|" in value:
            field, match = value.split("|", 1)
            mapping[header] = {"field": field, "match": match}
        else:
            mapping[header] = value or None
    return mapping


@blueprint.post("/o/<object>/import/<int:import_id>/map")
def import_map_post(object, import_id):
    obj = _obj(object)
    store = context.store()
    record = service.get_import(current_tenant(), store, import_id)
    proposal = service.proposal(current_tenant(), store, record)
    mapping = _mapping_from(request.form, proposal["headers"])
    options = {
        "mode": request.form.get("mode") or "insert",
        "key": request.form.get("key") or "",
        "dry_run": request.form.get("dry_run") == "1",
        "duplicates": request.form.get("duplicates") or "allow",
        "save_as": (request.form.get("save_as") or "").strip(),
    }
    try:
        service.configure(
            context.instance(),
            current_tenant(),
            store,
            import_id,
            mapping=mapping,
            mode=options["mode"],
            key=options["key"] if options["mode"] != "insert" else None,
            dry_run=options["dry_run"],
            save_as=options["save_as"] or None,
            duplicates=options["duplicates"],
        )
    except ValidationFailed as exc:
        errors = _field_errors(exc)
        index = {h: i for i, h in enumerate(proposal["headers"])}
        errors = {
            (f"col-{index[k.split('.', 1)[1]]}" if k.startswith("mapping.") and k.split(".", 1)[1] in index else k): v
            for k, v in errors.items()
        }
        screen = _map_screen(obj, record, mapping=mapping, options=options, errors=errors)
        return render_template(TEMPLATE, **screen), 422
    return redirect(url_for("ui.import_result", object=obj.api_name, import_id=import_id), 303)


@blueprint.post("/o/<object>/import/<int:import_id>/run")
def import_run(object, import_id):
    """After a dry run: the same file, mapping and options, for real."""
    obj = _obj(object)
    store = context.store()
    record = service.get_import(current_tenant(), store, import_id)
    service.configure(
        context.instance(),
        current_tenant(),
        store,
        import_id,
        mapping=record["mapping"],
        mode=record["mode"],
        key=record["key"],
        dry_run=False,
        duplicates=record["duplicates"],
    )
    return redirect(url_for("ui.import_result", object=obj.api_name, import_id=import_id), 303)


def _result_screen(obj, record: dict) -> dict:
    public = service.public(record)
    return {
        "step": "result",
        "obj": obj,
        "run": public,
        "errors_shown": [
            {**error, "field_label": _field_label(obj, error.get("field")), "reason": translated(error["reason"])}
            for error in public["errors"][:ERRORS_SHOWN]
        ],
        "finished": record["status"] in service.FINISHED,
    }


def _field_label(obj, name: str | None) -> str:
    """A row error's field as the user knows it (errors only name fields they may read)."""
    if not name:
        return ""
    field_type = obj.fields.get(name)
    return label_of(field_type.definition, "label", name) if field_type is not None else name


@blueprint.get("/o/<object>/import/<int:import_id>")
def import_result(object, import_id):
    obj = _obj(object)
    record = service.get_import(current_tenant(), context.store(), import_id)
    if record["status"] == "draft":
        return redirect(url_for("ui.import_map", object=obj.api_name, import_id=import_id))
    screen = _result_screen(obj, record)
    if wants_block("import-progress"):
        return render_block(TEMPLATE, "progress", **screen)
    return render_template(TEMPLATE, **screen)


@blueprint.get("/o/<object>/import/<int:import_id>/failed-rows")
def import_failed_rows(object, import_id):
    _obj(object)
    store = context.store()
    record = service.get_import(current_tenant(), store, import_id)
    path = service.failed_rows_path(current_tenant(), store, import_id)
    stem = record["file_name"].rsplit(".", 1)[0] or "import"
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name=f"{stem}-failed-rows.csv", max_age=0)
