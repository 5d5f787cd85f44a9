"""The list service: how a list of records is asked for and answered, in one
place for the REST API (``/api/v1/data``, pool records) and the screens.

* :meth:`ListRequest.from_args` reads the list parameters from query
  arguments: field filters ``<field>=`` / ``<field>[op]=`` (on screens also
  ``filter.<field>=`` / ``filter.<field>[op]=``), ``q``, ``sort``, ``limit``,
  ``cursor``, ``offset``, ``fields``, ``count``, ``deleted``, ``where`` and
  ``view``; a malformed parameter is a 422 naming it.
* :func:`list_page` lists through the record store: a list view's
  ``filters``, ``filter`` and ``sort`` joined with the request's own (the
  request's ``sort`` wins), ``where=`` compiled to SQL with the caller's
  ``$User`` (:mod:`metacrm.plugins.where`); :func:`related_page` lists a
  record's related records. :func:`page_body` is the JSON of a page.
* :func:`etag` and :func:`expected_version` are optimistic locking: a
  record's ETag is its quoted version; a write names the version it read in
  ``If-Match`` or in the body's ``version``.

It knows nothing of Flask's request: callers pass the query arguments (a
werkzeug ``MultiDict`` or a plain mapping), header values and bodies.
Cursors are the record store's: passed through, never opened here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from werkzeug.datastructures import MultiDict

from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.store import Page, RecordStore
from metacrm.platform.errors import BadRequest, NotFound, ValidationFailed
from metacrm.platform.web import MAX_ID
from metacrm.plugins.where import where_clause

# Query arguments that are list parameters; any other is a field filter.
RESERVED_PARAMS = {"q", "sort", "limit", "cursor", "offset", "fields", "count", "deleted", "where", "view"}
FILTER_PARAM = re.compile(r"^([a-z][a-z0-9_]{0,62})(?:\[([a-z]+)\])?$")
# The screens' spelling of a field filter (UI.md): ``filter.amount[gte]=`` for ``amount[gte]=``.
FILTER_PREFIX = "filter."


def flag(args: Mapping[str, Any], name: str) -> bool:
    """Whether the query argument ``name`` is on (``1``, ``true``, ``yes``)."""
    return str(args.get(name, "")).lower() in ("1", "true", "yes")


def field_names(raw: str | None) -> list[str] | None:
    """``fields=name,amount`` as a list; None (every readable field) when absent."""
    return [f.strip() for f in raw.split(",") if f.strip()] if raw else None


@dataclass(frozen=True)
class ListRequest:
    """The parameters of one list. ``limit`` stays as given: the record store
    checks it (a 422 naming ``limit``)."""

    filters: tuple[tuple[str, str, Any], ...] = ()
    fields: list[str] | None = None
    q: str | None = None
    sort: str | None = None
    limit: int | str | None = None
    cursor: str | None = None
    offset: int | None = None
    count: bool = False
    deleted: bool = False
    where: str | None = None
    view: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any], *, filter_prefix: bool = False) -> ListRequest:
        """The list parameters in query arguments. ``filter_prefix`` also
        accepts the screens' ``filter.<field>`` spelling of a field filter
        (the REST API refuses it, as any unknown parameter)."""
        if not isinstance(args, MultiDict):
            args = MultiDict(args)
        filters = []
        for key, values in args.lists():
            if key in RESERVED_PARAMS:
                continue
            name = key.removeprefix(FILTER_PREFIX) if filter_prefix else key
            match = FILTER_PARAM.match(name)
            if not match:
                raise ValidationFailed(
                    f"unknown query parameter {key!r}",
                    details={"fields": {key: ["not a field filter like name or amount[gte]"]}},
                )
            filters.extend((match[1], match[2] or "eq", value) for value in values)
        return cls(
            filters=tuple(filters),
            fields=field_names(args.get("fields")),
            q=args.get("q") or None,
            sort=args.get("sort") or None,
            limit=args.get("limit"),
            cursor=args.get("cursor") or None,
            offset=_offset(args.get("offset")),
            count=flag(args, "count"),
            deleted=flag(args, "deleted"),
            where=args.get("where") or None,
            view=args.get("view") or None,
        )

    def query_arguments(self) -> dict[str, Any]:
        """The arguments of ``RecordStore.query`` and ``RecordStore.related``
        that come straight from the request (not ``deleted``, ``where``, ``view``)."""
        return {
            "filters": list(self.filters),
            "fields": self.fields,
            "q": self.q,
            "sort": self.sort,
            "limit": self.limit,
            "cursor": self.cursor,
            "offset": self.offset,
            "count": self.count,
        }


def _offset(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) > MAX_ID:
        raise ValidationFailed("offset must be a whole number", details={"fields": {"offset": ["whole number"]}})
    return int(raw)


def list_page(
    store: RecordStore, object_name: str, request: ListRequest, *, extra_where: ColumnElement | None = None
) -> Page:
    """One page of ``object_name`` as ``request`` asks, within the store's
    guard; ``extra_where`` narrows it further (e.g. to the records of a pool).
    The list view's and ``where=``'s conditions read only fields the caller
    can see, and ``$User`` is the guard's."""
    conditions = []
    if request.view:
        view = _list_view(store, object_name, request.view)
        request = _with_view(request, view)
        if view.get("filter"):
            conditions.append(view["filter"])
    if request.where:
        conditions.append(request.where)
    clauses = [] if extra_where is None else [extra_where]
    if conditions:
        guard = store.guard
        readable = guard.readable_fields(store.object(object_name))
        clauses += [where_clause(store.model, object_name, text, readable, guard.user_globals) for text in conditions]
    return store.query(
        object_name,
        **request.query_arguments(),
        deleted=request.deleted,
        extra_where=sa.and_(*clauses) if clauses else None,
    )


