"""The REST API (``/api/v1``) and its OpenAPI document.

Registered by the app factory through the ``register_blueprints`` hook, the
same way a third-party plugin adds an API.
"""
