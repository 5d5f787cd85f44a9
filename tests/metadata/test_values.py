"""The one JSON-safe form of a value and the one flattening of marshmallow errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import marshmallow as ma

from metacrm.metadata.values import error_messages, first_error, json_safe


def test_json_safe_values():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    value = {
        "whole": Decimal("100.00"),
        "part": Decimal("12.50"),
        "float": 0.1,
        "day": date(2026, 1, 2),
        "at": moment,
        "many": ("a", Decimal("2")),
        1: [True, None],
        "other": object,
    }
    assert json_safe(value) == {
        "whole": 100,
        "part": "12.50",
        "float": "0.1",
        "day": "2026-01-02",
        "at": "2026-01-02T03:04:05+00:00",
        "many": ["a", 2],
        "1": [True, None],
        "other": str(object),
    }


def test_error_messages_and_the_first_one():
    flat = ma.ValidationError(["not a number", "too big"])
    assert error_messages(flat) == ["not a number", "too big"]
    assert first_error(flat) == "not a number"
    by_field = ma.ValidationError({"amount": ["not a number"], "name": "missing"})
    assert error_messages(by_field) == ["amount: not a number", "name: missing"]
    assert first_error(by_field) == "not a number"
    assert error_messages(ma.ValidationError("bad")) == ["bad"] and first_error(ma.ValidationError("bad")) == "bad"
