"""Bot API error replies -> the core's typed errors; menu texts for setMyCommands."""

from __future__ import annotations

import pytest

from bots.telegram.app import command_descriptions, menu_commands
from bots.telegram.botapi import EntityParseError, NotModified, raise_for_description
from core.errors import BadRequest, Forbidden, RetryAfter, TransientDeliveryError


def test_429_becomes_retry_after_with_the_seconds() -> None:
    with pytest.raises(RetryAfter) as err:
        raise_for_description(429, "Too Many Requests: retry after 7", {"retry_after": 7})
    assert err.value.seconds == 7


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (400, "Bad Request: message is not modified: specified new message content ...", NotModified),
        (400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3", EntityParseError),
        (400, "Bad Request: chat not found", BadRequest),
        (403, "Forbidden: bot was blocked by the user", Forbidden),
        (401, "Unauthorized", Forbidden),
        (502, "Bad Gateway", TransientDeliveryError),
    ],
)
def test_error_mapping(status: int, description: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        raise_for_description(status, description, None)


def test_not_modified_is_not_retryable_but_distinct() -> None:
    assert issubclass(NotModified, BadRequest) and not NotModified.retryable


@pytest.mark.parametrize("locale", ["en", "es"])
def test_every_command_has_a_menu_text_within_the_api_limits(locale: str) -> None:
    texts = command_descriptions(locale)
    assert set(texts) == set(menu_commands())
    assert all(1 <= len(text) <= 256 for text in texts.values())


def test_spanish_menu_differs_from_english() -> None:
    assert command_descriptions("es")["essay"] != command_descriptions("en")["essay"]
