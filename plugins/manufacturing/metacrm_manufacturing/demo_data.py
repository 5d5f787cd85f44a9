"""Demo data for the manufacturing module: a machine-tool factory, deterministic.

:func:`generate` creates the factory's products (crm_core products), its
dealers, their sales orders with lines, each order's production stages —
done, in progress or pending depending on how old the order is, some of
them finished late — and service tickets on the delivered orders, through
the caller's ``create(object, rows) -> ids`` (the record store in
``metacrm demo``, so the planning events, rules and automations run on
every row).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from faker import Faker

# (name, code, list price)
PRODUCTS = [
    ("CNC lathe CL-6140", "MFG-CL6140", 286000),
    ("Vertical machining centre VMC-850", "MFG-VMC850", 458000),
    ("Surface grinder SG-618", "MFG-SG618", 96000),
    ("Hydraulic press HP-200", "MFG-HP200", 175000),
    ("Spindle assembly SP-12", "MFG-SP12", 18500),
]
# (stage, days)
STAGES = [("Design", 3), ("Materials", 5), ("Machining", 8), ("Assembly", 5), ("Testing", 3), ("Packing", 1)]
REGIONS = ["east", "north", "south", "central", "west", "northeast"]
ISSUES = ["defect", "installation", "maintenance", "spare_parts"]

Create = Callable[[str, list[dict]], list[int]]
Progress = Callable[[str, int, int], None]


def generate(
    create: Create,
    *,
    owner_ids: list[int],
    dealers: int = 8,
    orders: int = 30,
    seed: int = 13,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> dict[str, int]:
    """Create the demo factory through ``create``; returns the count per object."""
    rng = random.Random(seed)
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    today = today or dt.date.today()
    counts: dict[str, int] = {}

    def owned(row: dict, owner: int | None) -> dict:
        return {**row, "owner_id": owner} if owner is not None else row

    def made(name: str, rows: list[dict]) -> list[int]:
        ids = create(name, rows) if rows else []
        counts[name] = counts.get(name, 0) + len(ids)
        if progress:
            progress(name, len(ids), len(rows))
        return ids

    product_ids = made(
        "product",
        [
            {"name": name, "product_code": code, "family": "hardware", "list_price": price}
            for name, code, price in PRODUCTS
        ],
    )
    prices = dict(zip(product_ids, (p[2] for p in PRODUCTS), strict=True))
    dealer_owners = [rng.choice(owner_ids) if owner_ids else None for _ in range(dealers)]
    dealer_ids = made(
        "dealer",
        [
            owned({"name": faker.unique.company(), "dealer_code": f"D{number:03d}", "region": rng.choice(REGIONS),
                   "level": rng.choice(["gold", "silver", "standard", "standard"]), "phone": faker.phone_number(),
                   "credit_limit": rng.choice([500000, 1000000, 2000000])}, owner)
            for number, owner in enumerate(dealer_owners, start=1)
        ],
    )  # fmt: skip
    total_days = sum(days for _stage, days in STAGES)
    plans = []  # (dealer, owner, ordered, started, status)
    for _ in range(orders):
        index = rng.randrange(dealers)
        age = rng.randint(0, 60)  # days since the order
        ordered = today - dt.timedelta(days=age)
        started = ordered + dt.timedelta(days=rng.randint(0, 3))
        # An old order is delivered (created so: the demo only creates); the
        # others are confirmed and their stages move them along.
        status = "delivered" if age > total_days + 10 else "confirmed"
        plans.append((dealer_ids[index], dealer_owners[index], ordered, started, status))
    order_ids = made(
        "mfg_order",
        [
            owned({"dealer": dealer, "order_date": ordered.isoformat(), "production_start": started.isoformat(),
                   "promised_date": (started + dt.timedelta(days=total_days + rng.randint(-2, 10))).isoformat(),
                   "status": status}
                  | ({"delivered_on": (started + dt.timedelta(days=total_days + 4)).isoformat()}
                     if status == "delivered" else {}), owner)
            for dealer, owner, ordered, started, status in plans
        ],
    )  # fmt: skip
    lines, bought = [], {}
    for order, (_dealer, owner, *_rest) in zip(order_ids, plans, strict=True):
        bought[order] = rng.sample(product_ids, k=rng.randint(1, 3))
        for product in bought[order]:
            lines.append(owned({"mfg_order": order, "product": product, "quantity": rng.randint(1, 6),
                                "unit_price": round(prices[product] * rng.uniform(0.85, 0.95), 2)}, owner))  # fmt: skip
    made("mfg_order_line", lines)
    stages = []
    for order, (_dealer, owner, _ordered, started, _status) in zip(order_ids, plans, strict=True):
        day = started  # where production really is: some stages take a day or two more than planned
        for sequence, (name, days) in enumerate(STAGES, start=1):
            row = {"mfg_order": order, "sequence": sequence, "name": name, "duration_days": days}
            finish = day + dt.timedelta(days=days - 1 + rng.choice([0, 0, 0, 1, 2]))
            if finish < today:
                row.update(status="done", actual_start=day.isoformat(), actual_finish=finish.isoformat())
            elif day <= today:
                row.update(status="in_progress", actual_start=day.isoformat())
            stages.append(owned(row, owner))
            day = finish + dt.timedelta(days=1)
    made("production_stage", stages)
    tickets = []
    for order, (_dealer, owner, _ordered, started, status) in zip(order_ids, plans, strict=True):
        if status != "delivered" or rng.random() < 0.5:
            continue
        reported = started + dt.timedelta(days=total_days + rng.randint(5, 20))
        row = {"mfg_order": order, "product": rng.choice(bought[order]), "issue_type": rng.choice(ISSUES),
               "priority": rng.choice(["high", "normal", "normal", "low"]),
               "reported_on": min(reported, today).isoformat(), "description": faker.sentence(),
               "status": rng.choice(["open", "in_progress", "resolved"])}  # fmt: skip
        if row["status"] == "resolved":
            row["resolution"] = faker.sentence()
        tickets.append(owned(row, owner))
    made("service_ticket", tickets)
    return counts
