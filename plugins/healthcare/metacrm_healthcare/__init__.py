"""The healthcare module (医疗) for metacrm, shipped as a plugin shaped exactly
like a third-party one.

Its metadata package (``package/``) holds patients, practitioners,
appointments and visits with their layouts, list views, rules, a dashboard,
the clinic app and the clinician and receptionist roles; medical fields are
hidden from every role but the clinical one and every read of them is
audited. :mod:`metacrm_healthcare.plugin` adds what the rule language cannot
say: no practitioner is ever booked twice for the same time, even by two
concurrent saves. :mod:`metacrm_healthcare.demo_data` generates a demo clinic.
"""

__version__ = "1.0.0"
