"""The finance module end to end, on one tenant per module (and backend)
with crm_core installed first: the explainable risk score, KYC escalation,
portfolio totals, the suitability check on every sale, field access of the
module's roles, and the demo data."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from metacrm.plugins import ValidationFailed, utcnow
from metacrm_crm_core.plugin import PACKAGE_DIR as CRM_PACKAGE_DIR

from metacrm_finance import demo_data, plugin
from metacrm_finance.plugin import PACKAGE_DIR

BALANCED = {  # 15 + 15 + 12 + 8 + 10 = 60 → R4
    "age_band": "from_30_to_50",
    "annual_income": 500000,
    "investment_experience": "years_2_to_5",
    "loss_tolerance": "up_to_10",
    "investment_horizon": "years_1_to_3",
}


@pytest.fixture(scope="module")
def bank(module_instance, module_package_tenant):
    module_instance.pm.register(plugin)
    tenant = module_package_tenant(CRM_PACKAGE_DIR, slug="bank", users=("ops",), role="sales_manager")
    tenant.install(PACKAGE_DIR)
    tenant.rm = tenant.add_user("rm", "relationship_manager")
    tenant.viewer = tenant.add_user("viewer", "read_only")
    store = tenant.store()
    tenant.customer = store.create("account", {"name": "Zhang Wei"})["id"]
    tenant.products = {
        rating: store.create(
            "financial_product",
            {
                "name": f"Product R{rating}",
                "product_code": f"P{rating}",
                "product_type": "mixed_fund",
                "risk_rating": rating,
            },
        )["id"]
        for rating in (1, 4, 5)
    }
    tenant.portfolio = store.create("portfolio", {"account": tenant.customer, "settlement_account": "6222020200112233"})
    return tenant


def _today(days: int = 0) -> str:
    return (utcnow() + timedelta(days=days)).date().isoformat()


def test_the_risk_score_shows_each_factors_contribution(bank):
    store = bank.store()
    other = store.create("account", {"name": "Li Na"})["id"]
    assessed = store.create("risk_assessment", {"account": other, "assessed_on": _today(), **BALANCED})
    points = [
        assessed[f] for f in ("age_points", "income_points", "experience_points", "tolerance_points", "horizon_points")
    ]
    assert points == [15, 15, 12, 8, 10]
    assert assessed["risk_score"] == 60 and assessed["risk_level"] == 4
    assert assessed["score_breakdown"] == "age 15 + income 15 + experience 12 + loss tolerance 8 + horizon 10 = 60 → R4"
    assert assessed["valid_until"] == (utcnow().date().replace(year=utcnow().year + 1)).isoformat()
    # changing one answer re-scores: only that factor's points move
    cautious = store.update("risk_assessment", assessed["id"], {"loss_tolerance": "none", "annual_income": None})
    assert (cautious["tolerance_points"], cautious["income_points"], cautious["risk_score"]) == (0, 0, 37)
    assert cautious["risk_level"] == 2


def test_a_sale_above_the_customers_risk_level_is_refused(bank):
    store = bank.store()
    sale = {"portfolio": bank.portfolio["id"], "amount": 100000}
    with pytest.raises(ValidationFailed) as refused:  # not assessed yet
        store.create("holding", {**sale, "product": bank.products[1]})
    assert "no valid risk assessment" in refused.value.details["fields"]["product"][0]
    # an expired assessment does not count
    store.create(
        "risk_assessment",
        {"account": bank.customer, "assessed_on": _today(-500), "valid_until": _today(-135), **BALANCED},
    )
    with pytest.raises(ValidationFailed):
        store.create("holding", {**sale, "product": bank.products[1]})
    store.create("risk_assessment", {"account": bank.customer, "assessed_on": _today(), **BALANCED})  # R4
    assert store.create("holding", {**sale, "product": bank.products[4]})["product"]["id"] == bank.products[4]
    with pytest.raises(ValidationFailed) as refused:
        store.create("holding", {**sale, "product": bank.products[5]})
    [message] = refused.value.details["fields"]["product"]
    assert message == "The product is rated R5, above the customer's risk level R4: it is not suitable for them"
    # switching an existing holding to an unsuitable product is a sale too
    low = store.create("holding", {**sale, "product": bank.products[1]})
    with pytest.raises(ValidationFailed):
        store.update("holding", low["id"], {"product": bank.products[5]})


def test_the_portfolio_adds_its_holdings_up(bank):
    store = bank.store()
    account = store.create("account", {"name": "Wang Fang"})["id"]
    store.create("risk_assessment", {"account": account, "assessed_on": _today(), **BALANCED})
    portfolio = store.create("portfolio", {"account": account})["id"]
    for amount, value in ((100000, 110000), (50000, 45000)):
        store.create(
            "holding", {"portfolio": portfolio, "product": bank.products[1], "amount": amount, "market_value": value}
        )
    redeemed = store.create(
        "holding", {"portfolio": portfolio, "product": bank.products[4], "amount": 7, "status": "redeemed"}
    )
    totals = store.get("portfolio", portfolio)
    assert (Decimal(str(totals["total_invested"])), Decimal(str(totals["market_value"]))) == (150000, 155000)
    assert Decimal(str(totals["gain"])) == 5000 and totals["holding_count"] == 2
    assert redeemed["status"] == "redeemed"


def test_an_overdue_kyc_check_is_escalated_to_its_owner_and_the_relationship_manager(bank):
    store = bank.store()
    check = store.create(
        "kyc_check", {"account": bank.customer, "check_type": "source_of_funds", "due_date": _today(-1)}
    )
    done = store.create(
        "kyc_check",
        {
            "account": bank.customer,
            "check_type": "identity",
            "due_date": _today(-1),
            "status": "passed",
            "completed_on": _today(-2),
        },
    )
    bank.run_time_rules(now=utcnow() + timedelta(hours=1))
    assert store.get("kyc_check", check["id"])["escalated"] is True
    assert store.get("kyc_check", done["id"])["escalated"] is False
    sent = [n for n in bank.notifications() if check["check_number"] in str(n)]
    assert len(sent) == 2  # the check's owner and the customer's owner (here the same user, told twice)
    with pytest.raises(ValidationFailed) as refused:
        store.update("kyc_check", check["id"], {"status": "passed"})
    assert "completed_on" in refused.value.details["fields"]


def test_bank_account_and_document_numbers_are_hidden_from_read_only_users(bank, module_client):
    url = f"/api/v1/data/portfolio/{bank.portfolio['id']}"
    viewer = module_client.get(url, headers=bank.bearer(bank.viewer)).get_json()
    assert "settlement_account" not in viewer and viewer["portfolio_number"] == bank.portfolio["portfolio_number"]
    # a relationship manager cannot overwrite the computed points
    answer = module_client.post(
        "/api/v1/data/risk_assessment",
        json={"account": bank.customer, "assessed_on": _today(), "risk_score": 100, **BALANCED},
        headers=bank.bearer(bank.rm),
    )
    assert answer.status_code in (403, 422) and "risk_score" in answer.get_data(as_text=True)


def test_the_demo_wealth_desk_generates(bank):
    store = bank.store()

    def create(name: str, rows: list[dict]) -> list[int]:  # as `metacrm demo` does
        owners = [row.pop("owner_id", None) for row in rows]
        return [record["id"] for record in store.bulk_create(name, rows, owner_ids=owners)]

    counts = demo_data.generate(create, owner_ids=bank.users, customers=6)
    assert counts["account"] == 6 and counts["risk_assessment"] == 6 and counts["portfolio"] == 6
    assert counts["holding"] >= 6 and counts["kyc_check"] == 30
