"""Demo data for the retail module: a store's loyalty programme, deterministic.

:func:`generate` creates membership tiers, promotions, members, their
coupons and a year and a bit of purchases, through the caller's
``create(object, rows) -> ids`` (the record store in ``metacrm demo``, so the
loyalty events run on every row: purchases are priced, coupons redeemed and
members' points, 12-month spend and tiers recomputed).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from faker import Faker

# (name, code, rank, points needed, 12-month spend needed, points per yuan):
# points are the lifetime route to a tier, the 12-month spend the quick one.
TIERS = [
    ("Standard", "STD", 0, None, None, 1),
    ("Silver", "SLV", 1, 5000, 3000, 1),
    ("Gold", "GLD", 2, 15000, 8000, 1.2),
    ("Platinum", "PLT", 3, 40000, 20000, 1.5),
]
# (name, code, discount type, discount, minimum spend, started days ago, runs for days)
PROMOTIONS = [
    ("Spring sale", "SPRING", "percent", 10, None, 60, 120),
    ("Spend 500 save 50", "SAVE50", "amount", 50, 500, 30, 90),
    ("Members' week", "MWEEK", "percent", 15, 200, 10, 30),
]
STORES = ["Nanjing Road", "Xujiahui", "Lujiazui", "Online"]

Create = Callable[[str, list[dict]], list[int]]
Progress = Callable[[str, int, int], None]


def generate(
    create: Create,
    *,
    owner_ids: list[int],
    members: int = 60,
    seed: int = 17,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> dict[str, int]:
    """Create the demo loyalty programme through ``create``; returns the count per object."""
    rng = random.Random(seed)
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    today = today or dt.date.today()
    counts: dict[str, int] = {}

    def owned(row: dict) -> dict:
        return {**row, "owner_id": rng.choice(owner_ids)} if owner_ids else row

    def made(name: str, rows: list[dict]) -> list[int]:
        ids = create(name, rows) if rows else []
        counts[name] = counts.get(name, 0) + len(ids)
        if progress:
            progress(name, len(ids), len(rows))
        return ids

    made(
        "membership_tier",
        [
            {"name": name, "tier_code": code, "rank": rank, "min_points": points, "min_spend_12m": spend,
             "points_per_yuan": rate}
            for name, code, rank, points, spend, rate in TIERS
        ],
    )  # fmt: skip
    promotion_ids = made(
        "promotion",
        [
            {"name": name, "promotion_code": code, "discount_type": kind, "discount_value": value, "min_spend": minimum,
             "starts_on": (today - dt.timedelta(days=ago)).isoformat(),
             "ends_on": (today - dt.timedelta(days=ago) + dt.timedelta(days=days)).isoformat()}
            for name, code, kind, value, minimum, ago, days in PROMOTIONS
        ],
    )  # fmt: skip
    minimum_spend = dict(zip(promotion_ids, (p[4] or 0 for p in PROMOTIONS), strict=True))
    member_ids = made(
        "member",
        [
            owned({"name": faker.name(), "phone": faker.phone_number(), "email": faker.email(),
                   "joined_on": (today - dt.timedelta(days=rng.randint(30, 900))).isoformat()})
            for _ in range(members)
        ],
    )  # fmt: skip
    # Two coupons per member: one still usable, one that expired unused.
    coupons, usable = [], {}
    for number, member in enumerate(member_ids):
        promotion = rng.choice(promotion_ids)
        usable[member] = (len(coupons), promotion)
        coupons.append(owned({"coupon_code": f"C{seed}{number:05d}A", "promotion": promotion, "member": member,
                              "expires_on": (today + dt.timedelta(days=rng.randint(5, 60))).isoformat()}))  # fmt: skip
        coupons.append(owned({"coupon_code": f"C{seed}{number:05d}B", "promotion": rng.choice(promotion_ids),
                              "member": member, "status": "expired",
                              "expires_on": (today - dt.timedelta(days=rng.randint(2, 90))).isoformat()}))  # fmt: skip
    coupon_ids = made("coupon", coupons)
    purchases = []
    for member in member_ids:
        # a few big spenders, many occasional shoppers: the tiers fill unevenly
        visits, basket = rng.choice([(2, 150), (5, 300), (8, 600), (14, 1200)])
        for _ in range(rng.randint(1, visits)):
            purchases.append(
                owned({"member": member, "amount": round(rng.uniform(0.3, 2.0) * basket, 2),
                       "purchased_on": (today - dt.timedelta(days=rng.randint(0, 420))).isoformat(),
                       "channel": rng.choice(["store", "store", "online", "app"]), "store_name": rng.choice(STORES),
                       "status": "refunded" if rng.random() < 0.05 else "completed"})
            )  # fmt: skip
        if rng.random() < 0.5:  # half the members used their coupon
            index, promotion = usable[member]
            amount = max(minimum_spend[promotion], basket) + rng.randint(0, 200)
            purchases.append(
                owned({"member": member, "amount": amount, "coupon": coupon_ids[index],
                       "purchased_on": today.isoformat(), "channel": "store", "store_name": rng.choice(STORES)})
            )  # fmt: skip
    made("purchase", purchases)
    return counts