def _list_view(store: RecordStore, object_name: str, view: str) -> dict:
    """The document of the list view ``view`` of ``object_name``; 404 when there is none."""
    definition = store.model.definitions.get("list_view", scoped_key(object_name, view))
    if definition is None:
        raise NotFound(f"no list view {view!r} on {object_name}")
    return definition.document


def _with_view(request: ListRequest, view: dict) -> ListRequest:
    """``request`` with the list view's ``filters`` added and, when it names
    no sort, the view's ``sort``."""
    added = [
        (field, "in", value) if isinstance(value, list) else (field, "eq", value)
        for field, value in (view.get("filters") or {}).items()
    ]
    return replace(request, filters=request.filters + tuple(added), sort=request.sort or view.get("sort") or None)


def related_page(store: RecordStore, object_name: str, record_id: Any, field: str, request: ListRequest) -> Page:
    """One page of the records related to a record through ``field`` (see
    ``RecordStore.related``), ``where=`` applied to them as on their own list;
    ``deleted`` and ``view`` do not apply."""
    extra_where = None
    related = _related_object(store, object_name, field)
    if request.where and related is not None:
        guard = store.guard
        readable = guard.readable_fields(store.object(related))
        extra_where = where_clause(store.model, related, request.where, readable, guard.user_globals)
    return store.related(object_name, record_id, field, **request.query_arguments(), extra_where=extra_where)


def _related_object(store: RecordStore, object_name: str, field: str) -> str | None:
    """The object whose records ``field`` relates (None if it names no
    relation: the store answers that with its own 404)."""
    if "." in field:
        return field.split(".", 1)[0] if store.model.object(field.split(".", 1)[0]) else None
    field_type = store.object(object_name).fields.get(field)
    return field_type.reference_target if field_type is not None and field_type.is_reference else None


def page_body(page: Page) -> dict:
    """A page as the API answers it: ``data``, ``next_cursor`` and, when counted, ``total``."""
    body = {"data": page.data, "next_cursor": page.next_cursor}
    if page.total is not None:
        body["total"] = page.total
    return body


def etag(record: Mapping[str, Any]) -> str:
    """A record's ETag: its version, quoted (``"3"``)."""
    return f'"{record["version"]}"'


def expected_version(if_match: str | None, body: dict) -> int | None:
    """The version a write expects to replace: from the ``If-Match`` header
    (an ETag, weak or strong) or else the body's ``version``, which is taken
    out of the body. None when neither names one."""
    if if_match:
        raw = if_match.strip().removeprefix("W/").strip('"')
        if not raw.isdigit():
            raise BadRequest("If-Match must be the record's version, as in its ETag")
        return int(raw)
    version = body.pop("version", None)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValidationFailed("version must be an integer", details={"fields": {"version": ["must be an integer"]}})
    return version


def capped_total(
    store: RecordStore, object_name: str, request: ListRequest, cap: int, *, extra_where: ColumnElement | None = None
) -> tuple[int, bool]:
    """How many records ``request`` matches, counting no further than ``cap``:
    ``(n, False)`` exactly, or ``(cap, True)`` when there are more. The
    screens show it on every keystroke, so it must stay cheap on a big
    table: one probe at offset ``cap`` (reads at most ``cap`` index entries
    in id order), and an exact count only when the probe finds nothing."""
    bare = replace(request, fields=[], cursor=None, count=False, sort="id")
    beyond = list_page(store, object_name, replace(bare, limit=1, offset=cap), extra_where=extra_where)
    if beyond.data:
        return cap, True
    counted = list_page(store, object_name, replace(bare, limit=1, offset=None, count=True), extra_where=extra_where)
    return counted.total or 0, False
