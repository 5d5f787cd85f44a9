"""Hook implementations of the retail module.

Registered through the ``metacrm.plugins`` entry point ``retail``. Its
record events name the module's purchases and coupons; its save step acts
on members only (a no-op for every other object).
"""

from __future__ import annotations

from pathlib import Path

from metacrm.plugins import hookimpl

PACKAGE_DIR = Path(__file__).parent / "package"


@hookimpl
def metadata_packages():
    """The retail metadata package (install crm_core's first: members may link to its contacts)."""
    return [PACKAGE_DIR]


@hookimpl
def register_record_events():
    """Coupons redeemed once, purchases priced and their members and coupons saved again."""
    from metacrm_retail.loyalty import CouponEvents, PurchaseEvents

    return [PurchaseEvents(), CouponEvents()]


@hookimpl
def register_save_steps():
    """A member's points, 12-month spend and tier, before automations see the save."""
    from metacrm_retail.loyalty import MemberStanding

    return [MemberStanding()]


@hookimpl
def generate_demo_data(tenant, create, owner_ids, progress):
    """Demo tiers, promotions, members with a year of purchases and their coupons."""
    from metacrm_retail.demo_data import generate

    return generate(create, owner_ids=owner_ids, progress=progress)
