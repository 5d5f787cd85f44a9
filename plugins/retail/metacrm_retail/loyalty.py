"""The loyalty programme's record events: coupons redeemed once, points and tiers.

What the rule language cannot say, because each answer is about other
records at the moment of the save:

- **A coupon is redeemed once.** A purchase naming a coupon is refused when
  another live purchase already used it, when it expired (or was voided),
  when it is another member's, or when the purchase is below the promotion's
  minimum spend. Two tills redeeming one coupon at the same time would both
  find it unused if they only asked, so the check first locks the coupon's
  row (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite a write transaction
  holds the database's write lock from its ``BEGIN IMMEDIATE``) until the
  save commits: the second waits, then sees the first purchase and is refused.
- **Discount, amount paid and points** of a purchase come from its coupon's
  promotion and the member's tier.
- **Tier from the points or the 12-month spend.** Every save of a member
  recomputes their points (all completed purchases), their spend over the
  last 365 days and their tier: the highest rank whose points or spend
  threshold they reach — up or down (:class:`MemberStanding`, a save step
  placed before automations). A purchase saves its member (and its coupon,
  whose status follows the purchase that used it), acting as the caller, so
  the member's automations (the tier-change notice) run too.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa
from metacrm.plugins import PendingSave, RecordEvents, SaveContext, utcnow

OBJECTS = ("membership_tier", "member", "promotion", "coupon", "purchase")
CENT = Decimal("0.01")
# A coupon in these states gives no discount whatever its date.
UNUSABLE = {"expired": "has expired", "void": "was voided"}
SPEND_WINDOW = timedelta(days=365)
# The purchase fields a member's standing or a coupon's status depends on.
COUNTED = frozenset({"member", "coupon", "status", "purchased_on", "net_amount", "points_earned"})


def _installed(ctx: SaveContext) -> bool:
    """The module's objects exist (a tenant's own "member" without them is left alone)."""
    return all(ctx.store.model.object(name) is not None for name in OBJECTS)


def _table(ctx: SaveContext, name: str) -> sa.Table:
    return ctx.store.model.object(name).table


def _live(table: sa.Table):
    return table.c.deleted_at.is_(None)


class PurchaseEvents(RecordEvents):
    """Redeems the coupon, prices the purchase and saves the member."""

    objects = ("purchase",)
    order = 100

    def before_save(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if not _installed(ctx):
            return
        today = utcnow().date()
        claimed: set[int] = set()  # coupons used earlier in this same call
        for save in saves:
            if save.errors:
                continue
            if save.current().get("purchased_on") is None:
                save.values["purchased_on"] = today
            record = save.current()
            coupon = record.get("coupon")
            promotion = None
            if coupon is not None:
                newly_used = save.is_new or "coupon" in save.changed()
                promotion = (
                    self._redeem(ctx, save, coupon, today, claimed) if newly_used else self._promotion(ctx, coupon)
                )
            if save.errors:
                continue
            if save.is_new or {"amount", "coupon", "member"} & save.changed():
                self._price(ctx, save, promotion)

    def _redeem(self, ctx: SaveContext, save: PendingSave, coupon_id: int, today: date, claimed: set[int]):
        """Check that the coupon may be used by this purchase now; its promotion row, or None."""
        coupons, purchases = _table(ctx, "coupon"), _table(ctx, "purchase")
        query = sa.select(coupons).where(coupons.c.id == coupon_id, _live(coupons))
        if ctx.conn.dialect.name == "postgresql":
            query = query.with_for_update(of=coupons)
        coupon = ctx.conn.execute(query).first()
        if coupon is None:
            return None  # the store refuses the missing reference itself
        record = save.current()
        used = sa.select(purchases.c.id).where(purchases.c.coupon == coupon_id, _live(purchases))
        if save.record_id is not None:
            used = used.where(purchases.c.id != save.record_id)
        if coupon_id in claimed or ctx.conn.execute(used.limit(1)).first() is not None:
            save.error("coupon", f"The coupon {coupon.coupon_code} was already redeemed: a coupon is used once")
            return None
        if coupon.status in UNUSABLE:
            save.error("coupon", f"The coupon {coupon.coupon_code} {UNUSABLE[coupon.status]}")
            return None
        if coupon.expires_on < today:
            save.error("coupon", f"The coupon {coupon.coupon_code} expired on {coupon.expires_on.isoformat()}")
            return None
        if coupon.member is not None and coupon.member != record.get("member"):
            save.error("coupon", f"The coupon {coupon.coupon_code} was issued to another member")
            return None
        promotion = self._promotion(ctx, coupon_id)
        if promotion is not None and promotion.starts_on > today:
            save.error(
                "coupon", f"The promotion starts on {promotion.starts_on.isoformat()}: the coupon is not valid yet"
            )
            return None
        if (
            promotion is not None
            and promotion.min_spend is not None
            and (record.get("amount") or 0) < promotion.min_spend
        ):
            save.error("coupon", f"The coupon needs a purchase of at least {promotion.min_spend:.2f}")
            return None
        claimed.add(coupon_id)
        return promotion

    def _promotion(self, ctx: SaveContext, coupon_id: int):
        coupons, promotions = _table(ctx, "coupon"), _table(ctx, "promotion")
        return ctx.conn.execute(
            sa.select(promotions).join(coupons, coupons.c.promotion == promotions.c.id).where(coupons.c.id == coupon_id)
        ).first()

    def _price(self, ctx: SaveContext, save: PendingSave, promotion) -> None:
        """Discount, amount paid and points earned at the member's tier."""
        record = save.current()
        amount = record.get("amount")
        if amount is None:
            return  # required: the store refuses it
        discount = Decimal(0)
        if promotion is not None:
            if promotion.discount_type == "percent":
                discount = amount * promotion.discount_value / 100
            else:
                discount = promotion.discount_value
        discount = min(discount, amount).quantize(CENT)
        paid = amount - discount
        members, tiers = _table(ctx, "member"), _table(ctx, "membership_tier")
        rate = ctx.conn.execute(
            sa.select(tiers.c.points_per_yuan)
            .join(members, members.c.tier == tiers.c.id)
            .where(members.c.id == record.get("member"))
        ).scalar_one_or_none()
        save.values.update(
            discount=discount,
            net_amount=paid,
            points_earned=int((paid * (rate if rate is not None else 1)).to_integral_value(ROUND_DOWN)),
        )

    def after_save(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if _installed(ctx):
            self._touch(ctx, saves)

    def after_delete(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if _installed(ctx):
            self._touch(ctx, saves)

    def _touch(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        """Save the members and coupons these purchases count for (now or before)
        so their own events recompute them, in this transaction."""
        members: set[int] = set()
        coupons: set[int] = set()
        for save in saves:
            if save.action == "update" and not (COUNTED & save.changed()):
                continue  # a note or a store name changes no standing
            for record in (save.before or {}, save.values if save.action != "delete" else {}):
                if record.get("member") is not None:
                    members.add(record["member"])
                if record.get("coupon") is not None:
                    coupons.add(record["coupon"])
        store = ctx.nested()
        for coupon in sorted(coupons):
            store.update("coupon", coupon, {}, read_back=False)
        for member in sorted(members):
            store.update("member", member, {}, read_back=False)


class CouponEvents(RecordEvents):
    """A coupon's status follows the live purchase that used it."""

    objects = ("coupon",)
    order = 100

    def before_save(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if not _installed(ctx):
            return
        purchases = _table(ctx, "purchase")
        today = utcnow().date()
        for save in saves:
            if save.errors:
                continue
            record = save.current()
            redeemed_at = None
            if save.record_id is not None:
                redeemed_at = ctx.conn.execute(
                    sa.select(purchases.c.created_at)
                    .where(purchases.c.coupon == save.record_id, _live(purchases))
                    .order_by(purchases.c.id)
                    .limit(1)
                ).scalar_one_or_none()
            if redeemed_at is not None:
                if record.get("status") != "redeemed":
                    save.values.update(status="redeemed", redeemed_at=redeemed_at)
            elif record.get("status") == "redeemed" and record.get("redeemed_at") is not None:
                # its purchase was deleted: the coupon is free again, unless its day has passed
                expired = record.get("expires_on") is not None and record["expires_on"] < today
                save.values.update(status="expired" if expired else "issued", redeemed_at=None)


class MemberStanding:
    """Points, 12-month spend and tier, recomputed on every save of a member.

    A save step (``register_save_steps``) rather than a record event: it
    runs before automations decide which rules a save triggers (order 300),
    so the member's ``WHEN tier changed`` rule sees the tier it sets (record
    events' ``before_save`` runs at 350, after that decision)."""

    order = 290

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if ctx.obj.api_name != "member" or ctx.action == "delete" or not _installed(ctx):
            return
        purchases = _table(ctx, "purchase")
        tiers = ctx.conn.execute(
            sa.select(_table(ctx, "membership_tier"))
            .where(_live(_table(ctx, "membership_tier")))
            .order_by(sa.desc("rank"))
        ).all()
        today = utcnow().date()
        for save in saves:
            if save.errors:
                continue
            points, spend = 0, Decimal(0)
            if save.record_id is not None:
                completed = sa.and_(
                    purchases.c.member == save.record_id, purchases.c.status == "completed", _live(purchases)
                )
                points = ctx.conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(purchases.c.points_earned), 0)).where(completed)
                ).scalar_one()
                spend = ctx.conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(purchases.c.net_amount), 0)).where(
                        completed, purchases.c.purchased_on > today - SPEND_WINDOW
                    )
                ).scalar_one()
            tier = next((t.id for t in tiers if _reaches(t, int(points), Decimal(spend))), None)
            values = {"points": int(points), "spend_12m": Decimal(spend).quantize(CENT), "tier": tier}
            before = save.before or {}
            changed = {name: value for name, value in values.items() if before.get(name) != value}
            if save.is_new or "tier" in changed:
                changed["tier_changed_on"] = today
            save.values.update(changed)


def _reaches(tier, points: int, spend: Decimal) -> bool:
    """A tier is reached by its points or its spend threshold; one with
    neither is the entry tier, reached by everyone."""
    if tier.min_points is None and tier.min_spend_12m is None:
        return True
    return (tier.min_points is not None and points >= tier.min_points) or (
        tier.min_spend_12m is not None and spend >= tier.min_spend_12m
    )
