"""Hook implementations of the Standard CRM plugin.

Registered through the ``metacrm.plugins`` entry point ``crm_core``.
"""

from __future__ import annotations

from pathlib import Path

from metacrm.plugins import hookimpl

PACKAGE_DIR = Path(__file__).parent / "package"


@hookimpl
def metadata_packages():
    """The Standard CRM metadata package."""
    return [PACKAGE_DIR]


@hookimpl
def generate_demo_data(tenant, create, owner_ids, progress):
    """Demo accounts, contacts, leads, opportunities, cases, activities,
    campaigns and products, lead to cash (price book, quotes, orders,
    contracts, payment plans, payments, invoices), and a quarterly quota per owner."""
    from metacrm_crm_core.demo_data import generate, generate_quotas

    counts = generate(create, owner_ids=owner_ids, progress=progress, lead_to_cash=True)
    counts["quota"] = generate_quotas(create, owner_ids=owner_ids)
    return counts
