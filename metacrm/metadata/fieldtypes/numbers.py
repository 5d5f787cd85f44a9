"""Number field types: integer, decimal, currency and percent.

Decimals are exact: values load as :class:`decimal.Decimal` quantized to the
field's scale with ROUND_HALF_UP, and ``from_db`` returns a ``Decimal`` (the
API layer writes it as a JSON number). Numeric strings are accepted wherever
numbers are (query strings, imports); booleans never are.
"""

from __future__ import annotations

import decimal
import functools
import re
from typing import Any, ClassVar

import marshmallow as ma
import sqlalchemy as sa
from marshmallow import validate

from .base import SLOW, Widgets, checked
from .common import BuiltinFieldType, options_schema, skip_none
from .json_schema import DECIMAL_TEXT, nullable, value_range

_RANGE_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isnull")

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
_INTEGER_TEXT_RE = re.compile(r"^[+-]?\d{1,20}$")
# Room for 38 digits of precision plus rounding, whatever the thread's context says.
_CONTEXT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_UP, Emax=999999, Emin=-999999)


def _range_validators(minimum: Any, maximum: Any, convert) -> list:
    validators = []
    if minimum is not None:
        validators.append(skip_none(validate.Range(min=convert(minimum), error="must be at least {min}")))
    if maximum is not None:
        validators.append(skip_none(validate.Range(max=convert(maximum), error="must be at most {max}")))
    return validators


class IntegerField(ma.fields.Integer):
    """Whole numbers: ints, floats without a fraction (``3.0``) and integer
    strings (``"42"``); never booleans; within the BIGINT range."""

    default_error_messages = {
        "invalid": "not a valid integer",
        "fraction": "must be a whole number",
        "too_large": "is out of range",
    }

    def _validated(self, value: Any) -> int:
        if value is True or value is False:
            raise self.make_error("invalid")
        if isinstance(value, str):
            text = value.strip()
            if not _INTEGER_TEXT_RE.match(text):
                raise self.make_error("invalid")
            number = int(text)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, (float, decimal.Decimal)):
            try:
                integral = (
                    value == value.to_integral_value() if isinstance(value, decimal.Decimal) else value.is_integer()
                )
            except (ValueError, OverflowError, decimal.InvalidOperation):
                raise self.make_error("invalid") from None
            if not integral:
                raise self.make_error("fraction")
            try:
                number = int(value)
            except (ValueError, OverflowError):
                raise self.make_error("invalid") from None
        else:
            raise self.make_error("invalid")
        if not BIGINT_MIN <= number <= BIGINT_MAX:
            raise self.make_error("too_large")
        return number


class IntegerType(BuiltinFieldType):
    name = "integer"
    label = "Integer"
    widget = "number"
    widgets = Widgets("widgets/number.html")
    operators = _RANGE_OPERATORS
    options_schema = options_schema(
        {
            "min": {"type": "integer", "description": "Smallest value allowed."},
            "max": {"type": "integer", "description": "Largest value allowed."},
        }
    )
    CONVERTIBLE_TO = {
        "decimal": "keeps every value; refused if a value has more digits than the decimal allows",
        "currency": "keeps every value; refused if a value has more digits than the currency allows",
        "percent": "keeps every value (5 becomes 5 %); refused if a value has more digits than allowed",
    }

    def column_type(self) -> sa.types.TypeEngine:
        return sa.BigInteger()

    def marshmallow_field(self) -> ma.fields.Field:
        return IntegerField(
            allow_none=True, validate=_range_validators(self.options.get("min"), self.options.get("max"), int)
        )

    def filter_field(self) -> ma.fields.Field:
        return IntegerField(allow_none=True)

    def fast_load(self):
        validators = list(self.loader.validators)

        def load(value):
            if value is None:
                return None
            if type(value) is not int or not BIGINT_MIN <= value <= BIGINT_MAX:
                return SLOW
            return checked(validators, value) if validators else value

        return load

    def from_db(self, value: Any) -> Any:
        return None if value is None else int(value)

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        return _check_min_max(self.options)

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer", "format": "int64"}
        if not output:
            schema.update(value_range(self.options))
        return nullable(schema)

    def filter_schema(self) -> dict[str, Any]:
        return {"type": "integer"}


