"""What the list and the board screens share: the list parameters of the URL
(cleaned of the empty values a filter form sends), the columns a user sees,
the sort they are in, a record's name, and a form value as the record store
takes it. Records are read only through the list service
(:mod:`metacrm.plugins.records`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

from flask import current_app, request
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import MetacrmError
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest
from metacrm.ui.blueprint import htmx
from metacrm.ui.formatting import bound_display, sentence
from metacrm.ui.i18n import label_of
from metacrm.ui.screens import readable_fields

# Shown when neither the URL nor a list view names columns: the name and these many more.
DEFAULT_COLUMNS = 5
# The fields a phone card or a kanban card shows besides the name.
KEY_FIELDS = 3


def clean_args(args: MultiDict) -> MultiDict:
    """The list's query arguments without empty values (a filter form sends
    every control), ``fields`` joined when a columns form sent it per box."""
    cleaned = MultiDict([(k, v) for k, v in args.items(multi=True) if v != "" and k != "page"])
    chosen = [name for value in cleaned.poplist("fields") for name in value.split(",") if name]
    if chosen:
        cleaned["fields"] = ",".join(dict.fromkeys(chosen))
    return cleaned


def list_views(obj: CompiledObject) -> list[dict]:
    """The object's shared list views (metadata), in api-name order."""
    return [d.document for d in context.model().definitions.scoped("list_view", obj.api_name)]


def list_view(obj: CompiledObject, name: str | None) -> dict | None:
    if not name:
        return None
    definition = context.model().definitions.get("list_view", scoped_key(obj.api_name, name))
    return definition.document if definition else None


def default_view(views: list[dict]) -> dict | None:
    """The view a list opens with: the one an admin marked ``default``, else the first."""
    return next((v for v in views if v.get("default")), views[0] if views else None)


@dataclass(frozen=True)
class Listing:
    """One list as the URL asks for it: the request for the list service,
    the view it starts from, the columns shown and the sort in force."""

    obj: CompiledObject
    args: MultiDict
    request: ListRequest
    view: dict | None
    columns: list[FieldType]
    readable: list[FieldType]
    sort: str

    @property
    def name_field(self) -> FieldType | None:
        name = self.obj.name_field
        return next((f for f in self.readable if f.api_name == name), None)

    @property
    def key_fields(self) -> list[FieldType]:
        """The columns a card shows besides the name."""
        return [f for f in self.columns if f.api_name != self.obj.name_field][:KEY_FIELDS]

    @property
    def sortable(self) -> list[FieldType]:
        return [f for f in self.readable if f.sortable and (f.has_column or f.computed)]

    def sort_state(self, field: FieldType) -> str | None:
        """ "ascending" / "descending" when the list is sorted by ``field`` first."""
        first = self.sort.split(",")[0].strip()
        if first.lstrip("-") != field.api_name:
            return None
        return "descending" if first.startswith("-") else "ascending"

    def next_sort(self, field: FieldType) -> str:
        """The sort a click on the column's header asks for: ascending, or descending when it already is."""
        return f"-{field.api_name}" if self.sort_state(field) == "ascending" else field.api_name


def listing(obj: CompiledObject, args: MultiDict, *, page_size: int) -> Listing:
    """The list ``args`` asks for: without ``view=``, the object's first list
    view; columns from ``fields=``, else the view's, else the name and a few
    fields; only fields the user may read, anywhere."""
    args = clean_args(args)
    readable = readable_fields(obj)
    names = {f.api_name for f in readable}
    request = ListRequest.from_args(args, filter_prefix=True)
    views = list_views(obj)
    view = list_view(obj, request.view) if request.view else default_view(views)
    if view is not None and not request.view:
        request = replace(request, view=view["api_name"])
    wanted = request.fields or (view or {}).get("columns") or _default_columns(obj, readable)
    chosen = [n for n in dict.fromkeys(wanted) if n in names]
    if obj.name_field in names and obj.name_field not in chosen:
        chosen.insert(0, obj.name_field)
    columns = [obj.fields[n] for n in chosen]
    request = replace(request, fields=chosen, limit=page_size, count=False)
    sort = request.sort or (view or {}).get("sort") or ""
    return Listing(obj, args, request, view, columns, readable, sort)


def filter_fields(current: Listing) -> tuple[list[FieldType], list[FieldType]]:
    """The fields the filter panel offers: the list's columns, in their
    order, and the other fields the user may filter by, by label."""
    usable = [f for f in current.readable if f.api_name != "id" and f.operators]
    shown = [f.api_name for f in current.columns]
    first = sorted((f for f in usable if f.api_name in shown), key=lambda f: shown.index(f.api_name))
    rest = sorted(
        (f for f in usable if f.api_name not in shown),
        key=lambda f: label_of(f.definition, "label", f.api_name).casefold(),
    )
    return first, rest


