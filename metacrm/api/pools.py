"""``/api/v1/pools``: public pools as their members see them — the pools I
work, their records, and claiming, returning and assigning records.

Pools are defined under ``/api/v1/access/pools`` (manage_access). Here a
pool someone does not work (through a role, a team, or as its admin) is a
404. Listing a pool's records goes through the record store, so field-level
security, filters, search, sorting and paging work as on
``/api/v1/data/<object>``. Every move is audited. See docs/access.md.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, jsonify, request

from metacrm.access import pools as pool_service
from metacrm.api.requests import json_body
from metacrm.platform.web import current_actor, current_tenant
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, list_page, page_body

blueprint = Blueprint("api_pools", __name__, url_prefix="/api/v1/pools")


@blueprint.get("")
def list_pools():
    """The pools I work or administer, with how many records wait in each and how many I hold."""
    guard, binding, model = context.guard(), current_tenant(), context.model()
    with binding.connect() as conn:
        data = [
            pool_service.pool_json(conn, guard, pool, model.object(pool.object))
            for pool in pool_service.visible_pools(guard, binding, model)
        ]
    return jsonify({"data": data})


@blueprint.get("/<pool>")
def get_pool(pool):
    """One pool I work."""
    guard, binding, model = context.guard(), current_tenant(), context.model()
    found, obj = pool_service.pool_of(guard, binding, model, pool)
    with binding.connect() as conn:
        return jsonify(pool_service.pool_json(conn, guard, found, obj))


@blueprint.get("/<pool>/records")
def pool_records(pool):
    """The records waiting in a pool: the list parameters of ``/api/v1/data/<object>`` apply."""
    guard, binding, model = context.guard(), current_tenant(), context.model()
    found, obj = pool_service.pool_of(guard, binding, model, pool)
    # A pool lists its live records, and (as docs/access.md says) without list views.
    listed = replace(ListRequest.from_args(request.args), deleted=False, view=None)
    in_pool = pool_service.in_pool_clause(obj, found.api_name)
    return jsonify(page_body(list_page(context.store(), obj.api_name, listed, extra_where=in_pool)))


@blueprint.post("/<pool>/claim")
def claim(pool):
    """Take records from the pool: ``{"ids": [...]}``.

    Within the pool's claim quota; not a record I returned during the cool-down;
    409 naming any id someone else claimed first."""
    result = pool_service.claim(context.guard(), current_tenant(), context.model(), pool, json_body(), current_actor())
    return jsonify(result)


@blueprint.post("/<pool>/return")
def return_records(pool):
    """Give records back to the pool: ``{"ids": [...], "reason": "..."}`` (reason required).

    The records must be in my update scope; their owner is cleared."""
    result = pool_service.return_records(
        context.guard(), current_tenant(), context.model(), pool, json_body(), current_actor()
    )
    return jsonify(result)


@blueprint.post("/<pool>/assign")
def assign(pool):
    """Hand records in the pool to a member: ``{"ids": [...], "user_id": N}`` (the pool's admins only)."""
    result = pool_service.assign(
        context.instance(), context.guard(), current_tenant(), context.model(), pool, json_body(), current_actor()
    )
    return jsonify(result)
