"""Duplicates on the screens: the record form's warning (the likely
duplicates with links and "Save anyway", see :func:`duplicate_warning`),
and the merge screen ``/o/<object>/merge?ids=1,2[,3]``: the records side by
side, a survivor and a value per field to choose; merging moves related
records to the survivor and puts the others in the recycle bin
(:func:`metacrm.data.duplicates.merge`). Reached from a list's bulk actions
with 2-3 records selected (:func:`merge_redirect`) and from the warning.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request
from flask_babel import gettext as _

from metacrm.data.duplicates import merge
from metacrm.data.exports.service import human_value
from metacrm.platform.errors import MetacrmError, ValidationFailed
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint, htmx
from metacrm.ui.i18n import locale_name
from metacrm.ui.screens import object_for

MAX_IDS = 3


def duplicate_warning(exc: Exception) -> dict | None:
    """What the record form shows of a save the duplicate check refused."""
    details = getattr(exc, "details", None)
    if not isinstance(details, dict) or "duplicates" not in details:
        return None
    return {"action": details.get("duplicate_action", "warn"), "records": details["duplicates"]}


def _ids(raw: str) -> list[int]:
    ids = []
    for part in (raw or "").split(","):
        part = part.strip()
        if part.isdigit() and 0 < int(part) < 2**63 and int(part) not in ids:
            ids.append(int(part))
    return ids


def merge_redirect(obj, ids: list[int]):
    """The list's bulk action "Merge": to the merge screen with 2-3 records."""
    if not 2 <= len(ids) <= MAX_IDS:
        return None
    url = f"/o/{obj.api_name}/merge?ids=" + ",".join(map(str, ids))
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def _mergeable(obj) -> list:
    """The fields a merge chooses values of: readable and writable stored fields."""
    guard = context.guard()
    readable, writable = guard.readable_fields(obj), guard.writable_fields(obj)
    return [
        field
        for name, field in obj.fields.items()
        if name in readable and name in writable and field.has_column and not field.computed and not field.stores_links
        and not field.definition.get("system") and name not in ("id", "owner_id")
    ]  # fmt: skip


def _filled(value) -> bool:
    return value not in (None, "", [], {})


def _shown_value(field, value) -> str:
    """A value as the merge screen shows it (a picklist's label, a lookup's name)."""
    shown = human_value(field, value, locale_name())
    return "" if shown is None else str(shown)


def _posted(value):
    """A stored value as the record store takes it back (a lookup's id)."""
    if isinstance(value, dict) and "id" in value:
        return value["id"]
    return value


@blueprint.route("/o/<object>/merge", methods=["GET", "POST"])
def merge_records(object):
    obj = object_for(object, "update")
    object_for(object, "delete")
    ids = _ids(request.values.get("ids", ""))
    if not 2 <= len(ids) <= MAX_IDS:
        raise ValidationFailed(
            _("Choose 2 or 3 records to merge."), details={"fields": {"ids": ["2 or 3 record ids, comma-separated"]}}
        )
    store = context.store()
    records = [store.get(obj.api_name, record_id, action="update") for record_id in ids]
    fields = _mergeable(obj)
    # The name first; rows where no record has a value say nothing.
    shown = sorted(
        (f for f in fields if any(_filled(r.get(f.api_name)) for r in records)),
        key=lambda f: f.api_name != obj.name_field,
    )
    error = None
    if request.method == "POST":
        survivor = int(request.form.get("survivor", ids[0])) if request.form.get("survivor", "").isdigit() else ids[0]
        if survivor not in ids:
            survivor = ids[0]
        by_id = {r["id"]: r for r in records}
        values = {}
        for field in fields:
            chosen = request.form.get(f"field.{field.api_name}", "")
            source = int(chosen) if chosen.isdigit() and int(chosen) in by_id else survivor
            if source != survivor and by_id[source].get(field.api_name) != by_id[survivor].get(field.api_name):
                values[field.api_name] = _posted(by_id[source].get(field.api_name))
        losers = [i for i in ids if i != survivor]
        try:
            merged = merge(store, obj.api_name, survivor, losers, values)
        except MetacrmError as exc:
            error = exc
        else:
            count = len(merged["merged"])
            flash(_("Merged %(num)d record(s) into this one; they are in the recycle bin.", num=count), "success")
            return redirect(f"/o/{obj.api_name}/{survivor}")
    return render_template(
        "duplicates/merge.html",
        obj=obj,
        records=records,
        fields=shown,
        survivor=ids[0],
        shown_value=_shown_value,
        error=error,
        ids=",".join(map(str, ids)),
    ), (422 if error else 200)
