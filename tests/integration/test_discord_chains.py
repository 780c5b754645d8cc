"""A Discord mention in a reply chain brings the whole chain to the model: every person's
messages in it (not only the bot's exchanges), each with its author, and the text of the
.txt / .md files attached along the way."""

from __future__ import annotations

import io

import pytest

from fakes.discord_payloads import bot_mention, person
from fakes.discord_server import CHANNEL_ID
from tests.conftest import wait_until
from tests.integration import discord_support
from tests.integration.discord_support import BRUNO, DiscordStack

# The shared fixtures (bound here so pytest finds them in this module).
discord_bot = discord_support.discord_bot
discord_gateway = discord_support.discord_gateway
discord_rest = discord_support.discord_rest
discord_stack = discord_support.discord_stack

pytestmark = pytest.mark.integration

CARLA = person("1000000000000000703", "carla")


def test_a_reply_chain_of_three_people_reaches_the_model_with_its_authors_and_files(
    discord_stack: DiscordStack,
) -> None:
    stack = discord_stack
    stack.tgi.script("Lisbon or Porto, both have good venues.", "Porto then.", "Porto in May it is.")

    ana = stack.say(bot_mention("Where should the team offsite be?"), mentions_bot=True)
    first = stack.reply_to(ana, "Lisbon or Porto, both have good venues.")

    # Bruno answers the bot (a reply to it needs no mention) and attaches his notes.
    notes = stack.rest.add_attachment(channel_id=CHANNEL_ID, name="venues.md",
                                      data=b"# Venues\n- Porto: the old customs house seats 40.\n")
    bruno = stack.say("I prefer Porto, see my notes.", user=BRUNO, reply_to=first["id"], attachments=[notes])
    stack.reply_to(bruno, "Porto then.")

    # Carla replies to Bruno's message, not to the bot, and calls it in.
    stack.tgi.clear_requests()
    carla = stack.say(bot_mention("Can we do it in May?"), user=CARLA, mentions_bot=True, reply_to=bruno["id"])
    stack.reply_to(carla, "Porto in May it is.")

    prompt = wait_until(lambda: stack.tgi.prompts())[-1]
    for line in ("Ana: Where should the team offsite be?", "Lisbon or Porto, both have good venues.",
                 "Bruno: I prefer Porto, see my notes.", "[venues.md]",
                 "- Porto: the old customs house seats 40.", "Carla: Can we do it in May?"):
        assert line in prompt, f"{line!r} missing from the model's prompt:\n{prompt}"
    # The bot's answer to Bruno is not in Carla's chain (she replied to Bruno, not to it).
    assert "Porto then." not in prompt
    assert stack.rest.calls_to("GET", rf"/channels/{CHANNEL_ID}/messages/{ana['id']}$")


def test_a_chain_of_one_person_reads_as_plain_chat(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    first = stack.say(bot_mention("I collect teapots."), mentions_bot=True)
    answer = stack.reply_to(first, "Echo: I collect teapots.")
    stack.tgi.clear_requests()
    again = stack.say("What do I collect?", reply_to=answer["id"])
    stack.reply_to(again, "Echo: What do I collect?")
    prompt = stack.tgi.prompts()[-1]
    assert "I collect teapots." in prompt and "Ana:" not in prompt


def test_a_docx_in_the_chain_is_read_too(discord_stack: DiscordStack) -> None:
    import docx  # python-docx, the same package the worker reads .docx with

    document = docx.Document()
    document.add_paragraph("Budget: the customs house costs 3,000 euros a day.")
    buffer = io.BytesIO()
    document.save(buffer)
    stack = discord_stack
    stack.tgi.script("Noted.", "Thanks.", "It costs 3,000 euros a day.")
    ana = stack.say(bot_mention("Here is the venue's offer."), mentions_bot=True)
    first = stack.reply_to(ana, "Noted.")
    offer = stack.rest.add_attachment(channel_id=CHANNEL_ID, name="offer.docx", data=buffer.getvalue())
    bruno = stack.say("The offer.", user=BRUNO, reply_to=first["id"], attachments=[offer])
    stack.reply_to(bruno)  # a reply to the bot is addressed to it: his file joined that turn
    stack.tgi.clear_requests()
    asked = stack.say(bot_mention("How much a day?"), mentions_bot=True, reply_to=bruno["id"])
    stack.reply_to(asked, "It costs 3,000 euros a day.")
    prompt = wait_until(lambda: stack.tgi.prompts())[-1]
    assert "Bruno: The offer.\n\n[offer.docx]\nBudget: the customs house costs 3,000 euros a day." in prompt
