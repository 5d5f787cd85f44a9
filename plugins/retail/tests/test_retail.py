"""The retail module end to end, on one store tenant per module (and
backend) with crm_core installed first: the package installs, purchases are
priced and move a member up (and down) a tier, a coupon is redeemed once —
also by two concurrent purchases — and refused once expired, purchases show
on the member's timeline, the store associate cannot set what the hooks
compute, and the demo data generates."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from metacrm.plugins import ValidationFailed, utcnow
from metacrm_crm_core.plugin import PACKAGE_DIR as CRM_PACKAGE_DIR

from metacrm_retail import demo_data, plugin
from metacrm_retail.plugin import PACKAGE_DIR


@pytest.fixture(scope="module")
def shop(module_instance, module_package_tenant):
    module_instance.pm.register(plugin)
    tenant = module_package_tenant(CRM_PACKAGE_DIR, slug="shop", users=("boss",), role="sales_manager")
    tenant.install(PACKAGE_DIR)
    tenant.associate = tenant.add_user("till", "store_associate")
    tenant.admin = tenant.add_user("admin", "admin")
    store = tenant.store()

    def create(name: str, rows: list[dict]) -> list[int]:  # as `metacrm demo` does
        owners = [row.pop("owner_id", None) for row in rows]
        return [record["id"] for record in store.bulk_create(name, rows, owner_ids=owners)]

    # the demo programme: its tiers are the ones the tests climb
    tenant.demo_counts = demo_data.generate(create, owner_ids=tenant.users, members=6)
    tenant.tiers = {tier["tier_code"]: tier["id"] for tier in store.query("membership_tier").data}
    tenant.promotion = store.create(
        "promotion",
        {"name": "Ten off", "promotion_code": "TEN", "discount_type": "percent", "discount_value": 10,
         "min_spend": 100, "starts_on": _day(-10), "ends_on": _day(30)},
    )["id"]  # fmt: skip
    return tenant


def _day(days: int = 0) -> str:
    return (utcnow() + timedelta(days=days)).date().isoformat()


def _member(shop, name: str) -> int:
    return shop.store().create("member", {"name": name, "phone": "13900000000"})["id"]


def _coupon(shop, code: str, **extra) -> int:
    return shop.store().create(
        "coupon", {"coupon_code": code, "promotion": shop.promotion, "expires_on": _day(5), **extra}
    )["id"]


def test_the_package_installs_next_to_crm_core(shop, module_client):
    objects = module_client.get("/api/v1/meta/objects", headers=shop.bearer(shop.admin)).get_json()
    names = {o["api_name"] for o in (objects["data"] if isinstance(objects, dict) else objects)}
    assert {"contact", "member", "membership_tier", "promotion", "coupon", "purchase"} <= names
    assert shop.install(PACKAGE_DIR)["revision"] is None  # installing again changes nothing


def test_a_purchase_earns_points_and_moves_the_member_up_a_tier(shop):
    store = shop.store()
    member = _member(shop, "Chen Jing")
    assert store.get("member", member)["tier"]["id"] == shop.tiers["STD"]  # everyone starts in the entry tier
    store.create("purchase", {"member": member, "amount": 1200})
    standing = store.get("member", member)
    assert (standing["points"], Decimal(str(standing["spend_12m"])), standing["tier"]["id"]) == (
        1200,
        1200,
        shop.tiers["STD"],
    )
    big = store.create("purchase", {"member": member, "amount": 2000, "purchased_on": _day(-3)})
    assert big["points_earned"] == 2000 and big["purchase_number"].startswith("PUR-")
    upgraded = store.get("member", member)
    assert upgraded["tier"]["id"] == shop.tiers["SLV"]  # 3,200 spent in 12 months ≥ 3,000
    assert upgraded["tier_changed_on"] == _day() and Decimal(str(upgraded["lifetime_value"])) == 3200
    assert any("is now in tier Silver" in str(n) for n in shop.notifications())
    # Gold earns 1.2 points per yuan; a refund takes the spend back and the tier down
    gold = store.create("purchase", {"member": member, "amount": 5000})
    assert store.get("member", member)["tier"]["id"] == shop.tiers["GLD"]
    assert store.create("purchase", {"member": member, "amount": 100})["points_earned"] == 120
    store.update("purchase", gold["id"], {"status": "refunded"})
    downgraded = store.get("member", member)
    assert downgraded["tier"]["id"] == shop.tiers["SLV"] and downgraded["points"] == 3320
    # a purchase older than 12 months counts for points but not for the spend
    old = _member(shop, "Zhou Min")
    store.create("purchase", {"member": old, "amount": 4000, "purchased_on": _day(-400)})
    standing = store.get("member", old)
    assert (standing["points"], Decimal(str(standing["spend_12m"])), standing["tier"]["id"]) == (
        4000,
        0,
        shop.tiers["STD"],
    )


def test_the_nightly_review_moves_down_a_member_whose_spend_aged_out(shop):
    store = shop.store()
    member = _member(shop, "Wu Lan")
    purchase = store.create("purchase", {"member": member, "amount": 3500})
    assert store.get("member", member)["tier"]["id"] == shop.tiers["SLV"]  # by the 12-month spend
    shop.set_columns("purchase", purchase["id"], purchased_on=utcnow().date() - timedelta(days=366))
    night = (utcnow() + timedelta(days=1)).replace(hour=2, minute=30, second=0, microsecond=0)
    shop.run_time_rules(now=night)
    reviewed = store.get("member", member)
    assert reviewed["tier"]["id"] == shop.tiers["STD"] and Decimal(str(reviewed["spend_12m"])) == 0
    assert reviewed["points"] == 3500 and reviewed["tier_reviewed_on"] is not None


def test_a_coupon_is_redeemed_once_and_gives_its_discount(shop):
    store = shop.store()
    member = _member(shop, "Liu Yang")
    coupon = _coupon(shop, "ONCE-1")
    with pytest.raises(ValidationFailed) as refused:  # below the promotion's minimum spend
        store.create("purchase", {"member": member, "amount": 50, "coupon": coupon})
    assert "at least 100.00" in refused.value.details["fields"]["coupon"][0]
    used = store.create("purchase", {"member": member, "amount": 300, "coupon": coupon})
    assert (Decimal(str(used["discount"])), Decimal(str(used["net_amount"])), used["points_earned"]) == (30, 270, 270)
    redeemed = store.get("coupon", coupon)
    assert redeemed["status"] == "redeemed" and redeemed["redeemed_at"] is not None
    with pytest.raises(ValidationFailed) as refused:
        store.create("purchase", {"member": member, "amount": 300, "coupon": coupon})
    assert refused.value.details["fields"]["coupon"] == [
        "The coupon ONCE-1 was already redeemed: a coupon is used once"
    ]
    # another member's coupon is refused; deleting the purchase frees the coupon again
    theirs = _coupon(shop, "ONCE-2", member=_member(shop, "Sun Li"))
    with pytest.raises(ValidationFailed):
        store.create("purchase", {"member": member, "amount": 300, "coupon": theirs})
    store.delete("purchase", used["id"])
    assert store.get("coupon", coupon)["status"] == "issued"


def test_two_concurrent_redemptions_of_one_coupon_exactly_one_wins(shop):
    member = _member(shop, "Ma Lei")
    coupon = _coupon(shop, "RACE-1")
    barrier = threading.Barrier(2)
    results: list[str] = []

    def redeem() -> None:
        store = shop.store()
        barrier.wait()
        try:
            store.create("purchase", {"member": member, "amount": 500, "coupon": coupon})
            results.append("redeemed")
        except ValidationFailed:
            results.append("refused")

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["redeemed", "refused"]
    assert len(shop.store().query("purchase", filters=[("coupon", "eq", coupon)]).data) == 1


def test_an_expired_coupon_is_refused(shop):
    store = shop.store()
    member = _member(shop, "Guo Hua")
    stale = _coupon(shop, "OLD-1", expires_on=_day(-1))
    with pytest.raises(ValidationFailed) as refused:
        store.create("purchase", {"member": member, "amount": 300, "coupon": stale})
    assert refused.value.details["fields"]["coupon"] == [f"The coupon OLD-1 expired on {_day(-1)}"]
    # the scheduled rule marks it expired the day after; an expired coupon stays refused
    shop.run_time_rules(now=utcnow() + timedelta(hours=1))
    assert store.get("coupon", stale)["status"] == "expired"


def test_purchases_show_on_the_members_timeline(shop, module_client):
    member = _member(shop, "He Ping")
    purchase = shop.store().create("purchase", {"member": member, "amount": 88})
    page = module_client.get(f"/o/member/{member}", headers=shop.bearer(shop.admin))
    assert page.status_code == 200
    stream = page.get_data(as_text=True).split('id="timeline"')[1]  # the 360° stream, not the related list
    assert f'<a href="/o/purchase/{purchase["id"]}">{purchase["purchase_number"]}</a>' in stream


def test_the_store_associate_cannot_set_what_the_hooks_compute(shop, module_client):
    member = _member(shop, "Xu Fang")
    headers = shop.bearer(shop.associate)
    answer = module_client.post(
        "/api/v1/data/purchase", json={"member": member, "amount": 100, "discount": 100}, headers=headers
    )
    assert answer.status_code in (403, 422) and "discount" in answer.get_data(as_text=True)
    answer = module_client.patch(f"/api/v1/data/member/{member}", json={"points": 99999}, headers=headers)
    assert answer.status_code in (403, 422)
    # but rings up a purchase, which saves the member as them
    answer = module_client.post("/api/v1/data/purchase", json={"member": member, "amount": 100}, headers=headers)
    assert answer.status_code == 201, answer.get_json()
    assert shop.store().get("member", member)["points"] == 100


def test_the_demo_loyalty_programme_generates(shop):
    counts = shop.demo_counts
    assert counts["membership_tier"] == 4 and counts["member"] == 6 and counts["coupon"] == 12
    assert counts["purchase"] >= 6
    members = shop.store().query("member").data
    assert all(m["tier"] is not None for m in members) and any(m["points"] > 0 for m in members)
