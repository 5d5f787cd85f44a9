"""The list of an object (``/o/<object>``): columns, sort, filters, the
``where=`` box checked live, quick search, keyset pages and a capped count,
all in the URL; shared and personal saved views; inline edit of a cell; bulk
actions on the selected rows. Every read and write goes through the record
store with the user's guard (``context.store()``) or the access services.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode

from flask import redirect, render_template, request, session, url_for
from flask_babel import format_number
from flask_babel import gettext as _
from jinja2.utils import url_quote
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from metacrm.access import pools as pool_service
from metacrm.access.ownership import transfer_owner
from metacrm.platform import identity as identities
from metacrm.platform.caches import LruDict
from metacrm.platform.errors import Forbidden, MetacrmError, ValidationFailed
from metacrm.platform.web import current_actor, current_identity, current_tenant
from metacrm.plugins import context, records
from metacrm.plugins.where import where_clause
from metacrm.rules.errors import RuleError
from metacrm.ui import saved_views
from metacrm.ui.blueprint import blueprint, htmx
from metacrm.ui.i18n import label_of, locale_name
from metacrm.ui.listing import (
    Listing,
    TableColumn,
    board_fields,
    display_macro,
    filter_fields,
    filter_values,
    form_value,
    list_views,
    listing,
    name_picked_records,
    reasons,
    record_name,
    render_block,
    table_rows,
    wants_block,
)
from metacrm.ui.plugin_screens import LIST_ACTION_PREFIX, list_actions, run_list_action
from metacrm.ui.rendered import RenderedMarkup, placeholder_csrf_token
from metacrm.ui.screens import object_for, readable_fields
from metacrm.ui.shell import navbar_key
from metacrm.ui.views.duplicates import merge_redirect
from metacrm.ui.views.exports import may_export

PAGE_SIZE = 25
# Counts stop here ("10,000+"): the count runs on every keystroke of the search box.
COUNT_CAP = 10_000
TEMPLATE = "lists/list.html"
RESULTS = "list-results"
BULK_ACTIONS = ("edit", "owner", "delete", "pool")


@blueprint.get("/o/<object>")
def list_page(object):
    obj = object_for(object)
    screen = _results(obj)
    if wants_block(RESULTS):
        return _results_markup(screen)
    return _page(screen, panel_inline=False)


def _page(screen: dict, *, panel_inline: bool):
    """The whole screen. The filter panel is in it only when asked for
    (``panel_inline``); else the page fetches it (list_filters) on load when
    the URL filters the list, or when the user first opens it."""
    values = {**screen, **_chrome(screen["listing"]), "panel_inline": panel_inline}
    results = _results_markup(screen)
    if panel_inline:  # the page without JavaScript: its filter controls hold the values typed
        return render_template(TEMPLATE, **values | _filter_panel(screen["listing"]), results_slot=results)
    if "_flashes" in session:  # a message shown once (post/redirect/get): this page is not kept
        return render_template(TEMPLATE, **values, results_slot=results)

    def render_around() -> str:
        return render_template(TEMPLATE, **values, results_slot=_RESULTS_SLOT, csrf_token=placeholder_csrf_token)

    before, after = _pages.get(_page_key(values), render_around).split(_RESULTS_SLOT)
    return f"{before}{results}{after}"


# The page around the results (top bar, header, views menu, search and
# filter form, bulk bar) is most of a page's rendering and the same for the
# same inputs (issue 10, item 11): kept rendered, with a slot for the results.
_pages = RenderedMarkup(size=2000)
_RESULTS_SLOT = Markup("\x00results\x00")


def _page_key(values: dict) -> tuple:
    """Everything the page around the results reads: the top bar's inputs,
    the object at the model's revision in the user's language, the URL (but
    its page), what the user may do, the views, pools and plugin actions
    offered."""
    current: Listing = values["listing"]
    return (
        navbar_key(),
        *_list_inputs(current),
        tuple(bool(values[k]) for k in _CHROME_FLAGS),
        may_export(current.obj),
        tuple(view.get("api_name") for view in values["shared_views"]),
        tuple((pool.api_name, repr(pool.to_json())) for pool in values["pools"]),
        tuple(field.api_name for field in values["board_fields"]),
        tuple((action["value"], str(action["label"])) for action in values["plugin_list_actions"]),
    )


def _list_inputs(current: Listing) -> tuple:
    """What every kept part of a list reads: the tenant (its id too: a tenant
    dropped and made again starts at revision 1), the user, the model's
    revision, the language, the script root, the object and the URL but its
    page cursor."""
    identity = current_identity()
    return (
        identity.tenant_id,
        identity.tenant_slug,
        identity.user_id,
        context.model().revision,
        locale_name(),
        request.script_root,
        current.obj.api_name,
        tuple((k, v) for k, v in current.args.items(multi=True) if k != "cursor"),
    )


_CHROME_FLAGS = ("may_create", "may_update", "may_delete", "may_bulk_edit", "may_transfer", "may_import")


def _results_markup(screen: dict) -> Markup:
    """The results block (the htmx fragment, and the page's middle). A page of
    rows is its kept frame (count, sort menu, table head, pager) with this
    page's rows and next cursor put in; a message, an error or an empty
    list renders in full."""
    page = screen["page"]
    if page is None or not page.data or screen["error"] or screen.get("message") or screen.get("failures"):
        return Markup(_render_results(screen))
    frame = _frames.get_or_build(_frame_key(screen), lambda: _results_frame(screen))
    rows = table_rows(screen["obj"], page.data, frame.columns, **frame.row_options)
    after = frame.after
    if page.next_cursor:
        after = after.replace(_CURSOR_SLOT, url_quote(page.next_cursor))
    return Markup(f"{frame.before}{rows}{after}")


def _render_results(screen: dict, **values) -> str:
    """The results block in full; ``values`` replace the screen's."""
    current = screen["listing"]
    head = {"table_columns": _table_columns(current), "sort_options": _sort_options(current)}
    return render_block(TEMPLATE, "results", **screen | head | values)


@dataclass(frozen=True)
class _ResultsFrame:
    """The results block of a page of rows, but the rows (written by
    ``table_rows(columns, **row_options)``) and the next page's cursor."""

    before: str
    after: str  # holds _CURSOR_SLOT for the next page's cursor
    columns: list[TableColumn]
    row_options: dict


class _RowsSlot:
    """Stands for ``table_rows`` while a frame renders: notes what the
    template writes the rows with and leaves a slot for them."""

    def __call__(self, obj, records, columns, **options) -> Markup:
        self.columns, self.options = columns, options
        return _ROWS_SLOT


# The results block around the rows (count, sort menu, table head, pager) is
# the same for the same inputs: kept like the page around it, with the
# columns that write the rows (issue 10, item 11).
_frames: LruDict[tuple, _ResultsFrame] = LruDict(2000)
_ROWS_SLOT = Markup("\x00rows\x00")
_CURSOR_SLOT = url_quote("\x00cursor\x00")  # as the template's |urlencode writes it


def _results_frame(screen: dict) -> _ResultsFrame:
    rows = _RowsSlot()
    stand_in = SimpleNamespace(
        data=screen["page"].data, next_cursor="\x00cursor\x00" if screen["page"].next_cursor else None
    )
    before, after = _render_results(screen, page=stand_in, table_rows=rows).split(_ROWS_SLOT)
    return _ResultsFrame(before, after, rows.columns, rows.options)


def _frame_key(screen: dict) -> tuple:
    """Everything the frame reads: the object at the model's revision in the
    user's language, the URL but its page, the fields the user may read and
    write, what they may do to the rows, the count shown, which pager links."""
    current: Listing = screen["listing"]
    guard = context.guard()
    return (
        *_list_inputs(current),
        tuple(field.api_name for field in current.readable),
        tuple(sorted(guard.writable_fields(current.obj))),
        screen["may_update"],
        screen["may_delete"],
        screen["count_text"],
        "cursor" in current.args,
        screen["page"].next_cursor is not None,
    )


def _results(obj, message: str | None = None, failures=()) -> dict:
    """What the results block shows: the page of records, the count, or the
    error that stopped the list (a bad filter or where=) beside it."""
    store = context.store()
    try:
        current = listing(obj, request.args, page_size=PAGE_SIZE)
    except ValidationFailed as exc:
        current = listing(obj, MultiDict(), page_size=PAGE_SIZE)
        return _screen(current, error=exc, message=message, failures=failures)
    try:
        page = records.list_page(store, obj.api_name, current.request)
    except ValidationFailed as exc:
        return _screen(current, error=exc, message=message, failures=failures)
    # One page holding every record is its own count; else the count comes in a
    # request of its own (list_count), so the rows never wait for it.
    total = len(page.data) if page.next_cursor is None and not current.request.cursor else None
    return _screen(current, page=page, total=total, message=message, failures=failures)


@blueprint.get("/o/<object>/count")
def list_count(object):
    """How many records the list matches, capped at COUNT_CAP ("10,000+")."""
    obj = object_for(object)
    current = listing(obj, request.args, page_size=PAGE_SIZE)
    total, capped = records.capped_total(context.store(), obj.api_name, current.request, COUNT_CAP)
    return render_template("lists/count.html", count_text=_count_text(total, capped))


def _screen(current: Listing, **values) -> dict:
    obj = current.obj
    return {
        "listing": current,
        "obj": obj,
        "page": None,
        "error": None,
        "may_create": context.guard().permits("create", obj),
        "may_update": context.guard().permits("update", obj),
        "may_delete": context.guard().permits("delete", obj),
        "filtered": any(k.startswith("filter.") or k in ("q", "where") for k in current.args),
        # The filter panel opens by itself when the URL holds a filter (not for a search alone).
        "filters_open": any(k.startswith("filter.") or k == "where" for k in current.args),
        "query": _query(current.args),
        "url_with": lambda **changes: _url_with(current, **changes),
        "record_name": record_name,
        "table_rows": table_rows,
        "count_text": _count_text(values.get("total"), False),
        **values,
    }


def _sort_options(current: Listing) -> list[tuple[str, str]]:
    """The sort menu: each sortable field up and down (each text translated once, not per field)."""
    ascending = _("%(field)s, ascending", field="{field}")
    descending = _("%(field)s, descending", field="{field}")
    options = []
    for field in current.sortable:
        label = label_of(field.definition, "label", field.api_name)
        options += [(field.api_name, ascending.replace("{field}", label))]
        options += [(f"-{field.api_name}", descending.replace("{field}", label))]
    return options


def _table_columns(current: Listing) -> list[TableColumn]:
    """The table's columns; a phone card shows the name and the key fields."""
    obj = current.obj
    key = {f.api_name for f in current.key_fields}
    return [
        _table_column(obj, field, on_phone=field.api_name == obj.name_field or field.api_name in key)
        for field in current.columns
    ]


def _table_column(obj, field, *, on_phone: bool = True) -> TableColumn:
    label = label_of(field.definition, "label", field.api_name)
    return TableColumn(
        field=field,
        label=label,
        edit_label=_("Edit %(field)s", field=label),
        editable=_may_edit(obj, field),
        is_name=field.api_name == obj.name_field,
        on_phone=on_phone,
        display=display_macro(field),
    )


def _url_with(current: Listing, **changes) -> str:
    """The list's URL with some parameters changed (None drops one) and never its page."""
    args = [(k, v) for k, v in current.args.items(multi=True) if k not in changes and k != "cursor"]
    args += [(k, v) for k, v in changes.items() if v is not None]
    query = urlencode(args)
    return url_for("ui.list_page", object=current.obj.api_name) + (f"?{query}" if query else "")


def _count_text(total: int | None, capped: bool | None) -> str:
    if total is None:
        return ""
    if capped:
        return _("%(count)s+ records", count=format_number(total))
    # Two texts rather than ngettext: Chinese has one form, English two.
    return _("1 record") if total == 1 else _("%(count)s records", count=format_number(total))


def _chrome(current: Listing) -> dict:
    """What the page around the results needs: views, bulk choices, the board's
    fields. The filter panel (list_filters) and the controls of a bulk edit
    (bulk_edit_controls) and of "assign owner" (bulk_owners) come in requests
    of their own, when needed: one filter control per field is the costliest
    part of the page."""
    obj = current.obj
    guard = context.guard()
    # Which pools the user works needs their teams (a query): asked only when a pool takes this object.
    pooled = any(pool.object == obj.api_name for pool in guard.policy.pools.values())
    pools = pool_service.visible_pools(guard, current_tenant(), context.model()) if pooled else []
    return {
        "shared_views": list_views(obj),
        "saved_query": saved_views.query_of(current.args),
        "may_bulk_edit": any(_may_edit(obj, f) for f in current.readable),
        "may_transfer": guard.permits("transfer", obj),
        "may_import": guard.permits("import", obj),
        "pools": [pool for pool in pools if pool.object == obj.api_name],
        "board_fields": board_fields(current.readable),
        "plugin_list_actions": list_actions(obj),
    }


def _filter_panel(current: Listing) -> dict:
    """The filter controls: the list's columns first, then the other fields by
    label; a lookup's filter shows the records it picked by name."""
    columns, others = filter_fields(current)
    values = filter_values(current.args)
    name_picked_records(columns + others, values)
    return {
        "filter_fields": columns,
        "other_filter_fields": others,
        "filter_values": values,
        "where_error": _where_error(current.obj, current.args.get("where", "").strip()),
    }


@blueprint.get("/o/<object>/filters")
def list_filters(object):
    """The filter panel of the list the query string describes; without
    htmx (no JS), the list page with the panel in it."""
    obj = object_for(object)
    if not htmx:
        return _page(_results(obj), panel_inline=True)
    current = listing(obj, request.args, page_size=PAGE_SIZE)
    return render_template(
        "lists/_filters.html", obj=obj, listing=current, list_url=url_for("ui.list_page", object=obj.api_name),
        **_filter_panel(current),
    )  # fmt: skip


@blueprint.get("/o/<object>/bulk-edit")
def bulk_edit_controls(object):
    """The fields a bulk edit may set, and the input of the first."""
    obj = object_for(object, "update")
    bulk_fields = [f for f in readable_fields(obj) if _may_edit(obj, f)]
    if not bulk_fields:
        raise Forbidden(f"you may change no field of {obj.label} here")
    return render_template("lists/bulk_edit.html", obj=obj, bulk_fields=bulk_fields)


@blueprint.get("/o/<object>/bulk-owners")
def bulk_owners(object):
    """The new-owner choice of a bulk "assign owner": the tenant's active members."""
    obj = object_for(object, "update")
    if not context.guard().permits("transfer", obj):
        raise Forbidden(f"you may not transfer {obj.label} records")
    members = identities.list_users(context.instance(), current_identity().tenant_slug)
    return render_template("lists/bulk_owner.html", members=members)


def _query(args) -> str:
    """The list's query string without its page, for actions that answer with the list."""
    return urlencode([(k, v) for k, v in args.items(multi=True) if k != "cursor"])


# -- the where= box, checked as the user types ------------------------------------------------------


@blueprint.get("/o/<object>/where-check")
def check_where(object):
    """The rule compiler's verdict on the ``where=`` text (line and column of
    a mistake), through the same check the list runs."""
    obj = object_for(object)
    text = request.args.get("where", "").strip()
    return render_template("lists/where_check.html", text=text, error=_where_error(obj, text))


def _where_error(obj, text: str) -> dict | None:
    """What is wrong with ``text`` as a condition on ``obj`` for this user (None: nothing)."""
    if not text:
        return None
    guard = context.guard()
    try:
        where_clause(context.model(), obj.api_name, text, guard.readable_fields(obj), guard.user_globals)
    except RuleError as exc:
        snippet = (exc.details or {}).get("snippet", "")
        return {"line": exc.line, "column": exc.column, "reason": exc.reason, "snippet": snippet}
    except ValidationFailed as exc:
        return {"line": None, "column": None, "reason": exc.message, "snippet": ""}
    return None


# -- inline edit of one cell ------------------------------------------------------------------------


def _cell_field(obj, field: str):
    readable = {f.api_name: f for f in readable_fields(obj)}
    if field not in readable:
        raise ValidationFailed(f"no field {field!r}", details={"fields": {field: [_("No such field")]}})
    return readable[field]


@blueprint.get("/o/<object>/<int:record_id>/cell/<field>")
def edit_cell(object, record_id, field):
    """The cell's input widget (``?show=1``: the cell as it was, for Cancel)."""
    obj = object_for(object)
    field_type = _cell_field(obj, field)
    record = context.store().get(obj.api_name, record_id, fields=[field_type.api_name])
    editing = request.args.get("show") != "1"
    if editing and not _may_edit(obj, field_type):
        raise Forbidden(f"you may not change {field_type.api_name} here")
    return _cell(obj, field_type, record, editing=editing)


@blueprint.post("/o/<object>/<int:record_id>/cell/<field>")
def save_cell(object, record_id, field):
    """Save one field of one record with the version it was read at; the
    store's refusal (validation, access, a newer version) stays in the cell."""
    obj = object_for(object, "update")
    field_type = _cell_field(obj, field)
    if not _may_edit(obj, field_type):
        raise Forbidden(f"you may not change {field_type.api_name} here")
    store = context.store()
    version = request.form.get("version", "")
    data = {field_type.api_name: form_value(field_type, request.form)}
    try:
        record = store.update(
            obj.api_name, record_id, data, expected_version=int(version) if version.isdigit() else None
        )
    except MetacrmError as exc:
        record = {**store.get(obj.api_name, record_id, fields=[field_type.api_name]), **data}
        record["version"] = int(version) if version.isdigit() else record["version"]
        # 200: htmx swaps the form back with the error in the cell (it swaps no 4xx answer).
        return _cell(obj, field_type, record, editing=True, errors=reasons(exc, field))
    return _cell(obj, field_type, record, editing=False), 200, {"HX-Trigger": json.dumps({"toast": _("Saved.")})}


def _cell(obj, field_type, record: dict, *, editing: bool, errors=()) -> str:
    column = _table_column(obj, field_type)
    return render_template("lists/cell.html", obj=obj, column=column, record=record, editing=editing, errors=errors)


def _may_edit(obj, field_type) -> bool:
    """A cell edits in place when the user may write the field and its type has a plain input."""
    guard = context.guard()
    return (
        not field_type.read_only
        and not field_type.is_reference
        and guard.permits("update", obj)
        and field_type.api_name in guard.writable_fields(obj)
    )


# -- bulk actions -----------------------------------------------------------------------------------


@blueprint.get("/o/<object>/bulk-value")
def bulk_value(object):
    """The input widget of the field a bulk edit sets."""
    obj = object_for(object, "update")
    field_type = _cell_field(obj, request.args.get("bulk_field", ""))
    return render_template("lists/bulk_value.html", field=field_type)


@blueprint.post("/o/<object>/bulk")
def bulk_action(object):
    """Apply one action to the selected records, one record at a time, so one
    refusal does not stop the rest; answer the list again with what failed."""
    obj = object_for(object)
    action = request.form.get("bulk_action", "")
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()][: pool_service.MAX_IDS]
    if action == "merge":  # h2: to the merge screen with 2-3 records
        merging = merge_redirect(obj, ids)
        if merging is not None:
            return merging
        return _results_markup(_results(obj, message=_("Choose 2 or 3 records to merge.")))
    if action.startswith(LIST_ACTION_PREFIX) and ids:  # a plugin's list action: one call with every id
        message = run_list_action(obj, action, ids)
        return _results_markup(_results(obj, message=message))
    if action not in BULK_ACTIONS or not ids:
        screen = _results(obj, message=_("Choose records and an action first."))
        return _results_markup(screen)
    run = _BULK[action]
    failures, done = [], 0
    for record_id in ids:
        try:
            run(obj, record_id, request.form)
            done += 1
        except MetacrmError as exc:
            failures.append((record_id, _name_of(obj, record_id), "; ".join(reasons(exc, obj=obj))))
    message = _("1 record done.") if done == 1 else _("%(num)d records done.", num=done)
    return _results_markup(_results(obj, message=message, failures=failures))


