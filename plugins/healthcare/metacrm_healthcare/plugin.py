"""Hook implementations of the healthcare module.

Registered through the ``metacrm.plugins`` entry point ``healthcare``. The
save step acts on appointments only (a no-op for every other object).
"""

from __future__ import annotations

from pathlib import Path

from metacrm.plugins import hookimpl

PACKAGE_DIR = Path(__file__).parent / "package"


@hookimpl
def metadata_packages():
    """The healthcare metadata package."""
    return [PACKAGE_DIR]


@hookimpl
def register_save_steps():
    """No practitioner booked twice for the same time (race-safe)."""
    from metacrm_healthcare.booking import NoDoubleBooking

    return [NoDoubleBooking()]


@hookimpl
def generate_demo_data(tenant, create, owner_ids, progress):
    """A demo clinic: practitioners, patients, past visits and upcoming appointments."""
    from metacrm_healthcare.demo_data import generate

    return generate(create, owner_ids=owner_ids, progress=progress)