class FilterValue(dict):
    """What the URL filters one field by, for its filter control: operator →
    the text sent (``filter.amount[gte]=10`` → {"gte": "10"}); :meth:`all`
    every text sent with an operator (a multi-select sends several);
    ``names`` the names of the records a lookup filter picked, by id."""

    def __init__(self):
        super().__init__()
        self.sent: dict[str, list[str]] = {}
        self.names: dict[str, str] = {}

    def all(self, op: str) -> list[str]:
        return self.sent.get(op, [])

    def name_of(self, record_id: str) -> str:
        return self.names.get(str(record_id)) or f"#{record_id}"


def filter_values(args: MultiDict) -> dict[str, FilterValue]:
    """The ``filter.<field>[op]`` arguments by field (see :class:`FilterValue`)."""
    values: dict[str, FilterValue] = {}
    for key, value in args.items(multi=True):
        if not key.startswith("filter."):
            continue
        name, _sep, op = key.removeprefix("filter.").partition("[")
        op = op.rstrip("]") or "eq"
        found = values.setdefault(name, FilterValue())
        found.setdefault(op, value)
        found.sent.setdefault(op, []).append(value)
    return values


def name_picked_records(fields: list[FieldType], values: dict[str, FilterValue]) -> None:
    """Give the records a lookup filter picked their names (read through the
    user's guard; a record they may not read stays "#id")."""
    store = context.store()
    for field in fields:
        value = values.get(field.api_name)
        target = context.model().object(field.reference_target) if field.is_reference and value else None
        if target is None:
            continue
        ids = [int(i) for texts in value.sent.values() for i in texts if i.isdigit()][:20]
        name = target.name_field
        if not ids or not name or name not in context.guard().readable_fields(target):
            continue
        try:
            page = store.query(target.api_name, filters=[("id", "in", ids)], fields=[name], limit=len(ids))
        except MetacrmError:
            continue
        value.names.update({str(r["id"]): str(r.get(name)) for r in page.data if r.get(name) not in (None, "")})


def _default_columns(obj: CompiledObject, readable: list[FieldType]) -> list[str]:
    others = [f.api_name for f in readable if f.api_name != obj.name_field and (f.has_column or f.computed)]
    return [obj.name_field, *others[:DEFAULT_COLUMNS]]


def record_name(obj: CompiledObject, record: dict) -> str:
    """What names a record on screen: its name field, else its number."""
    value = record.get(obj.name_field) if obj.name_field else None
    return str(value) if value not in (None, "") else f"#{record['id']}"


def form_value(field: FieldType, form: MultiDict):
    """A field's value in a posted form as the record store takes it: a list
    for a type whose value is a list, else the last value sent (a checkbox
    sends a hidden "false" before its "true"); empty text is no value."""
    values = form.getlist(field.api_name)
    if _takes_a_list(field):
        return [v for v in values if v != ""]
    value = values[-1] if values else ""
    return None if value == "" else value


def is_choice(field: FieldType) -> bool:
    """A field with one value out of a list of choices (a kanban can group by it)."""
    return callable(getattr(field, "choices", None)) and not _takes_a_list(field)


def board_fields(fields: list[FieldType]) -> list[FieldType]:
    """The fields a board can group by, the required ones (a stage, a status) first:
    the first is the board's default."""
    choices = [f for f in fields if is_choice(f)]
    return [f for f in choices if f.required] + [f for f in choices if not f.required]


def is_amount(field: FieldType) -> bool:
    """A field holding an amount of money (a kanban column can sum it)."""
    return isinstance(getattr(field, "currency", None), str)


def _takes_a_list(field: FieldType) -> bool:
    """Whether the field's value is a list (its JSON Schema says so)."""
    kind = field.json_schema(output=False).get("type")
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


@dataclass(frozen=True)
class TableColumn:
    """One column of the list's table, worked out once rather than once per
    cell (and kept with the list's results frame, views.lists): its label,
    whether its cells edit in place, whether a phone card shows it."""

    field: FieldType
    label: str
    edit_label: str
    editable: bool
    is_name: bool
    on_phone: bool
    display: Callable  # the field type's display macro, looked up once (widgets/field.html does it per call)

    @property
    def api_name(self) -> str:
        return self.field.api_name

    @cached_property
    def cell_start(self) -> Markup:
        """A table cell's opening tags up to its value (lists/_table.html), made once per page, not per cell."""
        hidden_on_phone = Markup("" if self.on_phone else ' class="d-none d-md-table-cell"')
        return Markup('<td data-field="{}" data-label="{}"{}><div class="cell-view"><span class="cell-value">').format(
            self.api_name, self.label, hidden_on_phone
        )

    @cached_property
    def edit_button(self) -> str:
        """The cell's pencil button, but for the record's URL that starts its ``hx-get``."""
        return (
            f'/cell/{self.api_name}" hx-target="closest td" hx-swap="innerHTML" aria-label="{escape(self.edit_label)}">'
        )

    def show(self, value, shown: dict) -> str:
        """The value as the field type displays it, escaped. ``shown`` holds
        what the column made of each value on this page: a picklist or a
        yes/no column repeats a few values down the page. (A page's own
        table: a column is kept between pages, views.lists.)"""
        try:
            return shown[value]
        except KeyError:
            text = shown[value] = str(escape(self.display(self.field, value)))
            return text
        except TypeError:  # a list value (tags, a multi-picklist): not a key
            return str(escape(self.display(self.field, value)))


