"""Public pools (公海) on screen: ``/pools``, the pools a user works, and
``/pools/<pool>``, one pool: the records a member may claim (readable fields
only, quick search, keyset paging), the user's quota left and cool-downs,
claim (one or the selected), return with a reason and, for the pool's
admins, assign to a member.

Everything goes through the pool service (:mod:`metacrm.access.pools`) and
the list service, exactly as ``/api/v1/pools`` does: a pool the user does
not work is a 404, and every move is checked and audited there. A move
answers htmx with the pool's body (``pools/_body.html``) and a toast; a
plain form post that succeeds with a redirect (303) back to the pool page and
its message shown once (post/redirect/get), and one refused with the page
itself, the refusal beside the control that caused it (422, 409 when the
pool refuses: quota, cool-down, taken first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.access import pools as pool_service
from metacrm.access.members import tenant_members
from metacrm.access.policy import Pool
from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import Conflict, NotFound, ValidationFailed
from metacrm.platform.web import MAX_ID, current_actor, current_tenant
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, list_page
from metacrm.ui.blueprint import blueprint, htmx
from metacrm.ui.formatting import moment
from metacrm.ui.screens import readable_fields

PAGE_SIZE = 20
MAX_COLUMNS = 5  # besides the name: what fits a desktop row; a phone card shows the first three


@blueprint.get("/pools")
def pools():
    """The pools the user works or administers, with what waits in each and what they hold."""
    guard, binding, model = context.guard(), current_tenant(), context.model()
    with binding.connect() as conn:
        cards = [
            (pool, model.object(pool.object), pool_service.pool_json(conn, guard, pool, model.object(pool.object)))
            for pool in pool_service.visible_pools(guard, binding, model)
        ]
    return render_template("pools/index.html", cards=cards)


@blueprint.get("/pools/<pool>")
def pool_page(pool: str):
    return _answer(pool)


@blueprint.post("/pools/<pool>/claim")
def claim_from_pool(pool: str):
    ids = _selected_ids()
    if not ids:
        return _answer(pool, error=_("Select the records to claim."), status=422)
    try:
        result = pool_service.claim(
            context.guard(), current_tenant(), context.model(), pool, {"ids": ids}, current_actor()
        )
    except Conflict as refused:
        found, _obj = pool_service.pool_of(context.guard(), current_tenant(), context.model(), pool)
        return _answer(pool, error=_claim_refusal(refused, found), status=409)
    count = len(result["claimed"])
    return _answer(pool, done=_("Records claimed: %(num)d.", num=count))


@blueprint.post("/pools/<pool>/return")
def return_to_pool(pool: str):
    errors: dict[str, str] = {}
    ids = _selected_ids()
    typed = request.form.get("record_id", "").strip()
    if typed:
        if typed.isdigit() and 0 < int(typed) <= MAX_ID:
            ids = list(dict.fromkeys([*ids, int(typed)]))
        else:
            errors["record_id"] = _("Enter a record number, like 42.")
    elif not ids:
        errors["record_id"] = _("Select your records or enter a record number.")
    reason = request.form.get("reason", "")
    if not reason.strip():
        errors["reason"] = _("Say why the records go back to the pool.")
    elif len(reason) > pool_service.MAX_REASON:
        errors["reason"] = _("At most %(max)d characters.", max=pool_service.MAX_REASON)
    if errors:
        return _answer(pool, return_errors=errors, reason=reason, status=422)
    try:
        result = pool_service.return_records(
            context.guard(), current_tenant(), context.model(), pool, {"ids": ids, "reason": reason}, current_actor()
        )
    except NotFound as refused:
        if "ids" not in refused.details:
            raise  # the pool itself: a 404 page
        missing = ", ".join(f"#{i}" for i in refused.details["ids"])
        errors["record_id"] = _("You may not return %(ids)s: not a record you may change.", ids=missing)
    except Conflict as refused:
        already = ", ".join(f"#{i}" for i in refused.details.get("ids", []))
        errors["record_id"] = _("Already in a pool: %(ids)s.", ids=already)
    if errors:
        return _answer(pool, return_errors=errors, reason=reason, status=409)
    count = result["count"]
    return _answer(pool, done=_("Records returned to the pool: %(num)d.", num=count))


@blueprint.post("/pools/<pool>/assign")
def assign_from_pool(pool: str):
    """Pool admins only: the service answers anyone else with a 403."""
    ids = _selected_ids()
    member = request.form.get("user_id", "")
    if not ids:
        return _answer(pool, error=_("Select the records to assign."), status=422)
    if not member.isdigit() or int(member) > MAX_ID:
        return _answer(pool, assign_error=_("Choose who gets the records."), status=422)
    body = {"ids": ids, "user_id": int(member)}
    try:
        result = pool_service.assign(
            context.instance(), context.guard(), current_tenant(), context.model(), pool, body, current_actor()
        )
    except ValidationFailed:
        return _answer(pool, assign_error=_("Choose a member of this organisation."), status=422)
    except Conflict as refused:
        return _answer(pool, error=_taken(refused), status=409)
    count = len(result["assigned"])
    name = _member_names().get(result["user_id"], "")
    done = _("Records assigned to %(name)s: %(num)d.", name=name, num=count)
    return _answer(pool, done=done)


# -- building the page ---------------------------------------------------------------------------------------


@dataclass
class PoolScreen:
    """What ``pools/pool.html`` shows of one pool for the signed-in user."""

    pool: Pool
    obj: CompiledObject
    waiting: int
    held: int
    administers: bool
    name_field: str | None
    columns: list[FieldType]
    records: list[dict]
    next_cursor: str | None
    cooling: dict[int, datetime]  # record id -> when the user may claim it again
    mine: list[dict] | None  # the user's own records of the object, to return (None: may not update)
    members: list[dict]  # whom an admin may assign to

    @property
    def quota_left(self) -> int:
        return max(0, self.pool.claim_quota - self.held)


def _answer(name: str, *, done: str | None = None, status: int = 200, **messages):
    """The pool page, or its body for htmx, with a success toast or the refusal beside what caused it.

    htmx swaps only 2xx answers, so a refusal goes to htmx as 200 with its
    message; a plain form post gets the real status, and a done move the
    redirect back to the page (post/redirect/get), its message flashed."""
    if done and not htmx:
        flash(done, "success")
        keep = {"q": request.args["q"]} if request.args.get("q") else {}
        return redirect(url_for("ui.pool_page", pool=name, **keep), 303)
    screen = _screen(name)
    values = {"screen": screen, "done": done, "q": request.args.get("q", ""), **messages}
    if htmx:
        response = make_response(render_template("pools/_body.html", **values))
        if done:
            # ASCII-escaped JSON: a header carries no Chinese, the browser's JSON.parse restores it.
            response.headers["HX-Trigger"] = json.dumps({"toast": done})
        return response
    return render_template("pools/pool.html", **values), status


def _screen(name: str) -> PoolScreen:
    guard, binding, model, store = context.guard(), current_tenant(), context.model(), context.store()
    pool, obj = pool_service.pool_of(guard, binding, model, name)
    readable = readable_fields(obj)
    name_field = obj.name_field if obj.name_field in {f.api_name for f in readable} else None
    columns = _columns(obj, readable, name_field)
    wanted = [f.api_name for f in columns] + ([name_field] if name_field else [])
    # Pool pages list live records without list views, like the API; q, cursor and field filters apply.
    listed = replace(
        ListRequest.from_args(request.args, filter_prefix=True),
        deleted=False,
        view=None,
        fields=wanted,
        limit=PAGE_SIZE,
        count=False,
    )
    page = list_page(store, obj.api_name, listed, extra_where=pool_service.in_pool_clause(obj, pool.api_name))
    with binding.connect() as conn:
        summary = pool_service.pool_json(conn, guard, pool, obj)
        cooling = pool_service.cooling_down(conn, pool, guard.user_id)
    mine = None
    if guard.permits("update", obj):
        own = ListRequest(filters=(("owner_id", "eq", guard.user_id),), fields=[name_field] if name_field else None)
        mine = list_page(store, obj.api_name, replace(own, limit=PAGE_SIZE, sort=name_field)).data
    return PoolScreen(
        pool=pool,
        obj=obj,
        waiting=summary["records"],
        held=summary["held_by_me"],
        administers=summary["i_administer"],
        name_field=name_field,
        columns=columns,
        records=page.data,
        next_cursor=page.next_cursor,
        cooling=cooling,
        mine=mine,
        members=_assignable() if summary["i_administer"] else [],
    )


def _columns(obj: CompiledObject, readable: list[FieldType], name_field: str | None) -> list[FieldType]:
    """The key fields beside the name: the object's "all" list view's columns
    (else its first list view's, else its first fields), readable ones only."""
    by_name = {f.api_name: f for f in readable if f.api_name != name_field}
    definitions = context.model().definitions.scoped("list_view", obj.api_name)
    views = {d.document["api_name"]: d.document for d in definitions}
    view = views.get("all") or next(iter(views.values()), None)
    names = (view or {}).get("columns") or list(by_name)
    return [by_name[n] for n in names if n in by_name][:MAX_COLUMNS]


def _assignable() -> list[dict]:
    """The tenant's active members, by name: whom a pool admin may hand records to."""
    members = tenant_members(context.instance(), current_tenant()).values()
    active = [m for m in members if m["is_active"]]
    return sorted(active, key=lambda m: (m["display_name"] or m["email"]).casefold())


def _member_names() -> dict[int, str]:
    return {m["id"]: m["display_name"] or m["email"] for m in _assignable()}


def _selected_ids() -> list[int]:
    """The checked records (``ids``), numbers only; the service checks the rest."""
    values = request.form.getlist("ids")
    return list(dict.fromkeys(int(v) for v in values if v.isdigit() and 0 < int(v) <= MAX_ID))[: pool_service.MAX_IDS]


def _claim_refusal(refused: Conflict, pool: Pool) -> str:
    """The service's refusal in the user's language: quota, cool-down, or taken first."""
    details = refused.details
    if "claim_quota" in details:
        left = max(0, details["claim_quota"] - details["held"])
        return _(
            "Quota reached: you may hold %(quota)d records from this pool at once and hold %(held)d, "
            "so you can claim %(left)d more (you asked for %(asked)d).",
            quota=details["claim_quota"],
            held=details["held"],
            left=left,
            asked=details["asked"],
        )
    if "claimable_after" in details:
        return _(
            "Cool-down: you returned %(ids)s less than %(days)d days ago; you can claim it again after %(when)s.",
            ids=", ".join(f"#{i}" for i in details["ids"]),
            days=pool.cooldown_days,
            when=moment(max(map(datetime.fromisoformat, details["claimable_after"].values()))),
        )
    return _taken(refused)


def _taken(refused: Conflict) -> str:
    ids = ", ".join(f"#{i}" for i in refused.details.get("ids", []))
    return _("No longer in the pool (someone else took it first): %(ids)s. The list below is up to date.", ids=ids)
