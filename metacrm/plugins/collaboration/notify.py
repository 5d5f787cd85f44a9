"""What collaboration tells people, through the one notifications table
(:mod:`metacrm.rules.automation.notifications` reads it for the bell and
``/api/v1/notifications``): messages in the recipient's language, naming
only what the recipient may read."""

from __future__ import annotations

from collections.abc import Iterable

from metacrm.metadata.physical import CompiledObject
from metacrm.platform.clock import utcnow
from metacrm.rules.automation.tables import notifications

# The ``rule`` column of collaboration's notifications says which kind it is.
MENTION = "collaboration:mention"
COMMENT = "collaboration:comment"
CHANGE = "collaboration:change"
EXCERPT = 140

MESSAGES = {
    "en": {
        MENTION: "{who} mentioned you on {object} {name}: {text}",
        COMMENT: "{who} commented on {object} {name}: {text}",
        CHANGE: "{who} changed {object} {name}: {text}",
        "deleted": "{who} deleted {object} {name}",
    },
    "zh_CN": {
        MENTION: "{who} 在{object}“{name}”中提到了你：{text}",
        COMMENT: "{who} 评论了{object}“{name}”：{text}",
        CHANGE: "{who} 修改了{object}“{name}”：{text}",
        "deleted": "{who} 删除了{object}“{name}”",
    },
}


def label_in(definition: dict | None, language: str, default: str) -> str:
    """A definition's label in ``language`` (its translation, else the label)."""
    definition = definition or {}
    translated = (definition.get("translations") or {}).get(language)
    if isinstance(translated, dict) and translated.get("label"):
        return translated["label"]
    return definition.get("label") or default


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


def field_list(obj: CompiledObject, names: Iterable[str], language: str) -> str:
    return ", ".join(label_in(obj.fields[n].definition, language, n) for n in sorted(names) if n in obj.fields)


def message(kind: str, language: str, *, who: str, obj: CompiledObject, name: str, text: str = "") -> str:
    template = MESSAGES.get(language, MESSAGES["en"])[kind]
    return template.format(who=who, object=label_in(obj.definition, language, obj.api_name), name=name, text=text)


def insert(conn, user_id: int, kind: str, obj: CompiledObject, record_id: int, text: str) -> None:
    conn.execute(
        notifications.insert().values(
            user_id=user_id,
            rule=kind,
            object=obj.api_name,
            record_id=record_id,
            message=text[:2000],
            created_at=utcnow(),
        )
    )
