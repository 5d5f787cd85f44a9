"""The manufacturing module end to end, on one tenant per module (and
backend) with crm_core installed first: stage planning and the order's
progress rolled up from its stages, the delay alert for a late stage (and
none for an on-time one), service tickets only for a delivered order's
products, and the demo data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from metacrm.plugins import ValidationFailed, utcnow
from metacrm_crm_core.plugin import PACKAGE_DIR as CRM_PACKAGE_DIR

from metacrm_manufacturing import demo_data, plugin
from metacrm_manufacturing.plugin import PACKAGE_DIR


def _day(days: int = 0) -> str:
    return (utcnow().date() + timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def factory(module_instance, module_package_tenant):
    module_instance.pm.register(plugin)
    tenant = module_package_tenant(CRM_PACKAGE_DIR, slug="factory", users=("ops",), role="sales_manager")
    tenant.install(PACKAGE_DIR)
    tenant.planner = tenant.add_user("planner", "production_planner")
    store = tenant.store()
    tenant.dealer = store.create("dealer", {"name": "Hangzhou Machinery", "dealer_code": "T001"})["id"]
    tenant.lathe = store.create("product", {"name": "Lathe", "product_code": "T-LATHE"})["id"]
    tenant.press = store.create("product", {"name": "Press", "product_code": "T-PRESS"})["id"]
    return tenant


def _order(tenant, *, start: int, stages: list[int], status: str = "confirmed") -> dict:
    """An order whose production started ``start`` days from today, with stages of these durations."""
    store = tenant.store()
    order = store.create(
        "mfg_order",
        {
            "dealer": tenant.dealer,
            "order_date": _day(start - 1),
            "production_start": _day(start),
            "promised_date": _day(start + 30),
            "status": status,
        },
    )
    store.create(
        "mfg_order_line", {"mfg_order": order["id"], "product": tenant.lathe, "quantity": 2, "unit_price": 100}
    )
    order["stages"] = [
        store.create(
            "production_stage",
            {"mfg_order": order["id"], "sequence": n, "name": f"Stage {n}", "duration_days": days},
        )["id"]
        for n, days in enumerate(stages, start=1)
    ]
    return order


def test_stages_are_planned_from_each_other_and_the_progress_rolls_up(factory):
    store = factory.store()
    order = _order(factory, start=0, stages=[2, 3, 1])
    first, second, third = (store.get("production_stage", i) for i in order["stages"])
    assert (first["expected_start"], first["expected_finish"]) == (_day(0), _day(1))
    assert (second["expected_start"], second["expected_finish"]) == (_day(2), _day(4))
    assert (third["expected_start"], third["expected_finish"]) == (_day(5), _day(5))
    rolled = store.get("mfg_order", order["id"])
    assert rolled["expected_finish"] == _day(5) and float(rolled["progress"]) == 0
    assert float(rolled["total_amount"]) == 200
    # the first stage starts: the order goes into production
    store.update("production_stage", first["id"], {"status": "in_progress"})
    assert store.get("mfg_order", order["id"])["status"] == "in_production"
    # it finishes two days late: the stages after it move, and the order's expected finish with them
    store.update("production_stage", first["id"], {"status": "done", "actual_finish": _day(3)})
    assert store.get("production_stage", second["id"])["expected_start"] == _day(4)
    rolled = store.get("mfg_order", order["id"])
    assert rolled["expected_finish"] == _day(7)
    assert round(float(rolled["progress"])) == 33  # 2 of 6 planned days done
    for stage in (second["id"], third["id"]):
        store.update("production_stage", stage, {"status": "done"})
    done = store.get("mfg_order", order["id"])
    assert float(done["progress"]) == 100 and done["status"] == "ready"


def test_a_late_stage_raises_the_delay_alert_and_an_on_time_one_does_not(factory):
    store = factory.store()
    late = _order(factory, start=-4, stages=[2, 5])  # stage 1 expected to finish 3 days ago, still pending
    on_time = _order(factory, start=-4, stages=[10])  # expected to finish in 5 days
    finished = _order(factory, start=-4, stages=[1])
    store.update(
        "production_stage",
        finished["stages"][0],
        {"status": "done", "actual_start": _day(-4), "actual_finish": _day(-3)},
    )
    # An hour after the alert is due (the day after the late stage's expected finish): the
    # scheduler catches up two days only, and a weekend moves the planned dates.
    due = datetime.fromisoformat(store.get("production_stage", late["stages"][0])["expected_finish"])
    factory.run_time_rules(now=due.replace(tzinfo=UTC) + timedelta(days=1, hours=1))
    assert store.get("production_stage", late["stages"][0])["delayed"] is True
    assert store.get("production_stage", late["stages"][1])["delayed"] is False  # not due yet
    assert store.get("production_stage", on_time["stages"][0])["delayed"] is False
    assert store.get("production_stage", finished["stages"][0])["delayed"] is False
    alerts = [n for n in factory.notifications() if late["order_number"] in str(n) and "late" in str(n).lower()]
    assert len(alerts) == 2  # the stage's owner and the order's owner (here the same user, told twice)
    assert not [n for n in factory.notifications() if on_time["order_number"] in str(n)]
    assert store.get("mfg_order", late["id"])["late_stages"] == 1


def test_the_planned_dates_are_the_modules_not_the_planners(factory, module_client):
    order = _order(factory, start=0, stages=[2])
    url = f"/api/v1/data/production_stage/{order['stages'][0]}"
    answer = module_client.patch(url, json={"expected_finish": _day(40)}, headers=factory.bearer(factory.planner))
    assert answer.status_code in (403, 422) and "expected_finish" in answer.get_data(as_text=True)
    moved = module_client.patch(url, json={"duration_days": 4}, headers=factory.bearer(factory.planner))
    assert moved.status_code == 200 and moved.get_json()["expected_finish"] == _day(3)


def test_removing_a_stage_or_moving_the_start_replans_the_rest(factory):
    store = factory.store()
    order = _order(factory, start=0, stages=[2, 3])
    store.delete("production_stage", order["stages"][0])
    assert store.get("production_stage", order["stages"][1])["expected_start"] == _day(0)
    store.update("mfg_order", order["id"], {"production_start": _day(5)})
    assert store.get("mfg_order", order["id"])["expected_finish"] == _day(7)


def test_a_service_ticket_names_a_delivered_order_and_one_of_its_products(factory):
    store = factory.store()
    order = _order(factory, start=-20, stages=[1])
    ticket = {"mfg_order": order["id"], "product": factory.lathe, "reported_on": _day(), "issue_type": "defect"}
    with pytest.raises(ValidationFailed) as refused:
        store.create("service_ticket", ticket)
    assert "not delivered" in refused.value.details["fields"]["mfg_order"][0]
    delivered = store.update("mfg_order", order["id"], {"status": "delivered"})
    assert delivered["delivered_on"] == _day()
    with pytest.raises(ValidationFailed) as refused:
        store.create("service_ticket", {**ticket, "product": factory.press})
    assert refused.value.details["fields"]["product"] == [
        "The product is not on this order: choose one of the order's lines"
    ]
    created = store.create("service_ticket", ticket)
    assert created["ticket_number"].startswith("ST-") and created["status"] == "open"
    with pytest.raises(ValidationFailed) as refused:
        store.update("service_ticket", created["id"], {"status": "resolved"})
    assert "resolution" in refused.value.details["fields"]


def test_the_demo_factory_generates(factory):
    store = factory.store()

    def create(name: str, rows: list[dict]) -> list[int]:  # as `metacrm demo` does
        owners = [row.pop("owner_id", None) for row in rows]
        return [record["id"] for record in store.bulk_create(name, rows, owner_ids=owners)]

    counts = demo_data.generate(create, owner_ids=factory.users, dealers=3, orders=8)
    assert counts["dealer"] == 3 and counts["mfg_order"] == 8
    assert counts["production_stage"] == 8 * len(demo_data.STAGES) and counts["mfg_order_line"] >= 8
    assert counts["service_ticket"] >= 1  # on the delivered orders, each for a product the order delivered
