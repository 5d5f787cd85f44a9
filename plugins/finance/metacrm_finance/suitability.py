"""The suitability check: no product sold above the customer's risk level.

A holding (a sale) names a portfolio and a product. Which risk level the
customer has is not a field of either: it is the level of the customer's
latest risk assessment that is still valid on the day of the sale — a
question about other records, asked at the moment of the save, which a
validation rule cannot express. Without a valid assessment nothing is sold.

Reading the records behind the check is the platform's (this step sees
their stored columns, not the seller's view of them), so the message names
only what the seller already chose: the product's rating and the level.
"""

from __future__ import annotations

import sqlalchemy as sa
from metacrm.plugins import PendingSave, SaveContext, utcnow

OBJECT = "holding"
# The objects the check reads: a tenant's own "holding" where the module is
# not installed is left alone.
READS = ("financial_product", "portfolio", "risk_assessment")


class SuitabilityCheck:
    """The save step (``register_save_steps``); it acts on holdings only."""

    # After validation rules (400): an invalid sale is refused for that first.
    order = 420

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        model = ctx.store.model
        if ctx.obj.api_name != OBJECT or any(model.object(name) is None for name in READS):
            return
        products = model.object("financial_product").table
        portfolios = model.object("portfolio").table
        assessments = model.object("risk_assessment").table
        today = utcnow().date()
        for save in saves:
            if save.action == "delete" or save.errors:
                continue
            record = save.current()
            if save.before is not None and not ({"product", "portfolio", "status"} & save.changed()):
                continue  # a market-value update is no new sale
            if record.get("status") != "active" or record.get("product") is None or record.get("portfolio") is None:
                continue
            rating = ctx.conn.execute(
                sa.select(products.c.risk_rating).where(products.c.id == record["product"])
            ).scalar_one_or_none()
            customer = ctx.conn.execute(
                sa.select(portfolios.c.account).where(portfolios.c.id == record["portfolio"])
            ).scalar_one_or_none()
            if rating is None or customer is None:
                continue  # the store refuses the missing reference itself
            level = ctx.conn.execute(
                sa.select(assessments.c.risk_level)
                .where(
                    assessments.c.account == customer,
                    assessments.c.deleted_at.is_(None),
                    assessments.c.valid_until >= today,
                    assessments.c.assessed_on <= today,
                )
                .order_by(assessments.c.assessed_on.desc(), assessments.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if level is None:
                save.error(
                    "product",
                    "The customer has no valid risk assessment: assess them before selling any product",
                )
            elif rating > level:
                save.error(
                    "product",
                    f"The product is rated R{rating}, above the customer's risk level R{level}: "
                    "it is not suitable for them",
                )
