"""The Standard CRM for metacrm, shipped as a plugin shaped exactly like a third-party one.

It holds a metadata package (``package/``: accounts, contacts, leads,
opportunities, cases, activities, campaigns and products, with their fields,
layouts and list views in English and Chinese), contributed through the
``metadata_packages`` hook in :mod:`metacrm_crm_core.plugin`, and a demo-data
generator (:mod:`metacrm_crm_core.demo_data`).
"""

__version__ = "1.0.0"
