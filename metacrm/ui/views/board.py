"""The kanban board of an object (``/o/<object>/board?by=<picklist>``): a
column per value of a one-choice field with its count and the sum of an
amount field (``sum=``), cards with the name and key fields, and moving a
card (SortableJS, ``static/js/board.js``) saving through the record store —
validation rules and access decide, and a refusal comes back in the card.
The list's parameters (``view``, ``q``, ``where``, ``filter.…``) narrow the
board as they narrow the list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from flask import render_template, request
from flask_babel import format_currency, format_number
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.platform.errors import MetacrmError, ValidationFailed
from metacrm.plugins import context, records
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import locale_name
from metacrm.ui.listing import (
    Listing,
    board_fields,
    is_amount,
    listing,
    reasons,
    record_name,
    render_block,
    wants_block,
)
from metacrm.ui.screens import object_for

# Cards loaded per column; beyond them the column says how many more there are.
CARDS = 20
COUNT_CAP = 10_000
TEMPLATE = "board/board.html"
NO_VALUE = ""
# The board's own parameters; the rest are the list's.
BOARD_PARAMS = ("by", "sum")


@dataclass
class Column:
    value: str
    label: str
    color: str | None
    cards: list[dict]
    total: int
    capped: bool
    more: bool
    amount: str | None

    @property
    def count_text(self) -> str:
        return f"{format_number(self.total)}+" if self.capped else format_number(self.total)


@dataclass
class Board:
    listing: Listing
    by: FieldType
    amount: FieldType | None
    choice_fields: list[FieldType]
    amount_fields: list[FieldType]

    @property
    def key_fields(self) -> list[FieldType]:
        """What a card shows under the name: the list's key fields, not the board's own."""
        shown = [f for f in self.listing.columns if f.api_name not in (self.listing.obj.name_field, self.by.api_name)]
        return shown[:3]

    @property
    def fields(self) -> list[str]:
        names = [self.listing.obj.name_field, self.by.api_name, *(f.api_name for f in self.key_fields)]
        if self.amount is not None:
            names.append(self.amount.api_name)
        return [n for n in dict.fromkeys(names) if n]


def _board(obj) -> Board:
    list_args = MultiDict([(k, v) for k, v in request.args.items(multi=True) if k not in BOARD_PARAMS])
    current = listing(obj, list_args, page_size=CARDS)
    choice_fields = board_fields(current.readable)
    amount_fields = [f for f in current.readable if is_amount(f)]
    if not choice_fields:
        raise ValidationFailed(
            f"{obj.api_name} has no picklist to make a board of", details={"fields": {"by": ["no picklist"]}}
        )
    # The view's own board (an admin chose it in setup), unless the URL says otherwise.
    preset = (current.view or {}).get("board") or {}
    readable = {f.api_name for f in current.readable}
    by = (
        _chosen(choice_fields, request.args.get("by"), "by")
        or next((f for f in choice_fields if f.api_name == preset.get("by")), None)
        or choice_fields[0]
    )
    amount = _chosen(amount_fields, request.args.get("sum"), "sum")
    if amount is None and "sum" not in request.args and preset.get("sum") in readable:
        amount = next((f for f in amount_fields if f.api_name == preset["sum"]), None)
    if amount is None and "sum" not in request.args and amount_fields:
        amount = amount_fields[0]
    return Board(current, by, amount, choice_fields, amount_fields)


def _chosen(fields: list[FieldType], name: str | None, param: str) -> FieldType | None:
    if not name:
        return None
    for field in fields:
        if field.api_name == name:
            return field
    raise ValidationFailed(f"{param}: no field {name!r} to use here", details={"fields": {param: ["no such field"]}})


def _columns(board: Board) -> list[Column]:
    store = context.store()
    obj = board.listing.obj
    base = replace(board.listing.request, fields=board.fields, cursor=None, limit=CARDS)
    values = [(c["value"], c["label"], c.get("color")) for c in board.by.choices(locale_name())]
    if not board.by.required:
        values.append((NO_VALUE, _("No value"), None))
    columns = []
    for value, label, color in values:
        condition = (board.by.api_name, "eq", value) if value else (board.by.api_name, "isnull", "true")
        asked = replace(base, filters=base.filters + (condition,))
        page = records.list_page(store, obj.api_name, asked)
        total, capped = records.capped_total(store, obj.api_name, asked, COUNT_CAP)
        columns.append(
            Column(value, label, color, page.data, total, capped, page.next_cursor is not None, _sum(board, page.data))
        )
    return columns


def _sum(board: Board, cards: list[dict]) -> str | None:
    """The amount of the cards shown, in the field's currency (a column with
    more cards than it shows says "+": counting money past the loaded cards
    would need an aggregate the record store does not offer yet)."""
    if board.amount is None:
        return None
    total = Decimal(0)
    for card in cards:
        try:
            total += Decimal(str(card.get(board.amount.api_name) or 0))
        except InvalidOperation:
            continue
    return format_currency(total, board.amount.currency)


@blueprint.get("/o/<object>/board")
def board(object):
    obj = object_for(object)
    current = _board(obj)
    values = {"board": current, "obj": obj, "columns": _columns(current), **_card_helpers(current)}
    if wants_block("board"):
        return render_block(TEMPLATE, "board", **values)
    return render_template(TEMPLATE, **values)


def _card_helpers(current: Board) -> dict:
    guard = context.guard()
    obj = current.listing.obj
    return {
        "record_name": record_name,
        "may_move": guard.permits("update", obj) and current.by.api_name in guard.writable_fields(obj),
        "may_create": guard.permits("create", obj),
        "list_query": _list_query(),
    }


def _list_query() -> str:
    """The board's query without its own parameters: the same records as a list."""
    return urlencode([(k, v) for k, v in request.args.items(multi=True) if k not in BOARD_PARAMS and v])


@blueprint.post("/o/<object>/board/move")
def move_card(object):
    """Move one card to another column: the board's field set to the column's
    value through the store, with the version the card was read at. The
    answer is the card (with the store's refusal in it: a 422)."""
    obj = object_for(object, "update")
    current = _board(obj)
    store = context.store()
    record_id = request.form.get("id", "")
    version = request.form.get("version", "")
    value = request.form.get("value") or None
    if not record_id.isdigit():
        raise ValidationFailed("id: a record id", details={"fields": {"id": ["a record id"]}})
    try:
        card = store.update(
            obj.api_name,
            int(record_id),
            {current.by.api_name: value},
            expected_version=int(version) if version.isdigit() else None,
        )
        error, status, headers = None, 200, {"HX-Trigger": json.dumps({"toast": _("Moved.")})}
    except MetacrmError as exc:
        card = store.get(obj.api_name, int(record_id), fields=current.fields)
        error, status, headers = "; ".join(reasons(exc, obj=obj)), 422, {}
    html = render_template("board/card.html", card=card, board=current, obj=obj, error=error, **_card_helpers(current))
    return html, status, headers
