"""The manufacturing module (制造) for metacrm, shipped as a plugin shaped
exactly like a third-party one. It builds on the Standard CRM (crm_core):
the products ordered and serviced are its products.

Its metadata package (``package/``) holds dealers, their sales orders with
lines, the production stages of each order (progress and the expected
finish roll up from them, a scheduled automation alerts the owners when a
stage is late), after-sales service tickets, a dashboard, the manufacturing
app and the dealer-manager, production-planner and service-engineer roles.
:mod:`metacrm_manufacturing.planning` plans every stage's expected dates
from the stages before it and moves the order along as its stages start
and finish; :mod:`metacrm_manufacturing.tickets` refuses a ticket for a
product that is not on the order. :mod:`metacrm_manufacturing.demo_data`
generates a demo factory.
"""

__version__ = "1.0.0"
