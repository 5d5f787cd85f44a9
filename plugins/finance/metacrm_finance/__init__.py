"""The finance module (金融) for metacrm, shipped as a plugin shaped exactly
like a third-party one. It builds on the Standard CRM (crm_core): its
customers are crm_core accounts.

Its metadata package (``package/``) holds financial products, risk
assessments scored by explainable factors, KYC checks escalated when
overdue, portfolios with their holdings and totals, a dashboard, the wealth
app and the relationship-manager and compliance-officer roles.
:mod:`metacrm_finance.plugin` adds what the rule language cannot say: a
sale (a holding) is refused when the product's risk is above the customer's
current assessed risk level (:mod:`metacrm_finance.suitability`).
:mod:`metacrm_finance.demo_data` generates demo customers and portfolios.
"""

__version__ = "1.0.0"
