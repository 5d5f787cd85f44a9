"""Field types: one class per type owns its columns, marshmallow field,
filter operators and SQL, what it references (a lookup's column, a link
table), whether the platform numbers it, its widget macros
(``metacrm/ui/templates/widgets/``) and import parser (contract:
:mod:`.base`).

- :mod:`.text` — text, long_text, rich_text (sanitised with nh3), email,
  phone, url, auto_number
- :mod:`.numbers` — integer, decimal, currency, percent (exact Decimals)
- :mod:`.temporal` — date, datetime (stored in UTC)
- :mod:`.choice` — boolean, picklist, multi_picklist, tags (``;a;b;`` storage)
- :mod:`.relations` — lookup, master_detail, many_to_many (junction table)
- :mod:`.registry` — name → class; plugins add types through the
  ``register_field_types`` hook
- :mod:`.conversion` — converting stored values on a type change
- :mod:`.json_schema` — the JSON Schema pieces a type describes its values
  with (``json_schema``, ``filter_schema``: the OpenAPI document asks them)
"""

from .base import ALL_OPERATORS, FieldType, FilterError, Widgets
from .builtin import BUILTIN_TYPES
from .common import BuiltinFieldType
from .conversion import can_convert, convert_value
from .registry import (
    BuiltinFieldTypes,
    FieldTypeRegistry,
    builtin_field_types,
    builtin_registry,
    registry_from_plugins,
)

__all__ = [
    "ALL_OPERATORS",
    "BUILTIN_TYPES",
    "BuiltinFieldType",
    "BuiltinFieldTypes",
    "FieldType",
    "FieldTypeRegistry",
    "FilterError",
    "Widgets",
    "builtin_field_types",
    "builtin_registry",
    "can_convert",
    "convert_value",
    "registry_from_plugins",
]