def _edit(obj, record_id, form):
    field_type = _cell_field(obj, form.get("bulk_field", ""))
    context.store().update(obj.api_name, record_id, {field_type.api_name: form_value(field_type, form)})


def _owner(obj, record_id, form):
    owner = form.get("bulk_owner", "")
    body = {"user_id": int(owner) if owner.isdigit() else owner}
    transfer_owner(
        context.instance(), context.guard(), current_tenant(), context.model(), obj.api_name, record_id, body,
        current_actor(),
    )  # fmt: skip


def _delete(obj, record_id, form):
    context.store().delete(obj.api_name, record_id)


def _to_pool(obj, record_id, form):
    guard, binding, model = context.guard(), current_tenant(), context.model()
    pool, _pooled = pool_service.pool_of(guard, binding, model, form.get("bulk_pool", ""))
    if pool.object != obj.api_name:  # the ids are this list's records, not another object's
        message = _(
            "%(pool)s is no pool of %(object)s", pool=pool.label, object=label_of(obj.definition, "label", obj.label)
        )
        raise ValidationFailed(message, details={"fields": {"pool": [message]}})
    body = {"ids": [record_id], "reason": form.get("bulk_reason", "")}
    pool_service.return_records(guard, binding, model, pool.api_name, body, current_actor())


