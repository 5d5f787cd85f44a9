"""API names suggested from labels: what the object and field designers
offer while an admin types a label ("Vehicle type" → ``vehicle_type``).

Only a suggestion: the name the admin keeps is checked by the definition
kinds like any other (:mod:`metacrm.metadata.definitions`). Depends on
nothing above :mod:`metacrm.metadata.reserved`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from metacrm.metadata.reserved import reserved_reason

MAX_LENGTH = 40  # short enough to read in a formula; the pattern allows 63


def slug(label: str) -> str:
    """``label`` as an identifier of lower-case ASCII letters, digits and
    underscores, starting with a letter; empty when the label has no Latin
    letters or digits (a Chinese-only label)."""
    text = unicodedata.normalize("NFKD", label or "").encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if not text:
        return ""
    if not text[0].isalpha():
        text = "f_" + text
    return text[:MAX_LENGTH].rstrip("_")


def suggest_api_name(label: str, taken: Collection[str] = (), *, kind: str = "field") -> str:
    """An API name for a new object (``kind="object"``) or field labelled
    ``label`` that is not reserved and not in ``taken`` (a number is added
    when it is): "" when the label gives no name."""
    base = slug(label)
    if not base:
        return ""
    if reserved_reason(base, kind=kind) or base == "new":
        base = f"{base}_{'c' if kind == 'object' else 'f'}"
    name, n = base, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    return name
