"""The fake Bot API's text checks reject what Telegram rejects (so tests can fail)."""

from __future__ import annotations

import pytest

from fakes.telegram_validate import ParseEntitiesError, check_entities, visible_text


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("a < b", 'Unsupported start tag ""'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<br>", 'Unsupported start tag "br"'),
        ("fish & chips", "Unescaped '&'"),
        ("x</b>", "Unexpected end tag"),
    ],
)
def test_malformed_html_is_refused(text: str, detail: str) -> None:
    with pytest.raises(ParseEntitiesError) as err:
        visible_text({"text": text, "parse_mode": "HTML"})
    assert str(err.value).startswith("Bad Request: can't parse entities: ")
    assert detail in str(err.value)


def test_good_html_parses_to_visible_text() -> None:
    text = '<b>bold</b> &lt;x&gt; &amp; <a href="https://e.org">link</a> <pre><code class="language-py">1</code></pre>'
    assert visible_text({"text": text, "parse_mode": "HTML"}) == "bold <x> & link 1"


def test_markdown_v2_needs_escapes() -> None:
    with pytest.raises(ParseEntitiesError, match=r"Character '\.' is reserved"):
        visible_text({"text": "End.", "parse_mode": "MarkdownV2"})
    assert visible_text({"text": "End\\.", "parse_mode": "MarkdownV2"}) == "End."


@pytest.mark.parametrize(
    "entity",
    [
        {"type": "bold", "offset": 0, "length": 9},  # past the end
        {"type": "bold", "offset": -1, "length": 2},
        {"type": "shiny", "offset": 0, "length": 1},
        {"type": "text_link", "offset": 0, "length": 1},  # no url
    ],
)
def test_bad_entities_are_refused(entity: dict[str, object]) -> None:
    with pytest.raises(ParseEntitiesError):
        check_entities("12345678", [entity])


def test_entity_offsets_count_utf16_units() -> None:
    check_entities("😀ab", [{"type": "bold", "offset": 2, "length": 2}])
    with pytest.raises(ParseEntitiesError):
        check_entities("😀ab", [{"type": "bold", "offset": 2, "length": 3}])
