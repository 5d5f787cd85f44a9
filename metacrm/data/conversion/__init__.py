"""Converting records by metadata: a lead into an account, a contact and an
opportunity (or any source object into targets an admin maps).

* :mod:`.kind` — the definition kind ``conversion`` (field maps per target,
  the lookups linking back, the related records that follow);
* :mod:`.engine` — :func:`convert` (one transaction through the save
  pipeline) and :func:`suggestions` (existing records the targets may be).
"""

from .engine import convert, definition_for, is_converted, mapped_values, suggestions
from .kind import CONVERSION, conversion, conversions

__all__ = [
    "CONVERSION",
    "conversion",
    "conversions",
    "convert",
    "definition_for",
    "is_converted",
    "mapped_values",
    "suggestions",
]
