"""How the Bot API judges a message's text: parse_mode HTML / MarkdownV2, or an entities
list, the way Telegram (tdlib's parse_html / fix_entities) refuses them:
``Bad Request: can't parse entities: ...``. Returns the text after parsing, whose UTF-16
length is what the 4,096 limit counts."""

from __future__ import annotations

import html
import re
from typing import Any

PREFIX = "Bad Request: can't parse entities: "

HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji", "tg-time",
}
ENTITY_TYPES = {
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
    "italic", "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote",
    "code", "pre", "text_link", "text_mention", "custom_emoji", "date_time",
}
MARKDOWN_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^<>]*)?)>")
_ENTITY = re.compile(r"&(#\d{1,7}|#x[0-9A-Fa-f]{1,6}|lt|gt|amp|quot);")


class ParseEntitiesError(ValueError):
    """The 400 description Telegram would answer with."""

    def __init__(self, detail: str) -> None:
        super().__init__(PREFIX + detail)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def parse_html(text: str) -> str:
    """Validate Telegram HTML; return the visible text."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG.match(text, i)
            if match is None:
                name = re.match(r"</?([^\s>]*)", text[i:])
                tag = name.group(1) if name else ""
                raise ParseEntitiesError(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, i)}')
            closing, tag = match.group(1) == "/", match.group(2).lower()
            if tag not in HTML_TAGS:
                kind = "end" if closing else "start"
                raise ParseEntitiesError(f'Unsupported {kind} tag "{tag}" at byte offset {_byte_offset(text, i)}')
            if closing:
                if not stack:
                    raise ParseEntitiesError(f'Unexpected end tag at byte offset {_byte_offset(text, i)}')
                if stack[-1] != tag:
                    raise ParseEntitiesError(
                        f'Unmatched end tag at byte offset {_byte_offset(text, i)}, expected "</{stack[-1]}>", '
                        f'found "</{tag}>"'
                    )
                stack.pop()
            else:
                stack.append(tag)
            i = match.end()
        elif char == "&":
            match = _ENTITY.match(text, i)
            if match is None:
                # tdlib keeps a bare '&'; we are stricter on purpose: producing one means
                # the sender forgot to escape, and the next '<' would break the message.
                raise ParseEntitiesError(f"Unescaped '&' at byte offset {_byte_offset(text, i)}")
            out.append(html.unescape(match.group(0)))
            i = match.end()
        elif char == ">":
            raise ParseEntitiesError(f"Unescaped '>' at byte offset {_byte_offset(text, i)}")
        else:
            out.append(char)
            i += 1
    if stack:
        raise ParseEntitiesError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def parse_markdown_v2(text: str) -> str:
    """Only the escaping rule: every reserved character outside markup needs a backslash.
    We never send MarkdownV2; this catches anything that does."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char in MARKDOWN_V2_RESERVED and char not in "*_~`|[]()":
            raise ParseEntitiesError(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")
        if char not in "*_~`|":
            out.append(char)
        i += 1
    return "".join(out)


def check_entities(text: str, entities: Any) -> None:
    if not isinstance(entities, list):
        raise ParseEntitiesError("entities must be an array")
    total = utf16_len(text)
    for index, entity in enumerate(entities):
        if not isinstance(entity, dict):
            raise ParseEntitiesError(f"entity {index} is not an object")
        kind, offset, length = entity.get("type"), entity.get("offset"), entity.get("length")
        if kind not in ENTITY_TYPES:
            raise ParseEntitiesError(f'Unsupported entity type "{kind}"')
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0:
            raise ParseEntitiesError(f"Wrong offset or length of entity {index}")
        if offset + length > total:
            raise ParseEntitiesError(
                f"Entity beginning at UTF-16 offset {offset} ends after the end of the text at UTF-16 offset {total}"
            )
        if kind == "text_link" and not entity.get("url"):
            raise ParseEntitiesError("Text link URL is empty")
        if kind == "pre" and "language" in entity and not isinstance(entity["language"], str):
            raise ParseEntitiesError("Pre language must be a string")


def visible_text(params: dict[str, Any]) -> str:
    """The message text after parsing; raises ParseEntitiesError like Telegram."""
    text = params.get("text")
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    mode = str(params.get("parse_mode") or "").lower()
    if params.get("entities") is not None:
        check_entities(text, params["entities"])
        return text
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return text.replace("*", "").replace("_", "").replace("`", "")
    return text
