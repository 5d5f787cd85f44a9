"""One test of "changed" for ISCHANGED and ``WHEN field changed (to …)``:
values compared as rules read them, every blank alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from metacrm.rules.runtime import changed, same_value


def test_values_are_compared_as_rules_read_them():
    assert same_value("NUMBER", 1.5, Decimal("1.5"))  # SQLite floats
    assert same_value("NUMBER", Decimal("5.00"), 5)
    assert same_value("DATETIME", datetime(2026, 1, 2, 3), datetime(2026, 1, 2, 3, tzinfo=UTC))
    assert same_value("DATE", "2026-01-02", date(2026, 1, 2))
    assert same_value("MULTI", ";a;b;", ["a", "b"])
    assert same_value("BOOLEAN", 1, True)
    assert not same_value("TEXT", "a", "b")


def test_every_blank_is_alike():
    assert same_value("TEXT", None, "")
    assert same_value("MULTI", None, ";;")
    assert not changed("TEXT", "", None)
    assert changed("TEXT", None, "x") and changed("NUMBER", 1, None)
