"""Named entities: the JSON Schema the model is constrained to, and the chat rendering."""

from __future__ import annotations

import json
import logging
from typing import Any

from core import catalogue
from core.specs import Work

log = logging.getLogger("tertulia.entities")

ENTITY_TYPES = ("person", "organization", "location", "event", "topic", "other")

ENTITIES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "type": {"type": "string", "enum": list(ENTITY_TYPES)},
                },
                "required": ["text", "type"],
            },
        }
    },
    "required": ["entities"],
}


class EntitiesParseError(ValueError):
    pass


def parse_entities(raw: str) -> list[tuple[str, str]]:
    """(text, type) pairs, de-duplicated case-insensitively, in first-seen order."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EntitiesParseError(str(exc)) from exc
    items = data.get("entities") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise EntitiesParseError("no entity list")
    seen: set[tuple[str, str]] = set()
    found: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        text = str(item.get("text", "")).strip()
        kind = str(item.get("type", "other")).strip().lower()
        kind = kind if kind in ENTITY_TYPES else "other"
        key = (text.lower(), kind)
        if text and key not in seen:
            seen.add(key)
            found.append((text, kind))
    return found


def render_entities(entities: list[tuple[str, str]], locale: str | None) -> str:
    if not entities:
        return catalogue.text("entities_none", locale)
    lines = [catalogue.text("entities_header", locale)]
    for kind in ENTITY_TYPES:
        names = [text for text, k in entities if k == kind]
        if names:
            lines.append(f"- **{catalogue.text(f'entity.{kind}', locale)}**: {', '.join(names)}")
    return "\n".join(lines)


def render_entities_answer(raw: str, work: Work) -> str:
    """The model's JSON as the chat's grouped list; a clear message when it didn't parse."""
    try:
        return render_entities(parse_entities(raw), work.locale)
    except EntitiesParseError:
        log.warning("entities output did not parse")
        return catalogue.text("entities_bad_json", work.locale)