_BULK = {"edit": _edit, "owner": _owner, "delete": _delete, "pool": _to_pool}


def _name_of(obj, record_id: int) -> str:
    try:
        fields = [obj.name_field] if obj.name_field else []
        return record_name(obj, context.store().get(obj.api_name, record_id, fields=fields))
    except MetacrmError:
        return f"#{record_id}"


# -- personal saved views ---------------------------------------------------------------------------


@blueprint.get("/o/<object>/views/personal")
def personal_views_menu(object):
    """The user's own views of the object, for the views menu when it opens."""
    obj = object_for(object)
    return render_template(
        "lists/_personal_views.html",
        obj=obj,
        list_url=url_for("ui.list_page", object=obj.api_name),
        personal_views=saved_views.views_of(current_tenant(), current_identity().user_id, obj.api_name),
        saved_query=request.args.get("query", ""),
    )


@blueprint.post("/o/<object>/views")
def save_personal_view(object):
    """Save the list as it is now (its query) under a name of the user's."""
    obj = object_for(object)
    query = saved_views.query_of(MultiDict(parse_qsl(request.form.get("query", ""))))
    label = request.form.get("label", "")
    saved_views.save_view(current_tenant(), current_identity().user_id, obj.api_name, label, query)
    return _back_to_list(obj, query)


@blueprint.post("/o/<object>/views/<int:view_id>/delete")
def delete_personal_view(object, view_id):
    obj = object_for(object)
    saved_views.delete_view(current_tenant(), current_identity().user_id, obj.api_name, view_id)
    return _back_to_list(obj, "")


def _back_to_list(obj, query: str):
    location = url_for("ui.list_page", object=obj.api_name) + (f"?{query}" if query else "")
    if htmx:
        return "", 204, {"HX-Redirect": location}
    return redirect(location, code=303)
