"""Discord: a mention with an attached file is chat about it (the real discord.py client on our
gateway, a real Celery worker, the fake TGI server, the CDN download on our REST server)."""

from __future__ import annotations

import pytest

from core import catalogue
from fakes.discord_payloads import bot_mention
from fakes.discord_server import CHANNEL_ID
from tests.integration import discord_support
from tests.integration.discord_support import DiscordStack

# The shared fixtures (bound here so pytest finds them in this module).
discord_bot = discord_support.discord_bot
discord_gateway = discord_support.discord_gateway
discord_rest = discord_support.discord_rest
discord_stack = discord_support.discord_stack

pytestmark = pytest.mark.integration


def test_a_mention_with_a_text_attachment_sends_its_text_to_the_model(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    poem = b"Verde que te quiero verde.\nVerde viento. Verdes ramas."
    attachment = stack.rest.add_attachment(channel_id=CHANNEL_ID, name="romance.txt", data=poem)
    stack.tgi.script("It repeats 'verde'.")
    message = stack.say(bot_mention("which word repeats in this poem?"), mentions_bot=True, attachments=[attachment])
    stack.reply_to(message, "It repeats 'verde'.")
    prompt = stack.tgi.prompts()[-1]
    assert "which word repeats in this poem?" in prompt and "Verde viento. Verdes ramas." in prompt
    assert len(stack.rest.calls_to("GET", "^/attachments/")) == 1  # downloaded once, by the worker


def test_a_mention_with_an_image_and_a_text_only_model_is_refused_without_a_model_call(
    discord_stack: DiscordStack,
) -> None:
    stack = discord_stack
    png = b"\x89PNG\r\n\x1a\n" + bytes(40)
    attachment = stack.rest.add_attachment(channel_id=CHANNEL_ID, name="kiln.png", data=png)
    message = stack.say(bot_mention("what is this?"), mentions_bot=True, attachments=[attachment])
    refusal = catalogue.text("image_needs_vision", "en", model="tgi", models="`vision-test`")
    stack.reply_to(message, refusal)
    assert not stack.tgi.generation_requests()


def test_an_image_alone_is_a_chat_turn_about_it_not_a_file_to_summarise(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    png = b"\x89PNG\r\n\x1a\n" + bytes(40)
    attachment = stack.rest.add_attachment(channel_id=CHANNEL_ID, name="kiln.png", data=png)
    message = stack.say(bot_mention(""), mentions_bot=True, attachments=[attachment])
    # The chat's clear refusal for a text-only model, not the file command's "can't read".
    refusal = catalogue.text("image_needs_vision", "en", model="tgi", models="`vision-test`")
    stack.reply_to(message, refusal)
    assert not stack.tgi.generation_requests()
