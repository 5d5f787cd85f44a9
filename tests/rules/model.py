"""The fixed objects the rule tests use, as definitions and as an in-memory
compiled model (no database needed for parser, checker and Python tests)."""

from __future__ import annotations

from metacrm.metadata.definitions import Definition, DefinitionSet
from metacrm.metadata.fieldtypes.registry import builtin_registry
from metacrm.metadata.physical import CompiledModel, compile_model

STAGES = ["open", "won", "lost", "Closed Won"]
INDUSTRIES = ["tech", "retail", "finance"]
COLORS = ["red", "green", "blue"]


def _values(values: list[str]) -> dict:
    return {"values": [{"value": v} for v in values]}


ACCOUNT_FIELDS = [
    {"api_name": "name", "label": "Name", "type": "text"},
    {"api_name": "industry", "label": "Industry", "type": "picklist", "options": _values(INDUSTRIES)},
    {"api_name": "rating", "label": "Rating", "type": "integer"},
    {"api_name": "parent", "label": "Parent", "type": "lookup", "options": {"target": "account"}},
]

DEAL_FIELDS = [
    {"api_name": "name", "label": "Name", "type": "text"},
    {"api_name": "note", "label": "Note", "type": "long_text"},
    {"api_name": "email", "label": "Email", "type": "email"},
    {"api_name": "amount", "label": "Amount", "type": "decimal", "options": {"precision": 12, "scale": 2}},
    {"api_name": "qty", "label": "Quantity", "type": "integer"},
    {"api_name": "rate", "label": "Rate", "type": "percent"},
    {"api_name": "price", "label": "Price", "type": "currency"},
    {"api_name": "active", "label": "Active", "type": "boolean"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "seen_at", "label": "Seen at", "type": "datetime"},
    {"api_name": "stage", "label": "Stage", "type": "picklist", "options": _values(STAGES)},
    {"api_name": "colors", "label": "Colors", "type": "multi_picklist", "options": _values(COLORS)},
    {"api_name": "labels", "label": "Labels", "type": "tags"},
    {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}},
]

OBJECTS = {"account": ACCOUNT_FIELDS, "deal": DEAL_FIELDS}


def in_memory_model(extra_deal_fields: list[dict] | None = None) -> CompiledModel:
    items = {}
    for name, fields in OBJECTS.items():
        items[("object", name)] = Definition("object", name, {"api_name": name, "label": name.title()})
        for document in fields + (extra_deal_fields or [] if name == "deal" else []):
            key = f"{name}.{document['api_name']}"
            items[("field", key)] = Definition("field", key, document)
    return compile_model(1, DefinitionSet(items), builtin_registry())