def _check_min_max(options: dict) -> list[tuple[str, str]]:
    low, high = options.get("min"), options.get("max")
    try:
        if low is not None and high is not None and decimal.Decimal(str(low)) > decimal.Decimal(str(high)):
            return [("options.min", "must not be greater than options.max")]
    except decimal.InvalidOperation:
        return []
    return []


class DecimalField(ma.fields.Decimal):
    """marshmallow's Decimal (``places=scale``, ``rounding=ROUND_HALF_UP``)
    computing in a wide context, refusing values whose integer part needs
    more than ``precision - scale`` digits."""

    default_error_messages = {
        "invalid": "not a valid number",
        "special": "must be a finite number",
        "too_many_digits": "may have at most {digits} digits before the decimal point",
    }

    def __init__(self, *, precision: int, scale: int, **kwargs):
        self.precision = precision
        self.scale = scale
        super().__init__(places=scale, rounding=decimal.ROUND_HALF_UP, allow_nan=False, **kwargs)

    def _format_num(self, value):
        if isinstance(value, str):
            value = value.strip()
        elif not isinstance(value, (int, float, decimal.Decimal)):
            raise TypeError("not a number")
        num = decimal.Decimal(value if isinstance(value, str) else str(value))  # exact, any exponent
        if not num.is_finite():
            return num
        integer_digits = self.precision - self.scale
        if num and num.adjusted() >= integer_digits:
            raise ma.ValidationError(self.error_messages["too_many_digits"].format(digits=integer_digits))
        num = num.quantize(self.places, rounding=self.rounding, context=_CONTEXT)
        if abs(num) >= _CONTEXT.power(10, integer_digits):
            raise ma.ValidationError(self.error_messages["too_many_digits"].format(digits=integer_digits))
        return num + 0 if num.is_zero() else num  # no negative zero


def quantize(value: Any, scale: int) -> decimal.Decimal:
    """A stored number (Decimal, float from SQLite, int, str) as a Decimal with ``scale`` places."""
    if isinstance(value, decimal.Decimal):
        num = value
    else:
        num = decimal.Decimal(repr(value) if isinstance(value, float) else str(value))
    return num.quantize(_quantum(scale), rounding=decimal.ROUND_HALF_UP, context=_CONTEXT)


@functools.lru_cache(maxsize=64)
def _quantum(scale: int) -> decimal.Decimal:
    return decimal.Decimal(1).scaleb(-scale)


