"""Revisions with diff and rollback, and the recycle bin of objects, fields
and records (manage_metadata). The audit log, plugins and the
organisation's settings are in :mod:`metacrm.ui.views.setup.organisation`.

Every change goes the API's way: a rollback through the metadata service
(a new revision), restore and purge of objects and fields through a
metadata change, of records through the record store with the admin's guard.
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.platform.errors import Conflict, MetacrmError, NotFound, ValidationFailed
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, list_page
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import METADATA, field_errors, setup_route

PAGE = 50

KIND_LABELS = {
    "object": lazy_gettext("Object"),
    "field": lazy_gettext("Field"),
    "layout": lazy_gettext("Layout"),
    "list_view": lazy_gettext("List view"),
    "validation_rule": lazy_gettext("Validation rule"),
    "automation": lazy_gettext("Automation"),
    "app": lazy_gettext("App"),
    "package": lazy_gettext("Package"),
    "access": lazy_gettext("Access policy"),
}
STATUS_LABELS = {
    "added": lazy_gettext("added"),
    "removed": lazy_gettext("removed"),
    "deleted": lazy_gettext("moved to the recycle bin"),
    "restored": lazy_gettext("restored"),
    "changed": lazy_gettext("changed"),
}


# -- a readable diff -----------------------------------------------------------------------------


def readable(value: Any) -> str:
    """A definition's value as an admin reads it: labels of sections and
    picklist values, lists joined, yes/no; JSON only for what has no better form."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return "; ".join(_readable_item(v) for v in value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _readable_item(item: dict) -> str:
    name = item.get("label") or item.get("value") or item.get("api_name") or item.get("object")
    if name is None:
        return json.dumps(item, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(item.get("fields"), list):  # a layout section
        return f"{name} ({', '.join(map(str, item['fields']))})"
    if "value" in item and item.get("label") and item["label"] != item["value"]:  # a picklist value
        return f"{item['label']} ({item['value']})"
    return str(name)


def _flat(document: dict | None) -> dict[str, Any]:
    """One level of nesting spelled out (``options.values``, ``translations.zh_CN``)."""
    flat: dict[str, Any] = {}
    for key, value in (document or {}).items():
        if isinstance(value, dict) and value and key != "filters":
            for sub, inner in value.items():
                flat[f"{key}.{sub}"] = inner
        else:
            flat[key] = value
    return flat


def describe_change(
    kind: str, key: str, before: dict | None, after: dict | None, *, was_deleted=False, is_deleted=False
) -> dict:
    """One definition's change: what it is (kind and label), what happened
    to it, and each property that differs, before → after."""
    if before is None and after is not None:
        status = "added"
    elif after is None:
        status = "removed"
    elif is_deleted and not was_deleted:
        status = "deleted"
    elif was_deleted and not is_deleted:
        status = "restored"
    else:
        status = "changed"
    old, new = _flat(before), _flat(after)
    rows = [
        {"property": name, "before": readable(old.get(name)), "after": readable(new.get(name))}
        for name in list(dict.fromkeys([*old, *new]))
        if old.get(name) != new.get(name)
    ]
    document = after or before or {}
    owner, _dot, name = key.partition(".") if "." in key else ("", "", key)
    return {
        "kind": kind,
        "kind_label": KIND_LABELS.get(kind, kind),
        "key": key,
        "label": label_of(document, "label", name) if isinstance(document, dict) else key,
        "object": owner,
        "status": status,
        "status_label": STATUS_LABELS[status],
        "rows": rows,
    }


def describe_entry(entry: dict) -> dict:
    """A revision's entry (``before``/``after`` states) as :func:`describe_change`."""
    before, after = entry.get("before"), entry.get("after")
    return describe_change(
        entry["kind"],
        entry["key"],
        before["document"] if before else None,
        after["document"] if after else None,
        was_deleted=bool(before and before.get("deleted")),
        is_deleted=bool(after and after.get("deleted")),
    )


# -- revisions -------------------------------------------------------------------------------------


@setup_route("/setup/revisions", METADATA)
def setup_revisions():
    """Every metadata revision, newest first: number, when, who, summary."""
    before = request.args.get("before", type=int)
    rows = context.revision_reader().revisions(limit=PAGE, before=before if before and before > 0 else None)
    more = rows[-1]["revision"] if len(rows) == PAGE else None
    return render_template(
        "setup/governance/revisions.html", rows=rows, more=more, latest=context.model().revision, before=before
    )


@setup_route("/setup/revisions/<int:number>", METADATA)
def setup_revision(number):
    """One revision: what it changed, definition by definition, property by property."""
    revision = context.revision_reader().revision(number)
    changes = [describe_entry(entry) for entry in revision.get("changes") or []]
    return render_template(
        "setup/governance/revision.html", revision=revision, changes=changes, latest=context.model().revision
    )


@setup_route("/setup/revisions/<int:number>/rollback", METADATA, methods=["GET", "POST"])
def setup_rollback(number):
    """Roll metadata back to how it was after revision ``number``: first what
    it would change, then (POST) the rollback itself, a new revision."""
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            revision = context.metadata_service().rollback(number)
        except (ValidationFailed, Conflict, NotFound) as exc:
            errors, status = field_errors(exc), exc.status
            errors = {"$": sum(errors.values(), [])}
        else:
            flash(
                _(
                    "Rolled back to revision %(number)s: the change is revision %(revision)s.",
                    number=number,
                    revision=revision,
                ),
                "success",
            )
            return redirect(url_for("ui.setup_revision", number=revision))
    try:
        preview = [
            describe_change(c["kind"], c["key"], c["before"], c["after"])
            for c in context.revision_reader().rollback_preview(number)
        ]
    except ValidationFailed as exc:
        return render_template(
            "setup/governance/rollback.html", number=number, preview=None, errors={"$": [exc.message]}
        ), 422
    return render_template("setup/governance/rollback.html", number=number, preview=preview, errors=errors), status


# -- the recycle bin ----------------------------------------------------------------------------------

BIN_TABS = ("records", "fields", "objects")


def _deleted_definitions(kind: str) -> list:
    state = context.model().definitions
    return sorted(
        (d for (k, _key), d in state.items.items() if k == kind and not d.live),
        key=lambda d: d.deleted_at,
        reverse=True,
    )


@setup_route("/setup/recycle-bin", METADATA)
def setup_recycle_bin():
    """Deleted records (of one object at a time), fields and objects, with
    restore and purge."""
    tab = request.args.get("tab", "records")
    if tab not in BIN_TABS:
        tab = "records"
    model = context.model()
    state = model.definitions
    guard = context.guard()
    objects = [
        obj for obj in sorted(model.objects.values(), key=lambda o: o.label.casefold()) if guard.permits("delete", obj)
    ]
    chosen = request.args.get("object") or (objects[0].api_name if objects else None)
    records, next_cursor, chosen_object = [], None, None
    if tab == "records" and chosen:
        chosen_object = model.object(chosen)
        if chosen_object is None or not guard.permits("delete", chosen_object):
            raise NotFound(f"no object {chosen!r} whose records you may delete")
        page = list_page(
            context.store(), chosen, ListRequest(deleted=True, limit=PAGE, cursor=request.args.get("cursor") or None)
        )
        records, next_cursor = page.data, page.next_cursor
    fields = []
    if tab == "fields":
        for item in _deleted_definitions("field"):
            owner = item.key.split(".", 1)[0]
            owner_doc = state.object(owner)
            if owner_doc is not None:  # a deleted object's fields come back with it
                fields.append(
                    {"definition": item, "object": owner, "object_label": label_of(owner_doc, "label", owner)}
                )
    deleted_objects = _deleted_definitions("object") if tab == "objects" else []
    return render_template(
        "setup/governance/recycle_bin.html",
        tab=tab,
        objects=objects,
        chosen=chosen,
        chosen_object=chosen_object,
        records=records,
        next_cursor=next_cursor,
        fields=fields,
        deleted_objects=deleted_objects,
    )


def _confirmed() -> None:
    if request.form.get("confirm") != "1":
        message = _("Tick the box to confirm: purging cannot be undone.")
        raise ValidationFailed(message, details={"fields": {"confirm": [message]}})


def _bin_redirect(tab: str, **args):
    return redirect(url_for("ui.setup_recycle_bin", tab=tab, **args))


def _bin_action(tab: str, work, done: str, **args):
    """Run a restore or purge; its refusal comes back on the bin's page (as a message)."""
    try:
        work()
    except MetacrmError as exc:
        if exc.status >= 500:
            raise
        flash(exc.message, "danger")
    else:
        flash(done, "success")
    return _bin_redirect(tab, **args)


@setup_route("/setup/recycle-bin/records/<object>/<int:id>/restore", METADATA, methods=["POST"])
def setup_restore_record(object, id):
    return _bin_action(
        "records", lambda: context.store().restore(object, id), _("The record is restored."), object=object
    )


@setup_route("/setup/recycle-bin/records/<object>/<int:id>/purge", METADATA, methods=["POST"])
def setup_purge_record(object, id):
    def work():
        _confirmed()
        if not context.store().purge(object, [id]):
            raise NotFound(_("That record is not in the recycle bin."))

    return _bin_action("records", work, _("The record is purged for good."), object=object)


@setup_route("/setup/recycle-bin/fields/<object>/<field>/restore", METADATA, methods=["POST"])
def setup_restore_field(object, field):
    def work():
        with context.metadata_service().change(f"restore field {object}.{field}") as tx:
            tx.restore_field(object, field)

    return _bin_action("fields", work, _("The field is restored."))


@setup_route("/setup/recycle-bin/fields/<object>/<field>/purge", METADATA, methods=["POST"])
def setup_purge_field(object, field):
    def work():
        _confirmed()
        with context.metadata_service().change(f"purge field {object}.{field}") as tx:
            tx.purge_field(object, field)

    return _bin_action("fields", work, _("The field and its values are purged for good."))


@setup_route("/setup/recycle-bin/objects/<object>/restore", METADATA, methods=["POST"])
def setup_restore_object(object):
    def work():
        with context.metadata_service().change(f"restore object {object}") as tx:
            tx.restore_object(object)

    return _bin_action("objects", work, _("The object is restored."))


@setup_route("/setup/recycle-bin/objects/<object>/purge", METADATA, methods=["POST"])
def setup_purge_object(object):
    def work():
        _confirmed()
        with context.metadata_service().change(f"purge object {object}") as tx:
            tx.purge_object(object)

    return _bin_action("objects", work, _("The object and its records are purged for good."))


from metacrm.ui.views.setup import organisation  # noqa: E402, F401  (the other governance screens)
