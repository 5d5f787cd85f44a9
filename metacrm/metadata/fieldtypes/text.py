"""Text-like field types: text, long_text, rich_text, email, phone, url and
auto_number.

Strings are trimmed on load (except long and rich text, which keep their
whitespace); empty or blank input loads as None. ``contains`` and
``startswith`` filters are case-insensitive and escape LIKE wildcards; ``eq``
is exact (and can use an index), except on e-mail addresses, where it
ignores case.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import marshmallow as ma
import nh3
import sqlalchemy as sa
from marshmallow import validate
from sqlalchemy.sql.elements import ColumnElement

from .base import SLOW, Widgets, checked
from .common import BuiltinFieldType, CleanString, icontains, istartswith, options_schema, skip_none
from .json_schema import nullable

_RANGE_OPERATORS = ("eq", "ne", "in", "contains", "startswith", "isnull", "lt", "lte", "gt", "gte")


def _length_validators(min_length: int | None, max_length: int | None) -> list:
    validators = []
    if min_length:
        validators.append(
            skip_none(validate.Length(min=min_length, error="must be at least {min} characters long")),
        )
    if max_length is not None:
        validators.append(
            skip_none(validate.Length(max=max_length, error="must be at most {max} characters long")),
        )
    return validators


class StringFieldType(BuiltinFieldType):
    """Common behaviour of the types stored as a string."""

    searchable = True
    encryptable = True
    operators = _RANGE_OPERATORS
    strip: ClassVar[bool] = True  # trim surrounding whitespace on load
    max_length_default: ClassVar[int] = 255
    max_length_option: ClassVar[bool] = False  # does options.max_length apply?

    @property
    def max_length(self) -> int:
        if self.max_length_option:
            return int(self.options.get("max_length") or self.max_length_default)
        return self.max_length_default

    @property
    def min_length(self) -> int:
        return int(self.options.get("min_length") or 0)

    def column_type(self) -> sa.types.TypeEngine:
        return sa.String(self.max_length)

    def validators(self) -> list:
        """Validators beyond the length limits."""
        return []

    def marshmallow_field(self) -> ma.fields.Field:
        return CleanString(
            strip=self.strip,
            allow_none=True,
            validate=_length_validators(self.min_length, self.max_length) + self.validators(),
        )

    def fast_load(self):
        if type(self).marshmallow_field is not StringFieldType.marshmallow_field:
            return None  # a type with its own loading (rich text sanitises)
        # The length limits inline; the type's own validators (e-mail, phone, URL) as they are.
        validators, strip = self.validators(), self.strip
        shortest, longest = self.min_length or 0, self.max_length

        def load(value):
            if value is None:
                return None
            if type(value) is not str or "\x00" in value:
                return SLOW
            text = value.strip()
            if not text:
                return None
            if not strip:
                text = value
            if not shortest <= len(text) <= longest:
                return SLOW
            return checked(validators, text) if validators else text

        return load

    def filter_field(self) -> ma.fields.Field:
        # Filter values are plain text: "contains example.com" on an e-mail
        # field is no e-mail address, and limits do not apply.
        return CleanString(strip=self.strip, allow_none=True)

    def filter(self, column: ColumnElement, op: str, value: Any) -> ColumnElement:
        if op in ("contains", "startswith") and op in self.operators:
            text = self.coerce_filter_value(value)
            if text is None:
                raise self._filter_error(f"operator {op!r} needs a non-empty value")
            return icontains(column, text) if op == "contains" else istartswith(column, text)
        return super().filter(column, op, value)

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        errors = []
        if self.max_length_option and self.min_length and self.min_length > self.max_length:
            errors.append(("options.min_length", "must not be greater than options.max_length"))
        return errors

    # -- JSON Schema -----------------------------------------------------------------

    # What the JSON Schema of a value adds to "a string" (a format, a media type).
    json_keywords: ClassVar[dict[str, Any]] = {}

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if not output and self.min_length:
            schema["minLength"] = self.min_length
        return nullable({**schema, **self.json_keywords})


class TextType(StringFieldType):
    name = "text"
    label = "Text"
    widget = "text"
    widgets = Widgets("widgets/text.html")
    max_length_option = True
    options_schema = options_schema(
        {
            "max_length": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "default": 255,
                "description": "Most characters a value may have.",
            },
            "min_length": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10000,
                "description": "Fewest characters a non-empty value must have.",
            },
        }
    )
    CONVERTIBLE_TO = {
        "long_text": "keeps every value",
        "picklist": "values equal to a picklist value (or its label) convert; others do not",
    }


class LongTextType(StringFieldType):
    name = "long_text"
    label = "Long text area"
    widget = "textarea"
    widgets = Widgets("widgets/long_text.html")
    strip = False
    sortable = False
    operators = ("eq", "ne", "contains", "startswith", "isnull")
    max_length_option = True
    max_length_default = 131072
    options_schema = options_schema(
        {
            "max_length": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1048576,
                "default": 131072,
                "description": "Most characters a value may have.",
            },
        }
    )
    CONVERTIBLE_TO = {"text": "keeps every value; refused if a value is longer than the text field's max_length"}

    def column_type(self) -> sa.types.TypeEngine:
        return sa.Text()


# Rich text: what survives sanitising.
RICH_TEXT_TAGS = frozenset(
    {
        "p",
        "br",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "s",
        "a",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "blockquote",
        "code",
        "pre",
        "span",
    }
)
RICH_TEXT_ATTRIBUTES = {"a": {"href", "title"}}
RICH_TEXT_URL_SCHEMES = frozenset({"http", "https", "mailto"})


def sanitize_html(html: str) -> str:
    """Keeps the allowed tags and attributes; removes scripts and styles with
    their content, event handlers and links other than http(s)/mailto (or
    relative); links get ``rel="noopener noreferrer"``."""
    return nh3.clean(
        html,
        tags=set(RICH_TEXT_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(attrs) for tag, attrs in RICH_TEXT_ATTRIBUTES.items()},
        url_schemes=set(RICH_TEXT_URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


class _HtmlString(CleanString):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None:
            return None
        clean = sanitize_html(text)
        return clean if clean.strip() else None


class RichTextType(LongTextType):
    name = "rich_text"
    label = "Rich text"
    widget = "richtext"
    widgets = Widgets("widgets/rich_text.html")
    operators = ("contains", "isnull")
    CONVERTIBLE_TO = {}
    json_keywords = {"contentMediaType": "text/html"}

    def marshmallow_field(self) -> ma.fields.Field:
        return _HtmlString(strip=False, allow_none=True, validate=_length_validators(0, self.max_length))

    def display_html(self, value: str) -> str:
        """Stored HTML made safe to show: sanitised again, because a value
        may have reached the table another way (an import, an older rule)."""
        return sanitize_html(value)


class EmailType(StringFieldType):
    name = "email"
    label = "Email"
    widget = "email"
    widgets = Widgets("widgets/email.html")
    max_length_default = 254
    operators = ("eq", "ne", "in", "contains", "startswith", "isnull")
    CONVERTIBLE_TO = {"text": "keeps every value; refused if a value is longer than the text field's max_length"}
    json_keywords = {"format": "email"}

    def validators(self) -> list:
        return [skip_none(validate.Email(error="not a valid e-mail address"))]

    def blind_index_text(self, value: Any) -> str:
        return str(value).lower()  # as eq compares addresses

    def filter(self, column: ColumnElement, op: str, value: Any) -> ColumnElement:
        # Addresses compare without regard to case.
        if op in ("eq", "ne", "in"):
            if op == "in":
                values = value if isinstance(value, list) else str(value).split(",")
                texts = [self.coerce_filter_value(v) for v in values]
                return sa.func.lower(column).in_([t.lower() for t in texts if t is not None])
            text = self.coerce_filter_value(value)
            if text is None:
                return column.is_(None) if op == "eq" else column.is_not(None)
            if op == "eq":
                return sa.func.lower(column) == text.lower()
            return sa.or_(sa.func.lower(column) != text.lower(), column.is_(None))
        return super().filter(column, op, value)


_PHONE_RE = re.compile(r"^\+?[0-9 ()\-.]+$")


def _validate_phone(value: str) -> None:
    if not _PHONE_RE.match(value):
        raise ma.ValidationError(
            "may contain only digits, spaces and + - ( ) . (a + only at the start)",
        )
    if sum(ch.isdigit() for ch in value) < 3:
        raise ma.ValidationError("must contain at least 3 digits")


class PhoneType(StringFieldType):
    name = "phone"
    label = "Phone"
    widget = "tel"
    widgets = Widgets("widgets/phone.html")
    max_length_default = 40
    operators = ("eq", "ne", "in", "contains", "startswith", "isnull")
    CONVERTIBLE_TO = {"text": "keeps every value"}

    def validators(self) -> list:
        return [skip_none(_validate_phone)]


class UrlType(StringFieldType):
    name = "url"
    label = "URL"
    widget = "url"
    widgets = Widgets("widgets/url.html")
    max_length_default = 2048
    operators = ("eq", "ne", "in", "contains", "startswith", "isnull")
    CONVERTIBLE_TO = {"text": "keeps every value; refused if a value is longer than the text field's max_length"}
    json_keywords = {"format": "uri"}

    def validators(self) -> list:
        return [
            skip_none(
                validate.URL(
                    relative=False,
                    absolute=True,
                    schemes={"http", "https"},
                    require_tld=False,
                    error="must be an absolute http:// or https:// URL",
                )
            )
        ]


_AUTO_NUMBER_RE = re.compile(r"^(?P<prefix>[^{}]*)\{(?P<zeros>0+)\}(?P<suffix>[^{}]*)$")
AUTO_NUMBER_MAX_TEXT = 40  # prefix and suffix together
AUTO_NUMBER_MAX_DIGITS = 10  # zeros in the placeholder


class AutoNumberType(StringFieldType):
    """A number the platform assigns on insert, rendered through ``format``
    (``"CASE-{0000}"`` → ``CASE-0007``). Never accepted on write: the
    marshmallow field is ``dump_only``."""

    name = "auto_number"
    label = "Auto number"
    widget = "readonly"
    widgets = Widgets("widgets/auto_number.html")
    read_only = True
    numbers_itself = True
    encryptable = False  # the platform's own numbers, unique in the column
    max_length_default = 60
    operators = ("eq", "ne", "in", "contains", "startswith", "isnull")
    options_schema = options_schema(
        {
            "format": {
                "type": "string",
                "minLength": 3,
                "maxLength": AUTO_NUMBER_MAX_TEXT + AUTO_NUMBER_MAX_DIGITS + 2,
                "pattern": r"^[^{}]*\{0{1,10}\}[^{}]*$",
                "description": 'Display format with one placeholder of zeros, e.g. "CASE-{0000}".',
            },
            "starting_number": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2**53,
                "default": 1,
                "description": "The number the first record gets.",
            },
        },
        required=["format"],
    )

    def _parts(self) -> tuple[str, int, str]:
        match = _AUTO_NUMBER_RE.match(str(self.options.get("format") or "{0}"))
        if not match:
            return "", 1, ""
        return match["prefix"], len(match["zeros"]), match["suffix"]

    @property
    def starting_number(self) -> int:
        value = self.options.get("starting_number")
        return 1 if value is None else int(value)

    def render(self, n: int) -> str:
        """The display value of number ``n``: zero-padded to the placeholder's width, never truncated."""
        prefix, width, suffix = self._parts()
        return f"{prefix}{int(n):0{width}d}{suffix}"

    def marshmallow_field(self) -> ma.fields.Field:
        return CleanString(allow_none=True, dump_only=True)

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        fmt = self.options.get("format")
        if not isinstance(fmt, str):
            return [("options.format", 'is required, e.g. "CASE-{0000}"')]
        match = _AUTO_NUMBER_RE.match(fmt)
        if not match:
            return [("options.format", 'must contain exactly one placeholder of zeros, e.g. "CASE-{0000}"')]
        errors = []
        if len(match["prefix"]) + len(match["suffix"]) > AUTO_NUMBER_MAX_TEXT:
            errors.append(
                ("options.format", f"text around the placeholder may have at most {AUTO_NUMBER_MAX_TEXT} characters")
            )
        if len(match["zeros"]) > AUTO_NUMBER_MAX_DIGITS:
            errors.append(("options.format", f"the placeholder may have at most {AUTO_NUMBER_MAX_DIGITS} zeros"))
        return errors

    json_keywords = {"readOnly": True}  # the platform numbers records; a write never sets it