class DecimalType(BuiltinFieldType):
    name = "decimal"
    label = "Decimal"
    widget = "decimal"
    widgets = Widgets("widgets/number.html")
    operators = _RANGE_OPERATORS
    default_precision: ClassVar[int] = 18
    default_scale: ClassVar[int] = 2
    options_schema = options_schema(
        {
            "precision": {
                "type": "integer",
                "minimum": 1,
                "maximum": 38,
                "default": 18,
                "description": "Total number of digits.",
            },
            "scale": {
                "type": "integer",
                "minimum": 0,
                "maximum": 38,
                "default": 2,
                "description": "Digits after the decimal point (at most precision).",
            },
            "min": {"type": "number", "description": "Smallest value allowed."},
            "max": {"type": "number", "description": "Largest value allowed."},
        }
    )
    CONVERTIBLE_TO = {
        "currency": "same storage; values are rounded to the new scale, refused if they need more digits",
        "percent": "same storage; values are rounded to the new scale, refused if they need more digits",
    }

    # Worked out once per compiled field (its options never change): every value read asks.
    @functools.cached_property
    def precision(self) -> int:
        value = self.options.get("precision")
        return max(1, min(38, int(value))) if value is not None else self.default_precision

    @functools.cached_property
    def scale(self) -> int:
        value = self.options.get("scale")
        scale = int(value) if value is not None else self.default_scale
        return max(0, min(scale, self.precision))

    def column_type(self) -> sa.types.TypeEngine:
        return sa.Numeric(self.precision, self.scale)

    def _field(self, validators: list) -> ma.fields.Field:
        return DecimalField(precision=self.precision, scale=self.scale, allow_none=True, validate=validators)

    def marshmallow_field(self) -> ma.fields.Field:
        convert = lambda v: decimal.Decimal(str(v))  # noqa: E731
        return self._field(_range_validators(self.options.get("min"), self.options.get("max"), convert))

    def filter_field(self) -> ma.fields.Field:
        return self._field([])

    def fast_load(self):
        loader = self.loader
        if not isinstance(loader, DecimalField):
            return None
        validators, format_num = list(loader.validators), loader._format_num
        # Text already in the stored shape (``-123.45`` at scale 2, within the
        # precision) is that Decimal as it is: quantizing would not change it.
        # Zero is left to format_num (no negative zero).
        integer_digits, scale = loader.precision - loader.scale, loader.scale
        stored_shape = (
            re.compile(rf"-?[1-9]\d{{0,{integer_digits - 1}}}\.\d{{{scale}}}|-?0\.\d{{{scale}}}")
            if scale and integer_digits
            else None
        )

        def load(value):
            if value is None:
                return None
            kind = type(value)
            if kind is str and stored_shape is not None and stored_shape.fullmatch(value):
                number = decimal.Decimal(value)
                if number:
                    return checked(validators, number) if validators else number
            if kind is not str and kind is not int:
                return SLOW
            try:
                number = format_num(value)
            except Exception:  # noqa: BLE001 - the loader words the error
                return SLOW
            if not number.is_finite():
                return SLOW
            return checked(validators, number) if validators else number

        return load

    def from_db(self, value: Any) -> Any:
        return None if value is None else quantize(value, self.scale)

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        errors = []
        precision, scale = self.options.get("precision"), self.options.get("scale")
        if "precision" in self.options_schema["properties"] and isinstance(scale, int):
            effective = precision if isinstance(precision, int) else self.default_precision
            if scale > effective:
                errors.append(("options.scale", f"must not be greater than the precision ({effective})"))
        errors.extend(_check_min_max(self.options))
        return errors

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        # Returned as JSON numbers; written as numbers or, to keep every digit, as numeric text.
        description = self._json_description()
        if output:
            return {"type": ["number", "null"], "description": description}
        return {
            "type": ["number", "string", "null"],
            "pattern": DECIMAL_TEXT,
            "description": description + " A numeric string keeps every digit.",
            **value_range(self.options),
        }

    def filter_schema(self) -> dict[str, Any]:
        return {"type": "number"}

    def _json_description(self) -> str:
        return f"At most {self.precision} digits, {self.scale} after the decimal point (rounded half up)."


class CurrencyType(DecimalType):
    """An amount in one currency (ISO 4217 code in ``options.currency``);
    precision is fixed at 18 digits."""

    name = "currency"
    label = "Currency"
    widget = "currency"
    widgets = Widgets("widgets/number.html", display="display_currency")
    options_schema = options_schema(
        {
            "currency": {
                "type": "string",
                "pattern": "^[A-Z]{3}$",
                "default": "USD",
                "description": 'ISO 4217 currency code, e.g. "CNY".',
            },
            "scale": {
                "type": "integer",
                "minimum": 0,
                "maximum": 4,
                "default": 2,
                "description": "Digits after the decimal point.",
            },
            "min": {"type": "number", "description": "Smallest amount allowed."},
            "max": {"type": "number", "description": "Largest amount allowed."},
        }
    )
    CONVERTIBLE_TO = {
        "decimal": "same storage; values are rounded to the new scale, refused if they need more digits",
        "percent": "same storage; values are rounded to the new scale, refused if they need more digits",
    }

    @property
    def precision(self) -> int:
        return 18

    @property
    def currency(self) -> str:
        return str(self.options.get("currency") or "USD")

    def _json_description(self) -> str:
        return f"{super()._json_description()} Amount in {self.currency}."


class PercentType(DecimalType):
    """A percentage: 12.5 means 12.5 %."""

    name = "percent"
    label = "Percent"
    widget = "percent"
    widgets = Widgets("widgets/number.html", display="display_percent")
    default_precision = 9
    default_scale = 4
    options_schema = options_schema(
        {
            "precision": {
                "type": "integer",
                "minimum": 1,
                "maximum": 38,
                "default": 9,
                "description": "Total number of digits.",
            },
            "scale": {
                "type": "integer",
                "minimum": 0,
                "maximum": 38,
                "default": 4,
                "description": "Digits after the decimal point (at most precision).",
            },
            "min": {"type": "number", "description": "Smallest value allowed."},
            "max": {"type": "number", "description": "Largest value allowed."},
        }
    )
    CONVERTIBLE_TO = {
        "decimal": "same storage; values are rounded to the new scale, refused if they need more digits",
        "currency": "same storage; values are rounded to the new scale, refused if they need more digits",
    }
