"""Telegram groups: a reply to the bot's message continues the conversation without a
mention; the same words neither replying to it nor mentioning it are chatter."""

# ruff: noqa: F811  (pytest fixtures imported from telegram_support are redefined as arguments)
from __future__ import annotations

from typing import Any

import pytest

from fakes.telegram_api import FakeTelegram
from fakes.telegram_updates import user
from tests.integration.telegram_support import bot, new_id, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def test_a_reply_to_the_bot_in_a_group_is_answered_and_keeps_the_conversation(world: FakeTelegram, tgi: Any) -> None:
    ana, ben = user(new_id(), "Ana"), user(new_id(), "Ben")
    group = world.group(-new_id())
    tgi.script("Nice to meet you, Zebulon.", "You keep bees.", "Ben, Zebulon keeps bees.")

    world.user_message(group, ana, "@tertulia_test_bot My name is Zebulon and I keep bees.")
    world.wait_for(lambda: world.bot_texts(group["id"]) == ["Nice to meet you, Zebulon."], timeout=30)
    first = world.bot_messages(group["id"])[-1]

    # Chatter without a mention or a reply is not for the bot...
    world.user_message(group, ben, "What does Zebulon keep?")
    # ...a reply to the bot's message is, with no mention.
    reply = world.user_message(group, ana, "What do I keep?", reply_to=first["message_id"])
    world.wait_for(lambda: world.bot_texts(group["id"])[-1:] == ["You keep bees."], timeout=30)
    answer = world.bot_messages(group["id"])[-1]
    assert answer["reply_to_message"]["message_id"] == reply["message"]["message_id"]
    assert "keep bees" in tgi.prompts()[-1]  # the conversation so far reached the model

    # Ben replies to the bot's latest answer: the same conversation, his turn.
    world.user_message(group, ben, "And who is Zebulon?", reply_to=answer["message_id"])
    world.wait_for(lambda: world.bot_texts(group["id"])[-1:] == ["Ben, Zebulon keeps bees."], timeout=30)
    prompt = tgi.prompts()[-1]
    assert "My name is Zebulon and I keep bees." in prompt and "You keep bees." in prompt
    assert "What does Zebulon keep?" not in prompt
    assert len(tgi.generation_requests()) == 3  # the chatter was never a job
