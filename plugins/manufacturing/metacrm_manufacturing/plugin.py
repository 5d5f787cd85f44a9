"""Hook implementations of the manufacturing module.

Registered through the ``metacrm.plugins`` entry point ``manufacturing``.
Its record events name the objects they act on, so the platform calls them
for those objects only, and only in tenants where the module is installed.
"""

from __future__ import annotations

from pathlib import Path

from metacrm.plugins import hookimpl

PACKAGE_DIR = Path(__file__).parent / "package"


@hookimpl
def metadata_packages():
    """The manufacturing metadata package (install crm_core's first: the products are its products)."""
    return [PACKAGE_DIR]


@hookimpl
def register_record_events():
    """Stage planning and order progress; a ticket's product must be on its order."""
    from metacrm_manufacturing.planning import ProductionPlanning
    from metacrm_manufacturing.tickets import TicketProductOnOrder

    return [ProductionPlanning(), TicketProductOnOrder()]


@hookimpl
def generate_demo_data(tenant, create, owner_ids, progress):
    """A demo factory: dealers, orders with lines and stages at every point of production, service tickets."""
    from metacrm_manufacturing.demo_data import generate

    return generate(create, owner_ids=owner_ids, progress=progress)
