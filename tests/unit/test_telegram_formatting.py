"""Model markdown -> Telegram text + entities: nothing lost, nothing Telegram would refuse."""

from __future__ import annotations

import pytest

from bots.telegram.formatting import MAX_TEXT_UTF16, render, split_plain
from fakes.telegram_validate import check_entities, utf16_len

NASTY = (
    "Symbols: a < b && c > d, 2*3=6, snake_case_name, (x) [y] {z} ~tilde~ #tag +1 -1 = | . ! end\n\n"
    "````markdown\n```python\nprint('a<b & c>d')  # _*[]()~>#+-=|{}.!\n```\n````\n\n"
    "Inline `<&>_*` code and **bold with <tags> & ampersands**.\n"
)


def test_special_characters_survive_and_entities_are_valid() -> None:
    [body] = render(NASTY)
    check_entities(body.text, body.entities)  # raises like Telegram would
    assert "a < b && c > d, 2*3=6, snake_case_name, (x) [y] {z}" in body.text
    assert "```python\nprint('a<b & c>d')  # _*[]()~>#+-=|{}.!\n```" in body.text  # nested fence kept verbatim
    assert "<&>_*" in body.text
    assert "bold with <tags> & ampersands" in body.text
    kinds = {e["type"] for e in body.entities}
    assert {"pre", "code", "bold"} <= kinds


def test_code_block_language_is_an_entity_field() -> None:
    [body] = render("```python\nx = 1\n```")
    assert body.text == "x = 1"
    assert body.entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]


def test_no_decoration_is_added_so_text_never_grows() -> None:
    markdown = "# Title\n\nSee [the docs](https://example.org).\n\n---\n"
    [body] = render(markdown)
    assert body.text.startswith("Title")
    assert len(body.text) <= len(markdown)


@pytest.mark.parametrize("markdown", ["---", "```\n```", "   "])
def test_markup_without_visible_text_is_sent_as_typed(markdown: str) -> None:
    [body] = render(markdown)
    assert body.text.strip() or markdown.strip() == ""
    if markdown.strip():
        assert body.text  # never an empty message


def test_astral_characters_count_twice_and_are_split_to_fit() -> None:
    markdown = "**" + "😀" * 3000 + "**"  # 3,000 chars, 6,000 UTF-16 units
    bodies = render(markdown)
    assert len(bodies) == 2
    assert all(utf16_len(b.text) <= MAX_TEXT_UTF16 for b in bodies)
    assert "".join(b.text for b in bodies) == "😀" * 3000
    for body in bodies:
        check_entities(body.text, body.entities)


def test_plain_fallback_fits_the_limit() -> None:
    parts = split_plain(("line " * 20 + "\n") * 100 + "😀" * 2100)
    assert all(utf16_len(p) <= MAX_TEXT_UTF16 for p in parts)


@pytest.mark.parametrize(
    "markdown",
    ["Use the <table> element", "List<String> and Map<K, V>", "<div>\nblock\n</div>", "a <!-- note --> b"],
)
def test_raw_html_in_markdown_is_shown_not_dropped(markdown: str) -> None:
    [body] = render(markdown)
    assert body.text == markdown


def test_html_inside_code_is_left_to_the_code_entity() -> None:
    [body] = render("Use `<div>` here:\n\n```html\n<p>hi</p>\n```")
    assert body.text == "Use <div> here:\n\n<p>hi</p>"
    assert {e["type"] for e in body.entities} == {"code", "pre"}
