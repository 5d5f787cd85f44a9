"""The retail module (零售) for metacrm, shipped as a plugin shaped exactly
like a third-party one. It builds on the Standard CRM (crm_core): a member
may be linked to one of its contacts.

Its metadata package (``package/``) holds membership tiers, members,
promotions, coupons and purchases, a dashboard, the retail app and the
store-associate and membership-manager roles. :mod:`metacrm_retail.plugin`
adds what the rule language cannot say (:mod:`metacrm_retail.loyalty`): a
coupon redeemed by one purchase only (race-safe), a purchase's discount and
points, and a member's points, 12-month spend and tier recomputed on every
purchase. :mod:`metacrm_retail.demo_data` generates demo members and their
shopping.
"""

__version__ = "1.0.0"
