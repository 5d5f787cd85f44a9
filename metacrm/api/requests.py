"""Reading JSON request bodies with errors that name the field and the reason."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from metacrm.platform.errors import BadRequest, ValidationFailed
from metacrm.platform.web import MAX_ID

MAX_DEPTH = 32  # no definition or record nests deeper; a deeper body is an attack or a mistake


def json_body() -> dict[str, Any]:
    if not request.is_json:
        raise BadRequest("send a JSON body with Content-Type: application/json")
    body = request.get_data(cache=True)
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    # JSON without escapes in plain ASCII cannot carry a NUL (a raw control
    # character is invalid JSON) or a lone surrogate: only the depth is left.
    if not _plain(data, texts=b"\\u" in body or not body.isascii()):
        _check_values(data)
    return data


def _plain(data: dict[str, Any], *, texts: bool) -> bool:
    """Whether :func:`_check_values` would find nothing (a bulk body of a
    thousand records is walked once, without naming each member's path);
    ``texts``: whether strings may hold what it refuses."""
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            if texts and any(_bad_text(key) for key in value):
                return False
            items = value.values()
        else:
            items = value
        if items and depth >= MAX_DEPTH:
            return False
        for item in items:
            if isinstance(item, (dict, list)):
                pending.append((item, depth + 1))
            elif texts and isinstance(item, str) and _bad_text(item):
                return False
    return True


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_values(data: dict[str, Any]) -> None:
    """Refuse what no database can store, naming the member: nesting deeper
    than MAX_DEPTH, lone UTF-16 surrogates (``"\\ud800"`` decodes to text that
    is not UTF-8) and NUL characters (PostgreSQL text cannot hold them)."""
    pending: list[tuple[str, Any, int]] = [("", data, 0)]
    while pending:
        path, value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(f"{path}.{key}" if path else str(key), key)
                pending.append((f"{path}.{key}" if path else str(key), item, depth + 1))
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item, depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(path, value)


def _check_text(path: str, text: str) -> None:
    reason = None
    if "\x00" in text:
        reason = "contains a NUL character"
    else:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            reason = "contains a lone surrogate (not valid Unicode text)"
    if reason:
        # the member's name itself may hold the bad character: show it escaped
        name = path.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\0")
        raise ValidationFailed(f"{name}: {reason}", details={"fields": {name: [reason]}})


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


def int_arg(name: str, maximum: int = MAX_ID) -> int | None:
    """The query argument ``name`` as an id or a count (0 to ``maximum``:
    2^63-1, or INT32_MAX for a 32-bit column), None when absent; anything
    else is a 422 naming it, never a database overflow."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    if not raw.isdigit() or int(raw) > maximum:
        raise ValidationFailed(
            f"{name} must be a whole number up to {maximum}", details={"fields": {name: ["whole number"]}}
        )
    return int(raw)
