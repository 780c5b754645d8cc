"""The Discord adapter end to end: the real discord.py client on our gateway, a real Celery
worker, the TGI-protocol server, and answers landing on our Discord REST server."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from core.splitter import open_fence
from fakes.discord_payloads import bot_mention, option, person
from fakes.discord_server import APPLICATION_ID, BOT_USER, CHANNEL_ID
from tests.conftest import wait_until
from tests.integration import discord_support
from tests.integration.discord_support import (
    ANA,
    BRUNO,
    DiscordStack,
)

# The shared fixtures (bound here so pytest finds them in this module).
discord_bot = discord_support.discord_bot
discord_gateway = discord_support.discord_gateway
discord_rest = discord_support.discord_rest
discord_stack = discord_support.discord_stack

pytestmark = pytest.mark.integration

ORIGINAL = re.compile(r"^/webhooks/\d+/[^/]+/messages/@original$")


def test_every_command_is_deferred_in_time_and_answered_by_editing_the_original(
    discord_stack: DiscordStack,
) -> None:
    stack = discord_stack
    # A slow model server: over a second to the first token, then slow tokens (the test
    # stack's inter-token timeout is 1.5 s, so a slower first token would be a stall).
    stack.tgi.set_delays(first_token=1.2, between_tokens=0.2)
    commands = {
        "essay": [option("title", "Tea in Spain")],
        "summarize": [option("text", "Tea arrived in Spain late and stayed.")],
        "translate": [option("to", "de"), option("text", "Good morning")],
        "chat": [option("message", "Hello there")],
        "entities": [option("text", "Ana met Bruno in Madrid.")],
        "code": [option("prompt", "add two numbers")],
        "models": [],
        "model": [option("name", "tgi")],
        "reset": [],
        "help": [],
    }
    sent = {name: stack.command(name, options) for name, options in commands.items()}
    for name, payload in sent.items():
        interaction = wait_until(lambda p=payload: stack.rest.interaction(p["token"]).acked_at and
                                 stack.rest.interaction(p["token"]), timeout=3)
        assert interaction.callback_type == 5, name  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
        assert interaction.acked_at - interaction.created < 3.0, name
    # No answer can have come from the model yet: it takes 1.2 s to its first token.
    assert not stack.tgi.generation_requests() or all(
        not stack.rest.answer_of(sent[n]["token"])[0] for n in ("essay", "chat", "code"))

    assert stack.answer(sent["chat"], "Echo: Hello there") == ["Echo: Hello there"]
    for name in ("essay", "summarize", "translate", "entities", "code", "models", "model", "reset", "help"):
        wait_until(lambda n=name: stack.rest.answer_of(sent[n]["token"])[0].strip(), timeout=20)
    for name, payload in sent.items():
        edits = stack.rest.calls_to("PATCH", re.escape(payload["token"]) + "/messages/@original$")
        assert edits, f"/{name} was not answered by editing the original response"
    assert "Tea in Spain" in stack.tgi.prompts()[0] or any("Tea in Spain" in p for p in stack.tgi.prompts())
    assert stack.rest.answer_of(sent["model"]["token"])[0] == "This conversation now uses the model 'tgi'."
    # Answers went to the interactions, none to the channel.
    assert not stack.rest.calls_to("POST", f"^/channels/{CHANNEL_ID}/messages$")


def test_a_file_attachment_is_summarised(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    notes = b"Minutes. The tertulia moved to Friday at the Cafe Gijon.\nBring the new poems."
    attachment = stack.rest.add_attachment(channel_id=CHANNEL_ID, name="minutes.txt", data=notes)
    stack.tgi.script("The meeting moved to Friday; bring poems.")
    payload = stack.command("summarize", [option("file", attachment["id"], kind=11)], attachments=[attachment])
    stack.answer(payload, "The meeting moved to Friday; bring poems.")
    assert any("moved to Friday at the Cafe Gijon" in p for p in stack.tgi.prompts())
    downloads = stack.rest.calls_to("GET", "^/attachments/")
    assert len(downloads) == 1
    assert "Authorization" not in downloads[0].headers  # the bot token never goes to the CDN


def long_answer() -> str:
    parts = []
    for n in range(22):
        body = "".join(f"    total += x * {i} + {n}\n" for i in range(6))
        parts.append(f"Step {n}: this function folds the numbers once more.\n\n"
                     f"```python\ndef step_{n}(x):\n    total = 0\n{body}    return total\n```\n")
    return "\n".join(parts)


def test_a_5000_character_answer_arrives_as_ordered_messages_with_intact_code_blocks(
    discord_stack: DiscordStack, services: Any
) -> None:
    if "tgi-long" not in services.registry.names():
        pytest.fail("tests/data/models.toml needs the [models.tgi-long] entry (max_new_tokens = 4000)")
    stack = discord_stack
    stack.tgi.set_limits(max_total_tokens=16_384)
    text = long_answer()
    assert len(text) > 5000
    # The model choice belongs to the scope: this user's commands in this channel (a
    # channel of its own, so that the choice stays out of the other tests).
    channel = "1200000000000000777"
    chosen = stack.command("model", [option("name", "tgi-long")], channel_id=channel)
    stack.answer(chosen, "This conversation now uses the model 'tgi-long'.")
    stack.tgi.script(text)
    payload = stack.command("chat", [option("message", "show me the steps")], channel_id=channel)

    def whole() -> list[str] | None:
        pieces = stack.rest.answer_of(payload["token"])
        flat = re.sub(r"```python|```|\s", "", "".join(pieces))
        return pieces if flat == re.sub(r"```python|```|\s", "", text) else None

    pieces = wait_until(whole, timeout=30)
    assert len(pieces) >= 3
    assert all(0 < len(p) <= 2000 for p in pieces)
    assert all(open_fence(p) is None for p in pieces)  # every piece closes its code block
    assert pieces[0].startswith("Step 0:")
    assert [int(n) for n in re.findall(r"def step_(\d+)", "".join(pieces))] == sorted(
        {int(n) for n in re.findall(r"def step_(\d+)", text)})
    followups = stack.rest.calls_to("POST", re.escape(payload["token"]) + "$")
    assert len(followups) == len(pieces) - 1


def test_a_mention_conversation_remembers_its_own_reply_chain_only(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    ana_first = stack.say(bot_mention("My name is Ana and I collect teapots."), mentions_bot=True)
    ana_answer = stack.reply_to(ana_first, "Echo: My name is Ana and I collect teapots.")
    bruno_first = stack.say(bot_mention("I am Bruno and I race pigeons."), user=BRUNO, mentions_bot=True)
    bruno_answer = stack.reply_to(bruno_first, "Echo: I am Bruno and I race pigeons.")

    # Ana replies to the bot's answer (no explicit mention: a reply to the bot is addressed).
    stack.tgi.clear_requests()
    ana_again = stack.say("What do I collect?", reply_to=ana_answer["id"])
    stack.reply_to(ana_again, "Echo: What do I collect?")
    prompt = stack.tgi.prompts()[-1]
    assert "collect teapots" in prompt and "pigeons" not in prompt

    stack.tgi.clear_requests()
    bruno_again = stack.say(bot_mention("What do I race?"), user=BRUNO, mentions_bot=True,
                            reply_to=bruno_answer["id"])
    stack.reply_to(bruno_again, "Echo: What do I race?")
    prompt = stack.tgi.prompts()[-1]
    assert "race pigeons" in prompt and "teapots" not in prompt

    # A fresh mention in the same channel is a new conversation: neither memory.
    stack.tgi.clear_requests()
    fresh = stack.say(bot_mention("Who am I?"), mentions_bot=True)
    stack.reply_to(fresh, "Echo: Who am I?")
    prompt = stack.tgi.prompts()[-1]
    assert "teapots" not in prompt and "pigeons" not in prompt


def test_bots_and_unaddressed_messages_are_ignored(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    other_bot = {**person("1000000000000000999", "otherbot"), "bot": True}
    stack.say(bot_mention("Hello from a bot"), user=other_bot, mentions_bot=True)
    stack.say("just chatting among people")
    marker = stack.say(bot_mention("/help"), mentions_bot=True)  # answered without the model
    stack.reply_to(marker)
    assert not stack.tgi.generation_requests()
    bot_posts = [m for m in stack.rest.channel_messages(CHANNEL_ID)
                 if m["author"]["id"] == APPLICATION_ID and m.get("message_reference")]
    assert [m["message_reference"]["message_id"] for m in bot_posts][-1] == marker["id"]
    assert all(m["message_reference"]["message_id"] != "" for m in bot_posts)
    assert BOT_USER["id"] == APPLICATION_ID


def test_a_dm_is_chat_and_is_answered_in_the_dm(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    dm_channel = "1400000000000000001"
    message = stack.say("Hola, ¿qué tal?", channel_id=dm_channel, guild_id=None)
    stack.reply_to(message, "Echo: Hola, ¿qué tal?")


def test_a_429_during_streaming_delays_the_edits_and_the_final_text_is_complete(
    discord_stack: DiscordStack,
) -> None:
    stack = discord_stack
    words = " ".join(f"word{i}" for i in range(120))
    stack.tgi.script(words)
    stack.tgi.set_delays(between_tokens=0.03)  # about 3.6 s of streaming: several edits
    stack.rest.fail("PATCH", r"/messages/@original$", retry_after=1.5, skip=1)
    payload = stack.command("chat", [option("message", "count for me")])
    stack.answer(payload, words, timeout=30)

    edits = stack.rest.calls_to("PATCH", re.escape(payload["token"]) + "/messages/@original$")
    limited_at = edits[1].at  # the second edit got the 429
    assert len(edits) >= 3
    assert edits[2].at - limited_at >= 1.4, "an edit went out before retry_after had passed"
    assert stack.rest.answer_of(payload["token"]) == [words]


def test_an_expired_interaction_token_answers_in_the_channel(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    stack.rest.token_ttl = 0.0  # every webhook call now says 50027 Invalid Webhook Token
    payload = stack.command("chat", [option("message", "late but complete")])
    original_id = stack.rest.interaction(payload["token"]).original_id

    def in_channel() -> dict[str, object] | None:
        for message in stack.rest.channel_messages(CHANNEL_ID):
            if (message.get("message_reference") or {}).get("message_id") == original_id:
                return message if message["content"] == "Echo: late but complete" else None
        return None

    wait_until(in_channel, timeout=20)


def test_summarize_messages_reads_the_recent_channel_history(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    channel = "1200000000000000555"
    for author, text in ((ANA, "Shall we meet on Friday?"), (BRUNO, "Friday works, at the library."),
                         (ANA, "Great, I'll bring the poems.")):
        stack.rest.add_message(channel_id=channel, author=author, content=text)
    stack.tgi.script("They meet Friday at the library.")
    payload = stack.command("summarize", [option("messages", 3, kind=4)], channel_id=channel)
    stack.answer(payload, "They meet Friday at the library.")
    prompt = next(p for p in stack.tgi.prompts() if "library" in p)
    assert prompt.index("Shall we meet") < prompt.index("Friday works") < prompt.index("bring the poems")
    listing = stack.rest.calls_to("GET", f"^/channels/{channel}/messages$")
    assert listing[0].query["limit"] == "3"


def test_translate_autocomplete_offers_languages(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    payload = stack.command("translate", [option("to", "ger", focused=True), option("text", "hi")],
                            interaction_type=4)
    interaction = wait_until(lambda: stack.rest.interaction(payload["token"]).callback_data, timeout=5)
    assert stack.rest.interaction(payload["token"]).callback_type == 8  # AUTOCOMPLETE_RESULT
    assert interaction["choices"][0] == {"name": "German (de)", "value": "de"}
    time.sleep(0)  # nothing else to wait for


def test_a_spanish_client_gets_spanish_texts_and_a_dm_command_works(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    payload = stack.command("help", locale="es-ES")
    wait_until(lambda: "".join(stack.rest.answer_of(payload["token"])).startswith("Puedo ayudarte con:"), timeout=10)
    dm = stack.command("chat", [option("message", "hola")], guild_id=None, channel_id="1400000000000000002")
    stack.answer(dm, "Echo: hola")


def test_a_reply_to_the_bots_confirmation_stays_in_that_conversation(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    first = stack.say(bot_mention("Hello, bot."), mentions_bot=True)
    answer = stack.reply_to(first, "Echo: Hello, bot.")
    # `/model` in this chain: the bot confirms at once, without the model.
    choose = stack.say(bot_mention("/model offline"), mentions_bot=True, reply_to=answer["id"])
    confirmation = stack.reply_to(choose, "This conversation now uses the model 'offline'.")
    # Replying to the confirmation continues the chain, so its model (down) is used...
    again = stack.say("Are you there?", reply_to=confirmation["id"])
    busy = stack.reply_to(again, timeout=30)
    assert busy["content"].startswith("Sorry, the language model is busy")
    # ...while a new mention in the same channel is another conversation, on the default model.
    other = stack.say(bot_mention("Are you there?"), mentions_bot=True)
    stack.reply_to(other, "Echo: Are you there?")
