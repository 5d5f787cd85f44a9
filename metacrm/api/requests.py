"""Reading JSON request bodies with errors that name the field and the reason."""

from __future__ import annotations

from typing import Any

from flask import request

from metacrm.platform.errors import BadRequest, ValidationFailed


def json_body() -> dict[str, Any]:
    if not request.is_json:
        raise BadRequest("send a JSON body with Content-Type: application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("the request body is not valid JSON")
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def require_strings(data: dict[str, Any], *names: str) -> dict[str, str]:
    """Each named member must be a non-empty string; all failures at once."""
    errors: dict[str, list[str]] = {}
    for name in names:
        value = data.get(name)
        if value is None or value == "":
            errors[name] = ["is required"]
        elif not isinstance(value, str):
            errors[name] = ["must be a string"]
    if errors:
        raise ValidationFailed("some fields are missing or invalid", details={"fields": errors})
    return {name: data[name] for name in names}
