"""The slash commands, with typed options, autocomplete and localised descriptions.

Each callback only turns its options into the router's text (``/translate de Hello``) or
typed extras; parsing stays in core/commands.py. ``Handler.run`` defers first, so every
interaction is acknowledged inside Discord's 3 seconds whatever the model is doing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import discord
from discord import app_commands
from discord.app_commands import locale_str as _

from bots.discord.inbound import attachment_of
from bots.discord.limits import HISTORY_MAX_MESSAGES
from core.languages import language_names, resolve_language
from core.messages import Attachment

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices


class Handler(Protocol):
    async def run(
        self,
        interaction: discord.Interaction,
        text: str,
        *,
        attachments: tuple[Attachment, ...] = (),
        source: str | None = None,
        extra_args: dict[str, str] | None = None,
    ) -> None: ...


def language_suggestions(current: str) -> list[tuple[str, str]]:
    """(label, code) pairs for what the user has typed so far: the exact name or code in
    any accepted language first, then names and codes that start with or contain it."""
    typed = current.strip().lower()
    exact = resolve_language(typed) if typed else None
    ranked: list[tuple[int, str, str]] = []
    for code, names in language_names():
        name = names[0]
        spellings = [n.lower() for n in names]  # "alem" finds German through "alemán"
        if exact == name:
            rank = 0
        elif not typed or code.startswith(typed) or any(n.startswith(typed) for n in spellings):
            rank = 1
        elif any(typed in n for n in spellings):
            rank = 2
        else:
            continue
        ranked.append((rank, name, code))
    ranked.sort()
    return [(f"{name} ({code})", code) for _rank, name, code in ranked[:MAX_CHOICES]]


def model_suggestions(current: str, names: list[str]) -> list[str]:
    typed = current.strip().lower()
    return [n for n in names if typed in n.lower()][:MAX_CHOICES]


def build_commands(handler: Handler, *, model_names: Callable[[], list[str]]) -> list[app_commands.Command]:  # type: ignore[type-arg]
    @app_commands.command(name="essay", description=_("Write a short five-paragraph academic essay"))
    @app_commands.describe(title=_("The essay's title"))
    async def essay(interaction: discord.Interaction, title: str) -> None:
        await handler.run(interaction, f"/essay {title}")

    @app_commands.command(
        name="summarize", description=_("Summarise a text, a file or the channel's recent messages")
    )
    @app_commands.describe(
        text=_("The text to summarise"),
        file=_("A .txt, .md, .pdf or .docx file to summarise"),
        messages=_("How many recent messages of this channel to summarise"),
    )
    async def summarize(
        interaction: discord.Interaction,
        text: str | None = None,
        file: discord.Attachment | None = None,
        messages: app_commands.Range[int, 1, HISTORY_MAX_MESSAGES] | None = None,
    ) -> None:
        attachments = (attachment_of(file),) if file is not None else ()
        if messages is not None and not text and not attachments:
            await handler.run(interaction, "/summarize", source="channel", extra_args={"messages": str(messages)})
            return
        await handler.run(interaction, f"/summarize {text or ''}".rstrip(), attachments=attachments)

    @app_commands.command(name="translate", description=_("Translate a text (the source language is detected)"))
    @app_commands.describe(to=_("The target language"), text=_("The text to translate"))
    async def translate(interaction: discord.Interaction, to: str, text: str) -> None:
        await handler.run(interaction, f"/translate {to.strip()} {text}")

    @translate.autocomplete("to")
    async def translate_to(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=label, value=code) for label, code in language_suggestions(current)]

    @app_commands.command(name="chat", description=_("Talk with the bot; it remembers this conversation"))
    @app_commands.describe(message=_("Your message"))
    async def chat(interaction: discord.Interaction, message: str) -> None:
        await handler.run(interaction, f"/chat {message}")

    @app_commands.command(
        name="entities", description=_("Find the people, places, organisations and events in a text")
    )
    @app_commands.describe(text=_("The text to analyse"))
    async def entities(interaction: discord.Interaction, text: str) -> None:
        await handler.run(interaction, f"/entities {text}")

    @app_commands.command(name="code", description=_("Answer a programming request in a code block"))
    @app_commands.describe(prompt=_("What the code should do"))
    async def code(interaction: discord.Interaction, prompt: str) -> None:
        await handler.run(interaction, f"/code {prompt}")

    @app_commands.command(name="model", description=_("Choose the model for this conversation"))
    @app_commands.describe(name=_("The model's name"))
    async def model(interaction: discord.Interaction, name: str) -> None:
        await handler.run(interaction, f"/model {name.strip()}")

    @model.autocomplete("name")
    async def model_name(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in model_suggestions(current, model_names())]

    @app_commands.command(name="models", description=_("List the models and which one this conversation uses"))
    async def models(interaction: discord.Interaction) -> None:
        await handler.run(interaction, "/models")

    @app_commands.command(name="reset", description=_("Forget this conversation"))
    async def reset(interaction: discord.Interaction) -> None:
        await handler.run(interaction, "/reset")

    @app_commands.command(name="help", description=_("What the bot can do"))
    async def help_(interaction: discord.Interaction) -> None:
        await handler.run(interaction, "/help")

    return [essay, summarize, translate, chat, entities, code, model, models, reset, help_]


COMMAND_NAMES = ("essay", "summarize", "translate", "chat", "entities", "code", "model", "models", "reset", "help")
