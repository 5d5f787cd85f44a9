"""Hook implementations of the finance module.

Registered through the ``metacrm.plugins`` entry point ``finance``. The
save step acts on holdings only (a no-op for every other object).
"""

from __future__ import annotations

from pathlib import Path

from metacrm.plugins import hookimpl

PACKAGE_DIR = Path(__file__).parent / "package"


@hookimpl
def metadata_packages():
    """The finance metadata package (install crm_core's first: customers are its accounts)."""
    return [PACKAGE_DIR]


@hookimpl
def register_save_steps():
    """The suitability check on every sale."""
    from metacrm_finance.suitability import SuitabilityCheck

    return [SuitabilityCheck()]


@hookimpl
def generate_demo_data(tenant, create, owner_ids, progress):
    """Demo customers with risk assessments, KYC checks and suitable portfolios."""
    from metacrm_finance.demo_data import generate

    return generate(create, owner_ids=owner_ids, progress=progress)
