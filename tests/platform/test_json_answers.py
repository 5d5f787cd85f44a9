"""The app's JSON provider: compact answers are written by orjson, with the
text the standard library would write (Decimals as numbers, dates through
Flask's ``default``, field order kept, UTF-8 unescaped), and whatever orjson
refuses takes the standard path instead of failing."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import json
import uuid
from decimal import Decimal

import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from metacrm.app import COMPACT, JSONProvider, MetacrmFlask


@pytest.fixture(scope="module")
def app():
    return MetacrmFlask("json_answers")


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Period:
    start: dt.date
    days: int


def standard(value) -> str:
    return json.dumps(value, default=JSONProvider.default, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "value",
    [
        {"z": 1, "a": "车辆", "m": [1.5, None, True, False], "amount": Decimal("1234.50"), "rate": Decimal("-0.0001")},
        {"at": dt.datetime(2026, 12, 4, 9, 30, 5, 123456, tzinfo=dt.UTC), "day": dt.date(2026, 2, 28)},
        {"naive": dt.datetime(2026, 12, 4, 9, 30), 7: "an integer key", "id": uuid.UUID(int=42)},
        {"period": Period(dt.date(2026, 1, 1), 30), "html": "<b>&</b>", "quote": 'say "hi"\n\t'},
        # Subclasses are written as the standard library writes them: a MultiDict its first values.
        {"args": MultiDict([("a", "1"), ("a", "2")]), "ordered": collections.OrderedDict(b=1, a=2)},
        {"level": Level.HIGH, "safe": Markup("<b>x</b>"), "flag": True},
        {"big": 2**70, "also": 1},  # beyond 64 bits: orjson refuses, the standard path writes it
        {"lone": "\ud800"},  # a lone surrogate: the same
        [],
        "text",
    ],
)
def test_a_compact_answer_reads_as_the_standard_library_writes_it(app, value):
    with app.app_context():
        assert app.json.dumps(value, **COMPACT) == standard(value)


def test_responses_are_compact_and_keep_field_order(app):
    with app.app_context():
        response = app.json.response({"data": [{"name": "甲", "amount": Decimal("2.50"), "id": 3}]})
    assert response.get_data(as_text=True) == '{"data":[{"name":"甲","amount":2.5,"id":3}]}\n'


def test_what_cannot_be_written_still_fails_as_before(app):
    with app.app_context(), pytest.raises(TypeError):
        app.json.dumps({"unknown": object()}, **COMPACT)


def test_indented_and_default_calls_take_the_standard_path(app):
    value = {"a": [1, 2], "b": Decimal("1.10")}
    with app.app_context():
        assert app.json.dumps(value, indent=2) == json.dumps(
            value, default=JSONProvider.default, ensure_ascii=False, indent=2
        )
        assert app.json.dumps(value) == '{"a": [1, 2], "b": 1.1}'
