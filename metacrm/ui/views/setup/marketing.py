"""Setup → Marketing: segments, e-mail templates and web-to-lead forms
(the definition kinds of :mod:`metacrm.data.marketing.kind`). Every save
goes through the metadata change pipeline, so a segment's condition is
type-checked (line and column beside the box) and a template's merge
fields parse before anything is stored; a segment shows its live count
within the admin's own scope."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.data.marketing import service
from metacrm.data.marketing.kind import COMPUTED_TYPES
from metacrm.metadata.definitions import scoped_key
from metacrm.platform.errors import MetacrmError, NotFound, ValidationFailed
from metacrm.platform.web import current_tenant
from metacrm.plugins import context
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import METADATA, field_errors, setup_route

ZH = "zh_CN"


def _live(kind: str) -> list:
    return sorted(context.model().definitions.live(kind), key=lambda d: d.key)


def _recipient_objects() -> list[tuple[str, str]]:
    """Objects with an e-mail field (those a segment can mail), as (name, label)."""
    return [
        (obj.api_name, label_of(obj.definition, "plural_label", obj.api_name))
        for obj in sorted(context.model().objects.values(), key=lambda o: o.api_name)
        if "email" in obj.fields
    ]


def _form_errors(exc: MetacrmError) -> dict[str, list[str]]:
    """Pipeline errors by form control: ``translations.zh_CN.html`` → ``html_zh_CN``,
    ``fields[2].field`` → ``fields``, a segment's condition problem → ``condition``."""
    out: dict[str, list[str]] = {}
    for name, messages in field_errors(exc).items():
        parts = name.replace("[", ".").split(".")
        if parts[0] == "translations" and len(parts) > 2:
            key = f"{parts[2]}_{parts[1]}"
        elif "condition" in parts or name.endswith("condition"):
            key = "condition"
        else:
            key = parts[0]
        out.setdefault(key, []).extend(messages)
    return out


def _save(kind: str, object_name: str | None, document: dict, creating: bool) -> None:
    key = scoped_key(object_name, document["api_name"]) if object_name else document["api_name"]
    if creating and context.model().definitions.get(kind, key) is not None:
        message = _("This API name is taken.")
        raise ValidationFailed(message, details={"fields": {"api_name": [message]}})
    with context.metadata_service().change(f"save {kind} {key}") as tx:
        tx.put(kind, object_name, document)


def _translated(document: dict, form, keys: tuple[str, ...]) -> dict:
    translation = {key: form.get(f"{key}_{ZH}", "").strip() for key in keys}
    translation = {key: value for key, value in translation.items() if value}
    if translation:
        document["translations"] = {ZH: translation}
    return document


@setup_route("/setup/marketing", METADATA)
def setup_marketing():
    """The segments (with their live counts), e-mail templates and web forms."""
    store = context.store()
    segments = []
    for definition in _live("segment"):
        object_name = definition.key.split(".", 1)[0]
        try:
            count = service.segment_count(store, object_name, definition.document["api_name"])
        except MetacrmError:
            count = None  # a segment reading a field this admin may not see
        segments.append((object_name, definition.document, count))
    return render_template(
        "setup/marketing/index.html",
        segments=segments,
        templates=[d.document for d in _live("email_template")],
        forms=[d.document for d in _live("web_form")],
        tenant=current_tenant().slug,
        label_of=label_of,
    )


# -- segments --------------------------------------------------------------------------------------


def _segment_page(object_name: str | None, document: dict, errors: dict, creating: bool, status: int = 200):
    count = None
    if not creating and not errors:
        try:
            count = service.segment_count(context.store(), object_name, document["api_name"])
        except MetacrmError:
            count = None
    return render_template(
        "setup/marketing/segment.html",
        object_name=object_name,
        segment=document,
        objects=_recipient_objects(),
        errors=errors,
        creating=creating,
        count=count,
    ), status


@setup_route("/setup/marketing/segments/new", METADATA, methods=["GET", "POST"])
def setup_segment_new():
    return _segment_form(None, None)


@setup_route("/setup/marketing/segments/<object_name>/<item>", METADATA, methods=["GET", "POST"])
def setup_segment(object_name, item):
    return _segment_form(object_name, item)


def _segment_form(object_name: str | None, item: str | None):
    creating = item is None
    if not creating:
        definition = context.model().definitions.get("segment", scoped_key(object_name, item))
        if definition is None:
            raise NotFound(f"no segment {item!r} on {object_name}")
        document = definition.document
    else:
        document = {}
    if request.method == "GET":
        return _segment_page(object_name, document, {}, creating)
    form = request.form
    if creating:
        object_name = form.get("object", "")
    document = {
        "api_name": item or form.get("api_name", "").strip(),
        "label": form.get("label", "").strip(),
        "condition": form.get("condition", "").strip(),
    }
    if form.get("description", "").strip():
        document["description"] = form["description"].strip()
    _translated(document, form, ("label",))
    try:
        if context.model().object(object_name) is None:
            raise ValidationFailed(_("Choose an object."), details={"fields": {"object": [_("Choose an object.")]}})
        _save("segment", object_name, document, creating)
    except ValidationFailed as exc:
        return _segment_page(object_name, document, _form_errors(exc), creating, 422)
    flash(_("The segment is saved."), "success")
    return redirect(url_for("ui.setup_segment", object_name=object_name, item=document["api_name"]))


