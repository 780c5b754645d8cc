"""The slash command definitions as Discord receives them, autocomplete, localisation,
mention text and reply-chain scopes (no servers)."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord import app_commands

from bots.discord.app import _bare_command
from bots.discord.chains import ReplyChains
from bots.discord.commands import build_commands, language_suggestions, model_suggestions
from bots.discord.inbound import strip_mentions
from bots.discord.localization import CommandTranslator
from core import catalogue
from core.commands import Command
from core.messages import Attachment, InboundMessage
from core.table import COMMANDS
from tests.support.memory import MemoryKV

STRING, INTEGER, ATTACHMENT = 3, 4, 11


class NoHandler:
    async def run(self, interaction: discord.Interaction, command: Command, **_: Any) -> None:
        return None


async def payloads() -> dict[str, dict[str, Any]]:
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)
    translator = CommandTranslator()
    await tree.set_translator(translator)
    out = {}
    for command in build_commands(NoHandler(), model_names=lambda: ["tgi", "openai-test"]):
        tree.add_command(command)
        out[command.name] = await command.get_translated_payload(tree, translator)
    return out


async def test_every_command_is_defined_with_typed_options() -> None:
    found = await payloads()
    assert tuple(found) == tuple(spec.name for spec in COMMANDS if spec.menu)

    def options(name: str) -> dict[str, tuple[int, bool, bool]]:
        return {o["name"]: (o["type"], o.get("required", False), o.get("autocomplete", False))
                for o in found[name].get("options", [])}

    assert options("essay") == {"title": (STRING, True, False)}
    assert options("summarize") == {"text": (STRING, False, False), "file": (ATTACHMENT, False, False),
                                    "messages": (INTEGER, False, False)}
    messages = next(o for o in found["summarize"]["options"] if o["name"] == "messages")
    assert (messages["min_value"], messages["max_value"]) == (1, 100)
    assert options("translate") == {"language": (STRING, True, True), "text": (STRING, True, False)}
    assert options("chat") == {"text": (STRING, True, False), "file": (ATTACHMENT, False, False)}
    assert options("entities") == {"text": (STRING, True, False)}
    assert options("code") == {"text": (STRING, True, False)}
    assert options("model") == {"name": (STRING, True, True)}
    for name in ("models", "reset", "help"):
        assert options(name) == {}


async def test_descriptions_are_localised_in_spanish() -> None:
    found = await payloads()
    for name, payload in found.items():
        localized = payload["description_localizations"]
        assert localized["es-ES"] == localized["es-419"] == catalogue.text(f"command.{name}", "es"), name
        assert payload["description"] == catalogue.text(f"command.{name}")
        assert 1 <= len(payload["description"]) <= 100
        for option in payload.get("options", []):
            key = f"option.{name}.{option['name']}"
            assert option["description_localizations"]["es-ES"] == catalogue.text(key, "es")
    assert found["chat"]["description_localizations"]["es-ES"] == "Hablar conmigo; recuerdo esta conversación"


async def test_other_locales_fall_back_to_english() -> None:
    translator = CommandTranslator()
    text = app_commands.locale_str("Forget this conversation", key="command.reset")
    context = app_commands.TranslationContext(location=app_commands.TranslationContextLocation.command_description,
                                              data=None)
    assert await translator.translate(text, discord.Locale.french, context) is None


def test_spanish_texts_fit_discords_limits() -> None:
    keys = [k for k in catalogue.CATALOGUES["es"] if k.startswith(("command.", "option."))]
    assert keys and all(1 <= len(catalogue.text(k, "es")) <= 100 for k in keys)


@pytest.mark.parametrize(("typed", "first"), [("ger", "de"), ("de", "de"), ("alemán", "de"), ("fr", "fr"),
                                               ("japanese", "ja"), ("PT", "pt"),
                                               ("alem", "de"), ("franc", "fr")])
def test_language_autocomplete_puts_the_best_match_first(typed: str, first: str) -> None:
    suggestions = language_suggestions(typed)
    assert suggestions[0][1] == first


def test_language_autocomplete_offers_at_most_25_choices() -> None:
    everything = language_suggestions("")
    assert len(everything) == 25
    assert language_suggestions("zzz") == []
    assert ("Spanish (es)", "es") in language_suggestions("spa")


def test_model_autocomplete_filters_the_registry() -> None:
    assert model_suggestions("open", ["tgi", "openai-test", "offline"]) == ["openai-test"]
    assert model_suggestions("", [f"m{i}" for i in range(40)]) == [f"m{i}" for i in range(25)]


def test_mentions_are_stripped_from_the_text() -> None:
    assert strip_mentions("<@123> hello <@!123> there", 123) == "hello   there"
    assert strip_mentions("<@999> hi", 123) == "<@999> hi"


def _inbound(text: str, *, attachments: tuple[Attachment, ...] = ()) -> Any:
    return InboundMessage(platform="discord", workspace="g", channel="c", user="u", text=text,
                          attachments=attachments)


def test_a_bare_mention_gets_help_and_a_bare_file_is_summarised() -> None:
    assert _bare_command(_inbound("")) == Command(name="help")
    file = (Attachment(name="a.txt", size=3, url="https://cdn/a.txt"),)
    assert _bare_command(_inbound("", attachments=file)) == Command(name="summarize")
    assert _bare_command(_inbound("/summarize this text")) is None  # the router parses typed text


def test_reply_chains_resolve_to_their_root() -> None:
    chains = ReplyChains(memory=MemoryKV())
    assert chains.root_of("100") == "100"  # an unknown message roots a new conversation
    chains.remember("100", "100")
    chains.remember("101", "100")  # the bot's answer to it
    assert chains.root_of("101") == "100"
    assert chains.root_of("200") == "200"


def test_the_bots_managed_role_mention_is_stripped_too() -> None:
    assert strip_mentions("<@&555> summarise this", 123, 555) == "summarise this"
    assert strip_mentions("<@&777> hi", 123, 555) == "<@&777> hi"
