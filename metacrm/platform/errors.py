"""One exception hierarchy for the whole product.

Code raises these domain errors; the edge (``metacrm.platform.web``) turns them
into JSON ``{"error": {"code", "message", "details"}}`` or an HTML page, with the
status each class carries. Nothing else maps errors to HTTP.
"""

from __future__ import annotations

from typing import Any


class MetacrmError(Exception):
    """Base of every error the product raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ConfigError(MetacrmError):
    """The configuration is unusable (raised at start-up, not per request)."""

    code = "config_error"


class BadRequest(MetacrmError):
    status = 400
    code = "bad_request"


class Unauthenticated(MetacrmError):
    status = 401
    code = "unauthenticated"


class SecondFactorRequired(Unauthenticated):
    """The password was right; the sign-in needs the second factor too.
    ``user_id`` is for the browser's second step, never sent to a client."""

    code = "second_factor_required"

    def __init__(self, message: str, *, user_id: int):
        super().__init__(message)
        self.user_id = user_id


class Forbidden(MetacrmError):
    status = 403
    code = "forbidden"


class NotFound(MetacrmError):
    status = 404
    code = "not_found"


class Conflict(MetacrmError):
    status = 409
    code = "conflict"


class ValidationFailed(MetacrmError):
    """Input failed validation; ``details`` names every failing field:
    ``{"fields": {"email": ["not a valid e-mail address"]}}``."""

    status = 422
    code = "validation_failed"


class TooManyRequests(MetacrmError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, details: Any = None):
        super().__init__(message, details=details)
        self.retry_after = retry_after


class PluginFailed(MetacrmError):
    """A plugin's hook raised during an operation (a save, an install): the
    operation is rolled back; the message names the plugin and the hook."""

    status = 500
    code = "plugin_failed"