def table_rows(
    obj: CompiledObject,
    records: list[dict],
    columns: list[TableColumn],
    *,
    list_url: str,
    selectable: bool,
    select_label: str,
    pencil: Markup,
) -> Markup:
    """The ``<tr>`` of a list page (lists/_table.html), written in Python: a
    page is ~150 cells, and a Jinja loop spends most of the screen's time
    on them. Every value is escaped here as the template would (a display
    macro's answer is Markup already); the markup is the contract of UI.md §3."""
    base = str(escape(list_url))
    select_before, _, select_after = str(escape(select_label)).partition("{name}")
    pencil = f"{pencil}</button>"
    columns_shown = [(column, {}) for column in columns]  # each column's values shown on this page
    parts: list[str] = []
    add = parts.append
    for record in records:
        record_id = int(record["id"])
        record_url = f"{base}/{record_id}"
        name = escape(record_name(obj, record))
        add(f'<tr data-record-id="{record_id}">')
        if selectable:
            add(
                f'<td class="select-col"><label class="select-hit" for="select-{record_id}">'
                f'<input class="form-check-input" type="checkbox" name="ids" value="{record_id}" form="bulk-form"'
                f' id="select-{record_id}"><span class="visually-hidden">'
                f"{select_before}{name}{select_after}</span></label></td>"
            )
        for column, shown in columns_shown:
            if column.is_name:
                add(f'<td data-field="{column.api_name}" class="cell-name"><a href="{record_url}">{name}</a></td>')
                continue
            add(f"{column.cell_start}{column.show(record.get(column.api_name), shown)}</span>")
            if column.editable:
                add(f'<button class="btn btn-sm btn-link cell-edit" type="button" hx-get="{record_url}')
                add(column.edit_button)
                add(pencil)
            add("</div></td>")
        add("</tr>")
    return Markup("".join(parts))


def reasons(exc: MetacrmError, field: str | None = None, obj: CompiledObject | None = None) -> list[str]:
    """What to tell the user about a refused write, as sentences in their
    language (:func:`metacrm.ui.formatting.sentence`): the messages about
    ``field`` when the error names it, else every field's first message
    (after the field's label when ``obj`` has it), else the error's own message."""
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    if isinstance(fields, dict) and fields:
        if field is not None and fields.get(field):
            return [sentence(message) for message in fields[field]]
        if field is None:
            return [_about(obj, name, messages[0]) for name, messages in fields.items() if messages]
    return [sentence(exc.message)]


def _about(obj: CompiledObject | None, name: str, message) -> str:
    """ "Amount: Must be at least 0": a field's message with the field's label before it."""
    field = obj.fields.get(name) if obj is not None else None
    if field is None:
        return sentence(message)
    return f"{label_of(field.definition, 'label', name)}: {sentence(message)}"


# Widget macros that only call a display function of metacrm.ui.formatting.
_PYTHON_DISPLAYS = {
    ("widgets/number.html", "display"): "number",
    ("widgets/number.html", "display_currency"): "currency",
    ("widgets/number.html", "display_percent"): "percent",
    ("widgets/date.html", "display"): "date",
    ("widgets/date.html", "display_datetime"): "datetime",
    ("widgets/text.html", "display"): "text",
}


def display_macro(field: FieldType) -> Callable:
    """What shows a value of ``field`` (``FieldType.widgets``): its Jinja
    macro, or for the plain types the Python function that macro calls
    (the same text, without a macro call per cell)."""
    shown_by = _PYTHON_DISPLAYS.get((field.widgets.template, field.widgets.display))
    if shown_by is not None:
        return bound_display(shown_by)
    module = current_app.jinja_env.get_template(field.widgets.template).module
    return getattr(module, field.widgets.display)


def render_block(template_name: str, block: str, **values) -> str:
    """One block of a page's template, for an htmx swap: the full page and
    the fragment are the same template (UI.md §1.5)."""
    app = current_app
    template = app.jinja_env.get_template(template_name)
    # The context processors, but not the page's shell (navigation, bell: queries a block never shows).
    for name in (None, *reversed(request.blueprints)):
        for processor in app.template_context_processors.get(name, ()):
            if not getattr(processor, "page_only", False):
                values = {**processor(), **values}
    return "".join(template.blocks[block](template.new_context(values)))


def wants_block(target: str) -> bool:
    """An htmx request swapping the element ``target`` (not a history restore, which needs the page)."""
    return bool(htmx) and htmx.target == target and not htmx.history_restore_request
