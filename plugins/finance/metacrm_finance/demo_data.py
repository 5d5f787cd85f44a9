"""Demo data for the finance module: customers of a wealth desk, deterministic.

:func:`generate` creates financial products, customers (crm_core accounts),
a risk assessment per customer, their KYC checklist and a portfolio holding
only products that suit them, through the caller's ``create(object, rows)
-> ids`` (the record store in ``metacrm demo``, so the scoring automations
and the suitability check run on every row).

Each customer answers like one of :data:`PROFILES`, whose risk level the
package's scoring rules give (the points are in
``package/objects/risk_assessment/fields.yaml``); a profile that no longer
scored its level would make the suitability check refuse the demo sales.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from faker import Faker

# (name, code, type, risk rating, expected return %, term in months)
PRODUCTS = [
    ("Time deposit 12M", "TD12", "deposit", 1, 1.8, 12),
    ("Cash plus money fund", "MMF01", "money_market", 1, 2.1, None),
    ("Steady bond fund", "BF01", "bond_fund", 2, 3.2, None),
    ("Green bond fund", "BF02", "bond_fund", 2, 3.5, None),
    ("Balanced mixed fund", "MX01", "mixed_fund", 3, 5.0, None),
    ("Dividend mixed fund", "MX02", "mixed_fund", 3, 5.5, None),
    ("China growth equity fund", "EQ01", "equity_fund", 4, 8.0, None),
    ("Global tech equity fund", "EQ02", "equity_fund", 4, 9.0, None),
    ("Capital-at-risk note", "SN01", "structured", 5, 12.0, 24),
    ("Whole life insurance", "INS01", "insurance", 2, 2.5, 120),
]
# Answers and the risk level the scoring rules give them (points in the comments).
PROFILES = [
    # 2 + 5 + 0 + 0 + 3 = 10 → R1
    ({"age_band": "over_65", "annual_income": 80000, "investment_experience": "none",
      "loss_tolerance": "none", "investment_horizon": "under_1_year"}, 1),
    # 8 + 10 + 5 + 8 + 10 = 41 → R3
    ({"age_band": "from_50_to_65", "annual_income": 200000, "investment_experience": "under_2_years",
      "loss_tolerance": "up_to_10", "investment_horizon": "years_1_to_3"}, 3),
    # 15 + 15 + 12 + 8 + 10 = 60 → R4
    ({"age_band": "from_30_to_50", "annual_income": 500000, "investment_experience": "years_2_to_5",
      "loss_tolerance": "up_to_10", "investment_horizon": "years_1_to_3"}, 4),
    # 20 + 20 + 20 + 20 + 20 = 100 → R5
    ({"age_band": "under_30", "annual_income": 1200000, "investment_experience": "over_5_years",
      "loss_tolerance": "over_30", "investment_horizon": "over_3_years"}, 5),
]  # fmt: skip
CHECKS = ["identity", "address", "source_of_funds", "sanctions", "pep"]

Create = Callable[[str, list[dict]], list[int]]
Progress = Callable[[str, int, int], None]


def generate(
    create: Create,
    *,
    owner_ids: list[int],
    customers: int = 40,
    seed: int = 11,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> dict[str, int]:
    """Create the demo wealth desk through ``create``; returns the count per object."""
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
        "financial_product",
        [
            {"name": name, "product_code": code, "product_type": kind, "risk_rating": rating,
             "expected_return": expected, "term_months": term}
            for name, code, kind, rating, expected, term in PRODUCTS
        ],
    )  # fmt: skip
    ratings = dict(zip(product_ids, (p[3] for p in PRODUCTS), strict=True))
    # Each customer, its relationship manager (the owner of all its records) and profile.
    owners = [rng.choice(owner_ids) if owner_ids else None for _ in range(customers)]
    profiles = [rng.choice(PROFILES) for _ in range(customers)]
    account_ids = made(
        "account",
        [owned({"name": faker.company(), "phone": faker.phone_number()}, owner) for owner in owners],
    )
    made(
        "risk_assessment",
        [
            owned({"account": account, "assessed_on": (today - dt.timedelta(days=rng.randint(5, 300))).isoformat(),
                   **answers}, owner)
            for account, owner, (answers, _level) in zip(account_ids, owners, profiles, strict=True)
        ],
    )  # fmt: skip
    checks = []
    for account, owner in zip(account_ids, owners, strict=True):
        for check in CHECKS:
            due = today + dt.timedelta(days=rng.randint(-20, 30))
            status = (
                "passed" if due < today - dt.timedelta(days=5) else rng.choice(["pending", "in_progress", "passed"])
            )
            row = {"account": account, "check_type": check, "status": status, "due_date": due.isoformat()}
            if status == "passed":
                row["completed_on"] = min(due, today).isoformat()
            if check == "identity":
                row["id_number"] = faker.ssn()
            checks.append(owned(row, owner))
    made("kyc_check", checks)
    portfolio_ids = made(
        "portfolio",
        [
            owned({"account": account, "opened_on": (today - dt.timedelta(days=rng.randint(30, 900))).isoformat(),
                   "settlement_account": faker.credit_card_number()}, owner)
            for account, owner in zip(account_ids, owners, strict=True)
        ],
    )  # fmt: skip
    holdings = []
    for portfolio, owner, (_answers, level) in zip(portfolio_ids, owners, profiles, strict=True):
        suitable = [p for p in product_ids if ratings[p] <= level]
        for product in rng.sample(suitable, k=min(len(suitable), rng.randint(1, 3))):
            amount = rng.choice([50000, 100000, 200000, 500000])
            value = round(amount * rng.uniform(0.9, 1.2), 2)
            bought = (today - dt.timedelta(days=rng.randint(1, 600))).isoformat()
            holdings.append(
                owned({"portfolio": portfolio, "product": product, "amount": amount, "market_value": value,
                       "purchased_on": bought}, owner)
            )  # fmt: skip
    made("holding", holdings)
    return counts
