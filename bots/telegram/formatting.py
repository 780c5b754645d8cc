"""Model markdown -> Telegram text + MessageEntity list, via telegramify-markdown.

Entities (not parse_mode HTML/MarkdownV2) are sent because then no character of the
model's text has to be escaped: there is nothing for Telegram to mis-parse. Telegram's
4,096 limit counts the text *after* entity parsing, in UTF-16 code units, so a rendered
text is measured with ``utf16_len`` and cut with the converter's own entity-aware splitter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyromark
from telegramify_markdown import RenderConfig, convert, split_entities, utf16_len
from telegramify_markdown.converter import STANDARD_OPTIONS

MAX_TEXT_UTF16 = 4096  # MessageLimit.MAX_TEXT_LENGTH, counted after entities parsing


def _render_config() -> RenderConfig:
    """Our own config (never the library's global one): no decorative symbols are added,
    so the rendered text is never longer than the markdown the splitter measured."""
    config = RenderConfig.isolated()
    symbol = config.markdown_symbol
    for level in range(1, 7):
        setattr(symbol, f"heading_level_{level}", "")
    symbol.link = ""
    symbol.image = ""
    symbol.horizontal_rule = "———"
    return config


_CONFIG = _render_config()
_MAX_HTML_PASSES = 16


def keep_html_literal(markdown: str) -> str:
    """Markdown treats ``<div>`` or ``<T>`` as raw HTML and the converter drops raw HTML,
    which would silently delete text the model wrote ("use the <table> element"). Escape
    the ``<`` of every raw-HTML run (never inside code: the parser says where HTML is) so
    it shows as typed. Repeated because unwrapping an HTML block can expose more."""
    text = markdown
    for _ in range(_MAX_HTML_PASSES):
        if "<" not in text:
            return text
        source = text.encode("utf-8")
        offsets: list[int] = []
        for payload, span in pyromark.events_with_range(text, options=STANDARD_OPTIONS):
            if isinstance(payload, dict) and ("InlineHtml" in payload or "Html" in payload):
                start, end = span["start"], span["end"]
                offsets += [start + i for i, byte in enumerate(source[start:end]) if byte == ord("<")]
        if not offsets:
            return text
        pieces, last = [], 0
        for offset in sorted(set(offsets)):
            pieces += [source[last:offset], b"\\"]
            last = offset
        pieces.append(source[last:])
        text = b"".join(pieces).decode("utf-8")
    return text


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """One Telegram message body: ``text`` and its entities as Bot API dicts."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)

    @property
    def length(self) -> int:
        return utf16_len(self.text)


def plain(text: str) -> Rendered:
    return Rendered(text=text)


def render(markdown: str, *, limit: int = MAX_TEXT_UTF16) -> list[Rendered]:
    """The markdown as one or more message bodies of at most ``limit`` UTF-16 units.

    Usually one: the core's splitter already cut the answer at the platform's length, and
    rendering only removes markup. More than one only when astral characters (emoji count
    two units) push a piece over the limit."""
    try:
        text, entities = convert(keep_html_literal(markdown), latex_escape=False, config=_CONFIG)
    except Exception:  # a converter bug must not cost the answer: send it as typed
        text, entities = markdown, []
    if not text.strip():
        # Markup with no visible text (a lone rule, an empty fence): Telegram rejects an
        # empty message, so the characters themselves are the message.
        text, entities = markdown, []
    if utf16_len(text) <= limit:
        return [Rendered(text=text, entities=[e.to_dict() for e in entities])]
    return [
        Rendered(text=part, entities=[e.to_dict() for e in part_entities])
        for part, part_entities in split_entities(text, entities, limit)
    ]


def split_plain(text: str, *, limit: int = MAX_TEXT_UTF16) -> list[str]:
    """Plain text cut to Telegram's limit (the fallback path must fit too)."""
    return [part for part, _ in split_entities(text, [], limit)] or [text]