@setup_route("/setup/marketing/segments/<object_name>/<item>/delete", METADATA, methods=["POST"])
def setup_segment_delete(object_name, item):
    with context.metadata_service().change(f"delete segment {object_name}.{item}") as tx:
        tx.delete("segment", object_name, item)
    flash(_("The segment is deleted."), "success")
    return redirect(url_for("ui.setup_marketing"))


# -- e-mail templates ---------------------------------------------------------------------------------


@setup_route("/setup/marketing/templates/new", METADATA, methods=["GET", "POST"])
def setup_email_template_new():
    return _template_form(None)


@setup_route("/setup/marketing/templates/<item>", METADATA, methods=["GET", "POST"])
def setup_email_template(item):
    return _template_form(item)


def _template_form(item: str | None):
    creating = item is None
    document: dict = {}
    if not creating:
        definition = context.model().definitions.get("email_template", item)
        if definition is None:
            raise NotFound(f"no e-mail template {item!r}")
        document = definition.document
    errors: dict = {}
    status = 200
    if request.method == "POST":
        form = request.form
        document = {
            "api_name": item or form.get("api_name", "").strip(),
            "label": form.get("label", "").strip(),
            "subject": form.get("subject", "").strip(),
            "html": form.get("html", "").strip(),
        }
        _translated(document, form, ("label", "subject", "html"))
        try:
            _save("email_template", None, document, creating)
        except ValidationFailed as exc:
            errors, status = _form_errors(exc), 422
        else:
            flash(_("The e-mail template is saved."), "success")
            return redirect(url_for("ui.setup_email_template", item=document["api_name"]))
    page = render_template("setup/marketing/template.html", template=document, errors=errors, creating=creating)
    return page, status


@setup_route("/setup/marketing/templates/<item>/delete", METADATA, methods=["POST"])
def setup_email_template_delete(item):
    with context.metadata_service().change(f"delete email_template {item}") as tx:
        tx.delete("email_template", None, item)
    flash(_("The e-mail template is deleted."), "success")
    return redirect(url_for("ui.setup_marketing"))


# -- web forms ----------------------------------------------------------------------------------------


def _form_fields(object_name: str) -> list[tuple[str, str]]:
    """The fields a visitor can fill in: (api name, label)."""
    obj = context.model().object(object_name)
    if obj is None:
        return []
    return [
        (name, label_of(field.definition, "label", name))
        for name, field in obj.fields.items()
        if field.name not in COMPUTED_TYPES and not field.is_reference
    ]


def _values_text(values: dict) -> str:
    return "\n".join(f"{name}={value}" for name, value in values.items())


def _parse_values(text: str) -> dict:
    values = {}
    for line in text.splitlines():
        if line.strip():
            name, _sep, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@setup_route("/setup/marketing/forms/new", METADATA, methods=["GET", "POST"])
def setup_web_form_new():
    return _web_form_form(None)


@setup_route("/setup/marketing/forms/<item>", METADATA, methods=["GET", "POST"])
def setup_web_form(item):
    return _web_form_form(item)


def _web_form_form(item: str | None):
    creating = item is None
    document: dict = {"object": "lead", "active": True, "fields": [], "values": {}}
    if not creating:
        definition = context.model().definitions.get("web_form", item)
        if definition is None:
            raise NotFound(f"no web form {item!r}")
        document = definition.document
    errors: dict = {}
    status = 200
    if request.method == "POST":
        form = request.form
        object_name = form.get("object", "lead")
        required = set(form.getlist("required"))
        # Keep what the screen does not edit: the asked fields' order and their own labels.
        before = {item["field"]: item for item in document.get("fields", [])}
        ticked = form.getlist("fields")
        names = [name for name in before if name in ticked] + [name for name in ticked if name not in before]
        document = {
            "api_name": item or form.get("api_name", "").strip(),
            "label": form.get("label", "").strip(),
            "object": object_name,
            "active": form.getlist("active")[-1:] == ["1"],
            "fields": [{**before.get(name, {"field": name}), "required": name in required} for name in names],
            "values": _parse_values(form.get("values", "")),
            "thank_you": form.get("thank_you", "").strip(),
        }
        if form.get("description", "").strip():
            document["description"] = form["description"].strip()
        _translated(document, form, ("label", "description", "thank_you"))
        try:
            if not document["fields"]:
                message = _("Choose at least one field.")
                raise ValidationFailed(message, details={"fields": {"fields": [message]}})
            _save("web_form", None, document, creating)
        except ValidationFailed as exc:
            errors, status = _form_errors(exc), 422
        else:
            flash(_("The web form is saved."), "success")
            return redirect(url_for("ui.setup_web_form", item=document["api_name"]))
    page = render_template(
        "setup/marketing/web_form.html",
        web_form=document,
        chosen={item["field"]: item for item in document.get("fields", [])},
        available=_form_fields(document.get("object") or "lead"),
        objects=_recipient_objects(),
        values_text=_values_text(document.get("values") or {}),
        tenant=current_tenant().slug,
        errors=errors,
        creating=creating,
    )
    return page, status


@setup_route("/setup/marketing/forms/<item>/delete", METADATA, methods=["POST"])
def setup_web_form_delete(item):
    with context.metadata_service().change(f"delete web_form {item}") as tx:
        tx.delete("web_form", None, item)
    flash(_("The web form is deleted."), "success")
    return redirect(url_for("ui.setup_marketing"))
