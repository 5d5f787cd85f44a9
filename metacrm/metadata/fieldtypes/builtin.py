"""The built-in field types, in the order the field editor lists them."""

from __future__ import annotations

from .base import FieldType
from .choice import BooleanType, MultiPicklistType, PicklistType, TagsType
from .numbers import CurrencyType, DecimalType, IntegerType, PercentType
from .relations import LookupType, ManyToManyType, MasterDetailType
from .temporal import DateTimeType, DateType
from .text import AutoNumberType, EmailType, LongTextType, PhoneType, RichTextType, TextType, UrlType

BUILTIN_TYPES: tuple[type[FieldType], ...] = (
    TextType,
    LongTextType,
    RichTextType,
    EmailType,
    PhoneType,
    UrlType,
    IntegerType,
    DecimalType,
    CurrencyType,
    PercentType,
    BooleanType,
    DateType,
    DateTimeType,
    PicklistType,
    MultiPicklistType,
    TagsType,
    LookupType,
    MasterDetailType,
    ManyToManyType,
    AutoNumberType,
)

__all__ = [
    "BUILTIN_TYPES",
    "AutoNumberType",
    "BooleanType",
    "CurrencyType",
    "DateTimeType",
    "DateType",
    "DecimalType",
    "EmailType",
    "IntegerType",
    "LongTextType",
    "LookupType",
    "ManyToManyType",
    "MasterDetailType",
    "MultiPicklistType",
    "PercentType",
    "PhoneType",
    "PicklistType",
    "RichTextType",
    "TagsType",
    "TextType",
    "UrlType",
]
