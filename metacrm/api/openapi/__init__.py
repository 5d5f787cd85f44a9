"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document of the signed-in
tenant's API, generated from its live compiled model.

Each object of the tenant gets its record schemas and concrete paths under
``/api/v1/data/<object>`` whose filter parameters name the object's own
fields and operators (:mod:`.records`; each field type answers its value's
JSON Schema). The metadata, rules and automation endpoints
(:mod:`.meta`) and the token and account endpoints (:mod:`.auth`) are
described once, with the definition kinds' JSON Schemas as
their request bodies; :mod:`.schemas` holds what they share. Any other
``/api/`` route of the app (a plugin's blueprint, a part of the API not
described in detail) is described from its URL rule and its view's
docstring (:mod:`.routes`), so every route the app serves is in the
document. :mod:`.document` serves it, built once per metadata revision. It
describes every field of the model: field-level security, once policies
hide fields from some users, only shortens the records those users get.
"""

from .document import CACHE_KEY, DocumentBuilder, blueprint
from .routes import Route, api_routes

__all__ = ["CACHE_KEY", "DocumentBuilder", "Route", "api_routes", "blueprint"]
