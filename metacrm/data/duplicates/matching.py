"""Finding likely duplicates of a record's values by the object's rules.

:func:`find_duplicates` is the one entry point, for the save step (create
and edit), the import (H1's: skip, update or flag a row) and the API. It
reads through the record store it is given, so within that store's guard:
only records the user may read are candidates (a likely duplicate the user
cannot see is never named), and a condition on a field the user may not
read is not evaluated.

Each condition first narrows the candidates in SQL through the store's own
filters (``eq`` for exact and e-mail, ``contains`` on the last four digits
of a phone, on a few words of a name), then compares normalised values in
Python; at most :data:`CANDIDATES` records per condition are compared.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from metacrm.metadata.store import RecordStore
from metacrm.platform.errors import ValidationFailed

from .rules import DEFAULT_THRESHOLD, duplicate_rules

CANDIDATES = 50
MAX_MATCHES = 10
PHONE_DIGITS = 10
LEGAL_SUFFIXES = {
    "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc", "llp", "plc",
    "gmbh", "ag", "sa", "sas", "srl", "bv", "nv", "oy", "ab", "kk", "pty", "pte", "the",
}  # fmt: skip
CJK_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "集团", "公司")
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Match:
    """A likely duplicate: the record, the rule that found it, its action,
    the fields that matched and the best fuzzy score (100 for exact)."""

    id: int
    name: str | None
    rule: str
    action: str
    fields: list[str] = field(default_factory=list)
    score: float = 100.0

    def as_json(self, object_name: str) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "object": object_name,
            "rule": self.rule,
            "action": self.action,
            "fields": self.fields,
            "score": round(self.score, 1),
        }


def normalise_email(value: Any) -> str:
    return str(value or "").strip().lower()


def normalise_phone(value: Any) -> str:
    """The last ten digits of a phone number (fewer than seven: none)."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return digits[-PHONE_DIGITS:] if len(digits) >= 7 else ""


def normalise_name(value: Any) -> str:
    """A name for fuzzy comparison: NFKC, lower case, no punctuation, no legal suffix."""
    text = unicodedata.normalize("NFKC", str(value or "")).lower().strip()
    for suffix in CJK_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
    words = [w for w in WORD.findall(text) if w not in LEGAL_SUFFIXES]
    return " ".join(words) if words else " ".join(WORD.findall(text))


def normalise_exact(value: Any) -> str:
    return str(value or "").strip().lower()


NORMALISERS = {"exact": normalise_exact, "email": normalise_email, "phone": normalise_phone, "fuzzy": normalise_name}


def name_score(left: Any, right: Any) -> float:
    """How alike two names are, 0-100 (token sort ratio of the normalised names)."""
    a, b = normalise_name(left), normalise_name(right)
    if not a or not b:
        return 0.0
    return float(fuzz.token_sort_ratio(a, b))


def _needles(method: str, value: Any) -> list[tuple[str, Any]]:
    """(operator, value) filters that narrow the candidates in SQL."""
    if method in ("exact", "email"):
        text = str(value).strip()
        # e-mail's eq ignores case; a text's does not, contains does (then compared exactly)
        return [("eq" if method == "email" else "contains", text)] if text else []
    if method == "phone":
        digits = normalise_phone(value)
        return [("contains", digits[-4:])] if digits else []
    words = sorted(normalise_name(value).split(), key=len, reverse=True)[:3]
    needles = []
    for word in words:
        if len(word) >= 3 or (word and not word.isascii()):
            needles.append(("contains", word[:4] if word.isascii() else word[:2]))
    return needles


def _candidates(store: RecordStore, object_name: str, fields: list[str], condition: dict, value: Any):
    """Records that may match ``condition`` (with ``fields``): a few SQL-narrowed pages."""
    seen: dict[int, dict] = {}
    for op, needle in _needles(condition["method"], value):
        page = store.query(
            object_name, filters=[(condition["field"], op, needle)], fields=fields, limit=CANDIDATES, sort="-id"
        )
        for record in page.data:
            seen.setdefault(record["id"], record)
    return list(seen.values())


def _matches(condition: dict, value: Any, candidate_value: Any) -> float | None:
    """The score when the candidate's value matches, else None."""
    method = condition["method"]
    if candidate_value is None:
        return None
    if method == "fuzzy":
        score = name_score(value, candidate_value)
        return score if score >= float(condition.get("threshold") or DEFAULT_THRESHOLD) else None
    normalise = NORMALISERS[method]
    mine, theirs = normalise(value), normalise(candidate_value)
    return 100.0 if mine and mine == theirs else None


def find_duplicates(
    store: RecordStore,
    object_name: str,
    values: dict[str, Any],
    *,
    exclude_id: int | None = None,
    rules: list[dict] | None = None,
) -> list[Match]:
    """The records of ``object_name`` that the object's active duplicate
    rules say ``values`` likely duplicates, best first (at most
    :data:`MAX_MATCHES`); within ``store``'s guard. ``exclude_id`` is the
    record being edited. Values are as the API takes them (text)."""
    obj = store.object(object_name)
    readable = store.guard.readable_fields(obj)
    name_field = obj.name_field if obj.name_field in readable else None
    found: dict[int, Match] = {}
    for rule in duplicate_rules(store.model, object_name) if rules is None else rules:
        conditions = rule.get("conditions") or []
        if not conditions or any(c["field"] not in readable or c["field"] not in obj.fields for c in conditions):
            continue  # a rule on a field the user cannot read is not theirs to apply
        if any(not NORMALISERS[c["method"]](values.get(c["field"])) for c in conditions):
            continue  # a blank value matches nothing
        first = conditions[0]
        try:
            wanted = list(dict.fromkeys([*(c["field"] for c in conditions), *([name_field] if name_field else [])]))
            candidates = _candidates(store, object_name, wanted, first, values[first["field"]])
        except ValidationFailed:
            continue
        for candidate in candidates:
            if candidate["id"] == exclude_id:
                continue
            scores = []
            for condition in conditions:
                score = _matches(condition, values.get(condition["field"]), candidate.get(condition["field"]))
                if score is None:
                    break
                scores.append(score)
            else:
                match = found.get(candidate["id"])
                if match is None:
                    name = candidate.get(name_field) if name_field else None
                    match = found[candidate["id"]] = Match(
                        candidate["id"],
                        None if name is None else str(name),
                        rule["api_name"],
                        rule.get("action", "warn"),
                    )
                elif rule.get("action") == "block":
                    match.action, match.rule = "block", rule["api_name"]
                match.fields = sorted({*match.fields, *(c["field"] for c in conditions)})
                match.score = min(match.score, min(scores))
    ordered = sorted(found.values(), key=lambda m: (m.action != "block", -m.score, m.id))
    return ordered[:MAX_MATCHES]
