"""Values on their way out: the one JSON-safe form of a Python value and the
one flattening of a marshmallow error into messages.

* :func:`json_safe` — what JSON columns (run log, outbox, audit details)
  and payloads (webhooks, dry runs) store of a record or rule value;
* :func:`error_messages` / :func:`first_error` — the messages of a
  ``marshmallow.ValidationError`` (all of them; the first one).

What a rule's value means for a field (its column value, whether it
changed, whether a condition holds) is the rule language's, in
:mod:`metacrm.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import marshmallow as ma


def json_safe(value: Any) -> Any:
    """``value`` in a form ``json.dumps`` takes, as the API shows it: dates
    and datetimes in ISO 8601, whole Decimals as integers and others as
    exact text (never a float), floats as the Decimal they print as,
    sequences as lists, mappings with text keys, anything else as text."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, float):
        return json_safe(Decimal(repr(value)))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


def error_messages(exc: ma.ValidationError) -> list[str]:
    """Every message of ``exc``; those of a schema's fields as ``field: message``."""
    messages = exc.messages
    if isinstance(messages, dict):
        return [f"{k}: {m}" for k, ms in messages.items() for m in (ms if isinstance(ms, list) else [ms])]
    return [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]


def first_error(exc: ma.ValidationError) -> str:
    """The first message of ``exc`` (of its first field, for a schema's errors)."""
    messages = exc.messages
    while isinstance(messages, (list, dict)):
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return str(messages)
