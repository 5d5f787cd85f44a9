"""A service ticket's product must be one the order delivered.

That the order is delivered is a validation rule of the package (it reads
the order through the lookup). Whether the product is among the order's
lines is a question about a set of other records, which the rule language
cannot ask: this record event asks it before the ticket is written.
"""

from __future__ import annotations

import sqlalchemy as sa
from metacrm.plugins import PendingSave, RecordEvents, SaveContext


class TicketProductOnOrder(RecordEvents):
    objects = ("service_ticket",)
    order = 100

    def before_save(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        lines = ctx.store.model.object("mfg_order_line").table
        for save in saves:
            if save.errors or not ({"mfg_order", "product"} & save.changed()):
                continue
            record = save.current()
            if record.get("mfg_order") is None or record.get("product") is None:
                continue  # required fields: the store refuses a missing one itself
            on_order = ctx.conn.execute(
                sa.select(lines.c.id)
                .where(
                    lines.c.mfg_order == record["mfg_order"],
                    lines.c.product == record["product"],
                    lines.c.deleted_at.is_(None),
                )
                .limit(1)
            ).first()
            if on_order is None:
                save.error("product", "The product is not on this order: choose one of the order's lines")
