"""Production planning: every stage's expected dates, and the order moved
along as its stages start and finish.

A stage's expected start is the day after the stage before it finishes —
actually, once it has, else as expected — and the first stage's is the
order's production start; its expected finish is its start plus its
duration. So one stage done late (or early) moves every stage after it,
and the order's expected finish (a roll-up of the stages') with them. That
is a walk along the order's stages in sequence, each date depending on the
one before: no formula or rule of one record can say it.

The planned dates are derived values the module owns, like a cache: they
are written straight into the stages' rows in the save's transaction,
without an audit entry of their own (the save that moved them has one).
The scheduled rule ``production_stage.delay_alert`` reads them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from metacrm.plugins import PendingSave, RecordEvents, SaveContext

# The stage fields the plan depends on; a save changing none of them leaves it as it is.
PLAN_INPUTS = {"mfg_order", "sequence", "duration_days", "actual_finish"}
DAY = dt.timedelta(days=1)


class ProductionPlanning(RecordEvents):
    objects = ("production_stage", "mfg_order")
    order = 100

    def after_save(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if ctx.obj.api_name == "mfg_order":
            replan = {s.record_id for s in saves if s.before is not None and "production_start" in s.changed()}
        else:
            replan = set()
            for save in saves:
                if save.before is None or PLAN_INPUTS & save.changed():
                    replan.add(save.current().get("mfg_order"))
                    replan.add((save.before or {}).get("mfg_order"))  # a stage moved off another order
        plan_orders(ctx.conn, ctx.store.model, replan - {None})

    def after_delete(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if ctx.obj.api_name == "production_stage":
            plan_orders(ctx.conn, ctx.store.model, {(s.before or {}).get("mfg_order") for s in saves} - {None})

    def on_stage_change(self, ctx: SaveContext, save: PendingSave, old: Any, new: Any) -> None:
        """A stage that starts puts a confirmed order in production; the last
        stage done makes it ready to ship. Saved through the store (as the
        user who moved the stage), so the order's own rules and automations run."""
        if ctx.obj.api_name != "production_stage" or new == "pending":
            return
        order_id = save.current().get("mfg_order")
        orders = ctx.store.model.object("mfg_order").table
        stages = ctx.store.model.object("production_stage").table
        status = ctx.conn.execute(sa.select(orders.c.status).where(orders.c.id == order_id)).scalar_one_or_none()
        if status not in ("confirmed", "in_production"):
            return  # ready, delivered or cancelled: production no longer moves it
        open_stages = ctx.conn.execute(
            sa.select(sa.func.count())
            .select_from(stages)
            .where(stages.c.mfg_order == order_id, stages.c.deleted_at.is_(None), stages.c.status != "done")
        ).scalar_one()
        if new == "done" and open_stages == 0:
            target = "ready"
        elif status == "confirmed":
            target = "in_production"
        else:
            target = None
        if target is not None:
            ctx.nested().update("mfg_order", order_id, {"status": target})


def plan_orders(conn, model, order_ids: set[int]) -> None:
    """Plan the expected dates of the live stages of each order in ``order_ids``."""
    orders = model.object("mfg_order").table
    stages = model.object("production_stage").table
    for order_id in sorted(order_ids):
        # Lock the order first: two saves planning its stages at once take
        # turns, and the second sees the first's dates (PostgreSQL; SQLite
        # writes one transaction at a time anyway).
        ready = conn.execute(
            sa.select(orders.c.production_start).where(orders.c.id == order_id).with_for_update()
        ).scalar_one_or_none()
        rows = conn.execute(
            sa.select(
                stages.c.id,
                stages.c.duration_days,
                stages.c.actual_finish,
                stages.c.expected_start,
                stages.c.expected_finish,
            )
            .where(stages.c.mfg_order == order_id, stages.c.deleted_at.is_(None))
            .order_by(stages.c.sequence, stages.c.id)
        ).all()
        for row in rows:
            start = ready
            finish = start + DAY * (max(row.duration_days or 1, 1) - 1) if start is not None else None
            if (row.expected_start, row.expected_finish) != (start, finish):
                conn.execute(
                    sa.update(stages).where(stages.c.id == row.id).values(expected_start=start, expected_finish=finish)
                )
            done = row.actual_finish or finish
            ready = done + DAY if done is not None else None
